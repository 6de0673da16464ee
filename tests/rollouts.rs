//! Rollouts against the real daemon, driven through the app as an operator
//! would (`:rollout …`, plan, confirmation, keys), run by the real drivers.
//! New versions are images built here `FROM` the workload image with one
//! `ENV` more (no registry): `VERSION=v2`, `VERSION=bad` (the replicas are
//! told to be unhealthy on that version), `ERROR_RATE=0.5`.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agile_deck::rollout::{Phase, SlotState};
use agile_deck::topology::{DEFAULT_TOPOLOGY, Topology};
use common::desk::Desk;
use common::{TestRun, compose_replica, docker, docker_or_skip, wait_for};

/// Health checks every second, one failure is enough: fast tests.
const FAST_HEALTH: [&str; 8] = [
    "--health-interval",
    "1s",
    "--health-timeout",
    "1s",
    "--health-retries",
    "1",
    "--env",
    "UNHEALTHY_IF_VERSION=bad",
];

/// `FROM <workload image>` plus `ENV <env>`, tagged `tag`.
fn derived_image(base: &str, tag: &str, env: &str) -> String {
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("FROM {base}\nENV {env}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag.to_string()
}

fn image_of(name: &str) -> String {
    docker(&["inspect", "--format", "{{.Config.Image}}", name])
        .trim()
        .to_string()
}

fn names(label: &str) -> Vec<String> {
    let mut v: Vec<String> = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

/// Counts, every 100 ms until dropped, the running and healthy
/// containers with a label; keeps the lowest.
struct HealthSampler {
    low: Arc<Mutex<(usize, usize)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthSampler {
    fn start(label: String) -> HealthSampler {
        let low = Arc::new(Mutex::new((usize::MAX, 0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (low.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let out = Command::new("docker")
                    .args([
                        "ps",
                        "-q",
                        "--filter",
                        &format!("label={label}"),
                        "--filter",
                        "health=healthy",
                    ])
                    .output()
                    .unwrap();
                let n = String::from_utf8_lossy(&out.stdout).lines().count();
                let mut g = l.lock().unwrap();
                g.0 = g.0.min(n);
                g.1 += 1;
                drop(g);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        HealthSampler {
            low,
            stop,
            thread: Some(thread),
        }
    }

    /// (lowest count seen, samples taken)
    fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        *self.low.lock().unwrap()
    }
}

/// `n` healthy Compose-style replicas of service `service` (in a project
/// of the same name); the project label.
fn web_replicas(t: &TestRun, image: &str, project: &str, n: u32) -> String {
    for i in 1..=n {
        compose_replica(t, image, project, project, i, &FAST_HEALTH);
    }
    let label = format!("com.docker.compose.project={project}");
    wait_for("replicas healthy", Duration::from_secs(30), || {
        let healthy = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label={label}"),
            "--filter",
            "health=healthy",
        ]);
        (healthy.lines().count() == n as usize).then_some(())
    });
    label
}

async fn desk() -> Desk {
    Desk::new(Topology::parse(DEFAULT_TOPOLOGY, "default").unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stop_first_then_start_first() {
    if !docker_or_skip("rolling_update_stop_first_then_start_first") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let v2 = derived_image(&base, "agile-sim:rollout-v2", "VERSION=v2");
    let project = format!("ru{}", t.id);
    let label = web_replicas(&t, &base, &project, 6);
    let mut desk = desk().await;

    // Stop-first, two at a time: never fewer than 4 of 6 healthy.
    desk.command(&format!("rollout {project} image={v2} parallelism=2"));
    let steps = desk.plan_steps();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].starts_with("batch 1: "), "{steps:?}");
    let notes = &desk.app.ops.pending.as_ref().unwrap().plan.notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("never below 4 healthy of 6")),
        "{notes:?}"
    );
    let sampler = HealthSampler::start(label.clone());
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    let (low, samples) = sampler.finish();
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert!(samples > 20, "{samples} samples");
    assert!(
        low >= 4,
        "stop-first, parallelism 2: {low} healthy at the lowest"
    );
    let all = names(&label);
    assert_eq!(all.len(), 6, "{all:?}");
    for n in &all {
        assert_eq!(image_of(n), v2, "{n}");
    }
    assert!(r.slots.iter().all(|s| s.state == SlotState::Replaced));
    // The journal: every stop, create and the result.
    let lines = desk.journal_lines();
    let ours: Vec<_> = lines.iter().filter(|e| e.op == id).collect();
    let steps = ours.iter().filter(|e| e.kind == "step").count();
    assert_eq!(
        steps, 18,
        "a stop, a create and a health wait per replica: {ours:#?}"
    );
    assert!(ours.iter().all(|e| e.operation == "rollout"));
    let result = ours.last().unwrap();
    assert_eq!(
        (result.kind.as_str(), result.outcome.as_str()),
        ("result", "done")
    );

    // Back to the base image, start-first: never fewer than 6 healthy.
    desk.relist().await;
    desk.command(&format!(
        "rollout {project} image={base} parallelism=2 order=start-first"
    ));
    let sampler = HealthSampler::start(label.clone());
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    let (low, _) = sampler.finish();
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert!(low >= 6, "start-first: {low} healthy at the lowest");
    let all = names(&label);
    assert_eq!(all.len(), 6, "the old ones are gone: {all:?}");
    for n in &all {
        assert_eq!(image_of(n), base, "{n}");
        assert!(!n.contains("-old-"), "{n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_is_rolled_back() {
    if !docker_or_skip("a_bad_version_is_rolled_back") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let bad = derived_image(&base, "agile-sim:rollout-bad", "VERSION=bad");
    let project = format!("rb{}", t.id);
    let label = web_replicas(&t, &base, &project, 4);
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {project} image={bad} parallelism=2 failure=rollback monitor=3s"
    ));
    let sampler = HealthSampler::start(label.clone());
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    let (low, _) = sampler.finish();
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    assert!(
        low >= 2,
        "never more than parallelism (2) down: {low} healthy"
    );
    assert!(r.failures >= 1, "{r:#?}");
    // Every replica is back on the old image, healthy, with its name.
    let all = names(&label);
    assert_eq!(all.len(), 4, "{all:?}");
    for n in &all {
        assert_eq!(image_of(n), base, "{n}");
    }
    // The first batch failed and was restored; the second never started.
    let states: Vec<_> = r.slots.iter().map(|s| s.state.clone()).collect();
    assert_eq!(
        states,
        [
            SlotState::Restored,
            SlotState::Restored,
            SlotState::Waiting,
            SlotState::Waiting
        ],
        "{r:#?}"
    );
    assert!(
        r.slots[..2]
            .iter()
            .all(|s| s.note.starts_with("new version failed (")),
        "{r:#?}"
    );
    // Detected within the monitor period: from the new replica's creation
    // to its failed health wait, at most 3 s (+ a poll).
    let journal: Vec<_> = desk
        .journal_lines()
        .into_iter()
        .filter(|e| e.op == id)
        .collect();
    let time =
        |e: &agile_deck::journal::Entry| chrono::DateTime::parse_from_rfc3339(&e.time).unwrap();
    let failed_wait = journal
        .iter()
        .find(|e| e.what.starts_with("wait until") && e.outcome == "failed")
        .unwrap_or_else(|| panic!("{journal:#?}"));
    let name = failed_wait
        .what
        .trim_start_matches("wait until ")
        .trim_end_matches(" is healthy");
    let created = journal
        .iter()
        .rfind(|e| e.what == format!("create {name} on {bad}") && time(e) <= time(failed_wait))
        .unwrap();
    let took = (time(failed_wait) - time(created)).num_milliseconds();
    assert!(took <= 3_500, "detected {took} ms after creation");
    let result = journal.last().unwrap();
    assert_eq!(result.outcome, "rolled back", "{result:?}");
}
