//! Rollouts against the real daemon, driven through the app as an operator
//! would (`:rollout …`, plan, confirmation, keys), run by the real drivers.
//! New versions are images built here `FROM` the workload image with one
//! `ENV` more (no registry): `VERSION=v2`, `VERSION=bad` (the replicas are
//! told to be unhealthy on that version), `ERROR_RATE=0.5`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agile_deck::rollout::{Phase, SlotState};
use agile_deck::topology::{DEFAULT_TOPOLOGY, Topology};
use common::desk::Desk;
use common::{
    TestRun, built_image, compose_replica, derived_image, docker, docker_or_skip, names_of,
    wait_for,
};

/// Fast health checks; a replica is unhealthy on version `bad`.
const FAST_HEALTH: [&str; 8] = [
    common::FAST_HEALTH[0],
    common::FAST_HEALTH[1],
    common::FAST_HEALTH[2],
    common::FAST_HEALTH[3],
    common::FAST_HEALTH[4],
    common::FAST_HEALTH[5],
    "--env",
    "UNHEALTHY_IF_VERSION=bad",
];

fn image_of(name: &str) -> String {
    docker(&["inspect", "--format", "{{.Config.Image}}", name])
        .trim()
        .to_string()
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
                let out = common::docker_cli()
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

/// Confirm the rollout planned and follow it to its end while a sampler
/// counts the healthy replicas with `label`: its id, its last view, the
/// lowest count seen and how many samples were taken (printed too).
async fn sampled(
    desk: &mut Desk,
    label: &str,
    what: &str,
) -> (u64, agile_deck::rollout::View, usize, usize) {
    let t0 = std::time::Instant::now();
    let sampler = HealthSampler::start(label.to_string());
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    let (low, samples) = sampler.finish();
    eprintln!(
        "{what}: {} in {:.1} s, lowest healthy {low} over {samples} samples",
        r.phase.word(),
        t0.elapsed().as_secs_f64()
    );
    (id, r, low, samples)
}

/// `n` healthy Compose-style replicas of service `service` (in a project
/// of the same name); the project label.
fn web_replicas(t: &TestRun, image: &str, project: &str, n: u32) -> String {
    for i in 1..=n {
        compose_replica(t, image, project, project, i, &FAST_HEALTH);
    }
    let label = format!("com.docker.compose.project={project}");
    common::wait_healthy(&label, n as usize);
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
    let (id, r, low, samples) =
        sampled(&mut desk, &label, "stop-first 6 replicas, parallelism 2").await;
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert!(samples > 20, "{samples} samples");
    assert!(
        low >= 4,
        "stop-first, parallelism 2: {low} healthy at the lowest"
    );
    let all = names_of(&label);
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
    let (_, r, low, _) = sampled(&mut desk, &label, "start-first 6 replicas, parallelism 2").await;
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert!(low >= 6, "start-first: {low} healthy at the lowest");
    let all = names_of(&label);
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
        "rollout {project} image={bad} parallelism=2 failure=rollback healthy-within=3s"
    ));
    let (id, r, low, _) =
        sampled(&mut desk, &label, "bad version, 4 replicas, parallelism 2").await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    assert!(
        low >= 2,
        "never more than parallelism (2) down: {low} healthy"
    );
    assert!(r.failures >= 1, "{r:#?}");
    // Every replica is back on the old image, healthy, with its name.
    let all = names_of(&label);
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
    // Detected within the health deadline (healthy-within, what monitor
    // meant before it took Swarm's meaning): from the new replica's creation
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
    eprintln!("bad version detected {took} ms after its replica was created (monitor 3 s)");
    assert!(took <= 3_500, "detected {took} ms after creation");
    let result = journal.last().unwrap();
    assert_eq!(result.outcome, "rolled back", "{result:?}");
}

/// After a failed rollout with `failure=rollback`: exactly the replicas
/// named before, every one on `image`, running and healthy, no `-old-`
/// leftover and no stray container.
fn restored_exactly(label: &str, names: &[String], image: &str) {
    let all = names_of(label);
    assert_eq!(all, names, "exactly the replicas there were");
    for n in &all {
        assert_eq!(image_of(n), image, "{n}");
        assert_eq!(health_of(n), "healthy", "{n}");
        assert!(!n.contains("-old-"), "{n}");
    }
}

/// The defect of issue 15, point 1: a new version whose container is
/// created but cannot start (its entrypoint is not in the image). The
/// restore must act on what holds each name now, not on the id it
/// remembered: stop-first left the service one replica short, start-first
/// left the failed container behind in state Created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_cannot_start_is_rolled_back_in_both_orders() {
    if !docker_or_skip("a_version_that_cannot_start_is_rolled_back_in_both_orders") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let broken = built_image(
        &base,
        "agile-sim:rollout-nostart",
        r#"ENTRYPOINT ["no-such-binary"]"#,
    );
    let project = format!("ns{}", t.id);
    let label = web_replicas(&t, &base, &project, 3);
    let names = names_of(&label);
    let mut desk = desk().await;
    for order in ["stop-first", "start-first"] {
        desk.relist().await;
        desk.command(&format!(
            "rollout {project} image={broken} parallelism=1 order={order} failure=rollback monitor=3s"
        ));
        let (id, r, _, _) = sampled(&mut desk, &label, &format!("cannot start, {order}")).await;
        assert_eq!(r.phase, Phase::RolledBack, "{order}: {r:#?}");
        assert_eq!(r.slots[0].state, SlotState::Restored, "{order}: {r:#?}");
        assert!(
            r.slots[0].note.contains("executable file not found"),
            "{order}: the reason Docker gave: {r:#?}"
        );
        restored_exactly(&label, &names, &base);
        let result = desk
            .journal_lines()
            .into_iter()
            .rfind(|e| e.op == id)
            .unwrap();
        assert_eq!(
            (result.kind.as_str(), result.outcome.as_str()),
            ("result", "rolled back"),
            "{order}: {result:?}"
        );
    }
}

/// Issue 21, point 6: `monitor` means what Swarm's `--update-monitor`
/// means. A new version that turns healthy and then dies 3 s later fails
/// within a 6 s monitor window (before, healthy once was enough), and the
/// plan says both the health deadline and the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_within_the_monitor_window_fails() {
    if !docker_or_skip("a_replica_that_dies_within_the_monitor_window_fails") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let dies = built_image(
        &base,
        "agile-sim:rollout-dies",
        "ENV EXIT_AFTER=3 EXIT_CODE=1",
    );
    let project = format!("mw{}", t.id);
    let label = web_replicas(&t, &base, &project, 2);
    let names = names_of(&label);
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {project} image={dies} parallelism=1 failure=rollback monitor=6s healthy-within=20s"
    ));
    let notes = desk.app.ops.pending.as_ref().unwrap().plan.notes.clone();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("healthy within 20s") && n.contains("still up 6s later")),
        "{notes:?}"
    );
    let (_, r, _, _) = sampled(&mut desk, &label, "dies after 3 s, monitor 6 s").await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    assert!(
        r.slots[0].note.contains("within the monitor window") && r.slots[0].note.contains("code 1"),
        "{r:#?}"
    );
    restored_exactly(&label, &names, &base);
}

/// How many of the replicas with `label` run `image` and are healthy.
fn healthy_on(label: &str, image: &str) -> usize {
    names_of(label)
        .iter()
        .filter(|n| image_of(n) == image && health_of(n) == "healthy")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_abort_end_in_known_states() {
    if !docker_or_skip("pause_resume_and_abort_end_in_known_states") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let v2 = derived_image(&base, "agile-sim:rollout-v2", "VERSION=v2");
    let bad = derived_image(&base, "agile-sim:rollout-bad", "VERSION=bad");
    let project = format!("pr{}", t.id);
    let label = web_replicas(&t, &base, &project, 4);
    let mut desk = desk().await;

    // Paused on request after the first replica: 1 new, 3 old, all healthy.
    desk.command(&format!(
        "rollout {project} image={v2} parallelism=1 delay=2s"
    ));
    let id = desk.start_rollout('y');
    desk.until(id, Duration::from_secs(60), |r| {
        r.slots
            .first()
            .is_some_and(|s| s.state == SlotState::Replaced)
    })
    .await;
    desk.command(&format!("pause {project}"));
    let r = desk
        .until(id, Duration::from_secs(60), |r| {
            matches!(r.phase, Phase::Paused(_))
        })
        .await;
    assert_eq!(r.phase, Phase::Paused("paused on request".into()));
    assert_eq!(healthy_on(&label, &v2), 1);
    assert_eq!(healthy_on(&label, &base), 3);
    // Resumed: it goes on to the end.
    desk.command(&format!("resume {project}"));
    let r = desk
        .until(id, Duration::from_secs(90), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert_eq!(healthy_on(&label, &v2), 4);

    // A bad version with failure=pause: paused at the first failure, the
    // failed replica left as it is for a look (its logs, its health).
    desk.relist().await;
    desk.command(&format!(
        "rollout {project} image={bad} parallelism=1 failure=pause monitor=3s"
    ));
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(60), |r| {
            matches!(r.phase, Phase::Paused(_))
        })
        .await;
    assert!(
        matches!(&r.phase, Phase::Paused(why) if why.contains("failed")),
        "{r:#?}"
    );
    assert_eq!(r.slots[0].state, SlotState::Failed);
    assert_eq!(image_of(&r.slots[0].name), bad);
    assert_eq!(healthy_on(&label, &v2), 3);
    // Resume: the failed one goes back, the next one fails too: paused again.
    desk.command(&format!("resume {project}"));
    let r = desk
        .until(id, Duration::from_secs(60), |r| {
            r.failures == 2 && matches!(r.phase, Phase::Paused(_))
        })
        .await;
    assert_eq!(r.slots[0].state, SlotState::Restored, "{r:#?}");
    assert_eq!(r.slots[1].state, SlotState::Failed, "{r:#?}");
    // Abort: the failed one goes back and the rollout ends; nothing is down.
    desk.command(&format!("abort {project}"));
    let r = desk
        .until(id, Duration::from_secs(60), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::Aborted, "{r:#?}");
    assert_eq!(healthy_on(&label, &v2), 4);
    let result = desk
        .journal_lines()
        .into_iter()
        .rfind(|e| e.op == id)
        .unwrap();
    assert_eq!(
        (result.kind.as_str(), result.outcome.as_str()),
        ("result", "aborted")
    );
}

/// The image of each running task of a Swarm service.
fn task_images(service: &str) -> Vec<String> {
    let out = docker(&[
        "service",
        "ps",
        service,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ]);
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| l.contains("Running"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_update_and_rollback_follow_update_status() {
    if !docker_or_skip("swarm_update_and_rollback_follow_update_status") {
        return;
    }
    let mut t = TestRun::new();
    let base = common::workload_image().await;
    let v2 = derived_image(&base, "agile-sim:rollout-v2", "VERSION=v2");
    t.ensure_swarm_manager();
    let name = format!("sw{}", t.id);
    docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &name,
        "--label",
        &t.label(),
        "--container-label",
        &t.label(),
        "--replicas",
        "2",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        &base,
    ]);
    wait_for("2 tasks running", Duration::from_secs(60), || {
        (task_images(&name).len() == 2).then_some(())
    });
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {name} image={v2} parallelism=1 monitor=1s"
    ));
    let steps = desk.plan_steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    // Issue 21, point 5: the plan's command is the whole equivalent.
    assert_eq!(
        desk.app.ops.pending.as_ref().unwrap().plan.steps[0].cli,
        format!(
            "docker service update --image {v2} --update-parallelism 1 --update-delay 0s --update-monitor 1s --update-failure-action pause --update-max-failure-ratio 0 --update-order stop-first {name}"
        )
    );
    let id = desk.start_rollout('y');
    // Progress comes from Swarm: the update is seen under way, then done.
    // Issue 21, point 4: every row shows where its task is going.
    let seen = std::sync::Mutex::new(Vec::new());
    let r = desk
        .until(id, Duration::from_secs(120), |r| {
            seen.lock().unwrap().extend(r.slots.clone());
            r.phase.finished()
        })
        .await;
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter().all(|s| s.to == v2 && s.from == base),
        "update rows go {base} → {v2}: {seen:#?}"
    );
    assert!(
        seen.iter().any(|s| s.state == SlotState::Waiting),
        "{seen:#?}"
    );
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    assert_eq!(r.to, v2);
    assert_eq!(r.slots.len(), 2, "{r:#?}");
    assert!(
        r.slots
            .iter()
            .all(|s| s.state == SlotState::Replaced && s.to == v2),
        "{r:#?}"
    );
    assert!(
        r.message.contains("completed"),
        "UpdateStatus's message: {r:#?}"
    );
    assert_eq!(task_images(&name), vec![v2.clone(), v2.clone()]);
    let update = docker(&[
        "service",
        "inspect",
        "--format",
        "{{.UpdateStatus.State}} {{json .Spec.UpdateConfig}}",
        &name,
    ]);
    assert!(update.starts_with("completed"), "{update}");
    assert!(
        update.contains("\"Parallelism\":1") && update.contains("\"Monitor\":1000000000"),
        "{update}"
    );

    // Swarm rolls it back to the previous spec.
    desk.relist().await;
    desk.command(&format!("rollback {name}"));
    assert_eq!(
        desk.app
            .ops
            .pending
            .as_ref()
            .map(|p| p.plan.steps[0].cli.clone()),
        Some(format!("docker service rollback {name}"))
    );
    let id = desk.start_rollout('y');
    let seen = std::sync::Mutex::new(Vec::new());
    let r = desk
        .until(id, Duration::from_secs(120), |r| {
            seen.lock().unwrap().extend(r.slots.clone());
            r.phase.finished()
        })
        .await;
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter().all(|s| s.to == base && s.from == v2),
        "rollback rows go {v2} → {base}: {seen:#?}"
    );
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    assert_eq!(task_images(&name), vec![base.clone(), base.clone()]);
    let journal = desk.journal_lines();
    assert!(journal.iter().any(|e| e.op == id
        && e.cli == format!("docker service rollback {name}")
        && e.outcome == "done"));
}

/// What the pair's alias answers from inside a client container on its
/// network: `/version` of whichever replica the name resolves to, asked
/// `times` times (Docker's DNS rotates between the addresses).
fn versions_behind(client: &str, alias: &str, times: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..times)
        .map(|_| {
            docker(&[
                "exec",
                client,
                "/agile-sim",
                "probe",
                &format!("http://{alias}:8080/version"),
            ])
            .trim()
            .to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn health_of(name: &str) -> String {
    docker(&["inspect", "--format", "{{.State.Health.Status}}", name])
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switches_the_alias_both_ways() {
    if !docker_or_skip("blue_green_switches_the_alias_both_ways") {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let pair = format!("bg{}", t.id);
    docker(&["network", "create", "--label", &t.label(), &pair]);
    let mut names = Vec::new();
    for (n, colour) in [(1, "blue"), (2, "blue"), (3, "green"), (4, "green")] {
        let label = format!("environment={colour}");
        let version = format!("VERSION={colour}");
        let mut extra = vec!["--network", &pair, "--label", &label, "--env", &version];
        if colour == "blue" {
            extra.extend(["--network-alias", &pair]);
        }
        extra.extend(FAST_HEALTH);
        names.push(compose_replica(&t, &base, &pair, &pair, n, &extra));
    }
    let client = format!("{pair}-client");
    docker(&[
        "run",
        "-d",
        "--name",
        &client,
        "--label",
        &t.label(),
        "--network",
        &pair,
        &base,
    ]);
    wait_for("all healthy", Duration::from_secs(30), || {
        names
            .iter()
            .all(|n| health_of(n) == "healthy")
            .then_some(())
    });
    assert_eq!(versions_behind(&client, &pair, 6), ["200 blue"]);
    let mut desk = desk().await;
    let p = agile_deck::ops::pair::find(&desk.app.fleet, &pair).unwrap();
    assert_eq!(p.live, [agile_deck::ops::pair::Colour::Blue]);
    assert_eq!((p.blue.len(), p.green.len()), (2, 2));
    assert_eq!(p.network.as_deref(), Some(pair.as_str()));

    // A green replica is unhealthy: the switch is refused, naming it.
    let sick = &names[3];
    docker(&[
        "exec",
        sick,
        "/agile-sim",
        "probe",
        "http://127.0.0.1:8080/knobs?unhealthy=1",
    ]);
    wait_for("green 2 unhealthy", Duration::from_secs(20), || {
        (health_of(sick) == "unhealthy").then_some(())
    });
    desk.relist().await;
    desk.command(&format!("switch {pair} green"));
    assert!(desk.app.ops.pending.is_none());
    let flash = desk.app.flash.clone().unwrap_or_default();
    assert!(
        flash.starts_with("refused: green replica") && flash.contains(sick.as_str()),
        "{flash}"
    );
    assert_eq!(versions_behind(&client, &pair, 4), ["200 blue"]);

    // Healed: green goes live, blue keeps running.
    docker(&[
        "exec",
        sick,
        "/agile-sim",
        "probe",
        "http://127.0.0.1:8080/knobs?unhealthy=0",
    ]);
    wait_for("green 2 healthy", Duration::from_secs(20), || {
        (health_of(sick) == "healthy").then_some(())
    });
    desk.relist().await;
    desk.command(&format!("switch {pair} green"));
    let steps = desk.plan_steps();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(
        steps[0].starts_with(&format!("give {pair} to")),
        "{steps:?}"
    );
    assert!(
        steps[3].starts_with(&format!("take {pair} from")),
        "{steps:?}"
    );
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:#?}");
    assert_eq!(versions_behind(&client, &pair, 6), ["200 green"]);
    let p = agile_deck::ops::pair::find(&desk.app.fleet, &pair).unwrap();
    assert_eq!(p.live, [agile_deck::ops::pair::Colour::Green]);
    assert!(
        names[..2].iter().all(|n| health_of(n) == "healthy"),
        "blue still runs"
    );

    // And back to blue.
    desk.command(&format!("switch {pair} blue"));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:#?}");
    assert_eq!(versions_behind(&client, &pair, 6), ["200 blue"]);

    // The live colour cannot be retired; the idle one can.
    desk.command(&format!("retire {pair} blue"));
    assert!(desk.app.ops.pending.is_none());
    assert!(
        desk.app
            .flash
            .clone()
            .unwrap_or_default()
            .contains("blue is live")
    );
    desk.command(&format!("retire {pair} green"));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:#?}");
    for n in &names[2..] {
        let state = docker(&["inspect", "--format", "{{.State.Status}}", n]);
        assert_eq!(state.trim(), "exited", "{n}");
    }
    assert_eq!(versions_behind(&client, &pair, 4), ["200 blue"]);
    let journal = desk.journal_lines();
    assert!(
        journal
            .iter()
            .any(|e| e.operation == "switch" && e.kind == "result" && e.outcome == "done")
    );
}

/// A topology with the workload's error ratio per replica and a canary of
/// one short stage gated on it.
const CANARY_TOPOLOGY: &str = r#"
layers = ["app"]
[[metric]]
name = "ERR"
scope = "replica"
unit = "%"
expr = '(sum(rate(agile_sim_requests_total{container="$container",code=~"5.."}[1m])) or vector(0)) / sum(rate(agile_sim_requests_total{container="$container"}[1m]))'
[[canary]]
service = "*"
[[canary.stage]]
weight = 0.3
duration = "8s"
gates = [{ metric = "ERR", below = 0.05 }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_gates_on_the_error_rate() {
    if !docker_or_skip("canary_gates_on_the_error_rate")
        || !common::tool_or_skip("canary_gates_on_the_error_rate", "prometheus")
    {
        return;
    }
    let t = TestRun::new();
    let base = common::workload_image().await;
    let v2 = derived_image(&base, "agile-sim:rollout-v2", "VERSION=v2");
    let errors = derived_image(&base, "agile-sim:rollout-errors", "ERROR_RATE=0.5");
    let project = format!("cn{}", t.id);
    for i in 1..=3 {
        let mut extra = vec!["-p", "127.0.0.1::8080", "--env", "LOAD_RPS=20"];
        extra.extend(FAST_HEALTH);
        compose_replica(&t, &base, &project, &project, i, &extra);
    }
    let mut desk = Desk::new(Topology::parse(CANARY_TOPOLOGY, "canary test").unwrap()).await;

    // No Prometheus: refused, and said why.
    desk.command(&format!("canary {project} image={v2}"));
    assert!(desk.app.ops.pending.is_none());
    let flash = desk.app.flash.clone().unwrap_or_default();
    assert!(flash.contains("gated by Prometheus"), "{flash}");

    // A real Prometheus scraping the replicas (and the new ones as they come).
    let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = agile_deck::promserver::free_port(0).unwrap();
    let config =
        agile_deck::promserver::scrape_config(&endpoint.url, &t.label(), Duration::from_secs(1));
    let server = agile_deck::promserver::Server::start(dir.path(), port, &config).unwrap();
    let client = Arc::new(
        agile_deck::prometheus::Client::new(
            &server.url(),
            agile_deck::prometheus::Auth::None,
            Duration::from_secs(3),
        )
        .unwrap(),
    );
    desk.work.prom = Some(client.clone());
    desk.app.prom = Some(agile_deck::app::Prom {
        url: server.url(),
        ..Default::default()
    });

    // A good version passes the gate and goes everywhere.
    desk.command(&format!("canary {project} image={v2}"));
    let steps = desk.plan_steps();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps[0].starts_with("stage 1: 1 of 3 on"), "{steps:?}");
    assert!(steps[0].contains("gates ERR < 0.05"), "{steps:?}");
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    let label = format!("com.docker.compose.project={project}");
    assert_eq!(healthy_on(&label, &v2), 3);
    let gate = desk
        .journal_lines()
        .into_iter()
        .find(|e| e.op == id && e.what.starts_with("stage 1 gates"))
        .unwrap();
    assert_eq!(gate.outcome, "done", "{gate:?}");
    assert!(gate.what.contains("ERR ≤ 0.0% < 5.0%"), "{gate:?}");

    // A version that answers half its requests with 500: the gate fails
    // and the canary goes back.
    desk.relist().await;
    desk.command(&format!("canary {project} image={errors}"));
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    assert!(r.message.contains("gate failed: ERR of"), "{r:#?}");
    assert_eq!(healthy_on(&label, &v2), 3);
    drop(server);
}
