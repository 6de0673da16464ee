//! The fault matrix (issue 15, point 2), against the real daemon: a
//! Compose-style rollout (stop-first and start-first) to a version that
//! fails in every way a version can fail, replicas removed by someone else
//! mid-rollout, a canary whose new version cannot start, and a scale whose
//! model replica vanished. Each test asserts the final state — replica
//! count, names, images, health, network aliases, no `-old-` leftover, no
//! stray container — and that the journal tells the same story.

mod common;

use std::time::Duration;

use agile_deck::journal::Entry;
use agile_deck::rollout::{Phase, View};
use agile_deck::topology::{DEFAULT_TOPOLOGY, Topology};
use common::desk::Desk;
use common::{TestRun, built_image, compose_replica, docker, docker_or_skip, names_of, wait_for};

/// The alias every replica answers to on the test's network.
const ALIAS: &str = "web";

/// Two healthy Compose-style replicas on a network of their own, with an
/// alias, health checked every second.
struct Service {
    project: String,
    label: String,
    network: String,
    names: Vec<String>,
    base: String,
}

async fn service(t: &TestRun, prefix: &str, extra: &[&str]) -> Service {
    let base = common::workload_image().await;
    let project = format!("{prefix}{}", t.id);
    let network = format!("{project}-net");
    docker(&["network", "create", "--label", &t.label(), &network]);
    let mut args = vec![
        "--network",
        network.as_str(),
        "--network-alias",
        ALIAS,
        "--env",
        "UNHEALTHY_IF_VERSION=bad",
    ];
    args.extend(common::FAST_HEALTH);
    args.extend_from_slice(extra);
    for i in 1..=2 {
        compose_replica(t, &base, &project, &project, i, &args);
    }
    let label = format!("com.docker.compose.project={project}");
    common::wait_healthy(&label, 2);
    Service {
        names: names_of(&label),
        project,
        label,
        network,
        base,
    }
}

fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "--format", format, name])
        .trim()
        .to_string()
}

impl Service {
    /// Exactly the replicas there were, each on the old image, running and
    /// healthy, answering to the alias; nothing renamed aside, nothing
    /// stray (created and left in any state).
    fn is_as_before(&self, what: &str) {
        let all = names_of(&self.label);
        assert_eq!(all, self.names, "{what}: exactly the replicas there were");
        for n in &all {
            assert_eq!(inspect(n, "{{.Config.Image}}"), self.base, "{what}: {n}");
            assert_eq!(
                inspect(n, "{{.State.Status}} {{.State.Health.Status}}"),
                "running healthy",
                "{what}: {n}"
            );
            let aliases = inspect(
                n,
                &format!(
                    "{{{{json (index .NetworkSettings.Networks \"{}\").Aliases}}}}",
                    self.network
                ),
            );
            assert!(
                aliases.contains(&format!("\"{ALIAS}\"")),
                "{what}: {n} lost its alias: {aliases}"
            );
        }
    }
}

async fn desk() -> Desk {
    Desk::new(Topology::parse(DEFAULT_TOPOLOGY, "default").unwrap()).await
}

/// Confirm the planned rollout and follow it to its end; its id and view.
async fn confirmed(desk: &mut Desk, what: &str) -> (u64, View) {
    let t0 = std::time::Instant::now();
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(180), |r| r.phase.finished())
        .await;
    eprintln!(
        "{what}: {} in {:.1} s",
        r.phase.word(),
        t0.elapsed().as_secs_f64()
    );
    (id, r)
}

fn journal_of(desk: &Desk, id: u64) -> Vec<Entry> {
    desk.journal_lines()
        .into_iter()
        .filter(|e| e.op == id)
        .collect()
}

/// The journal says it failed and rolled back: a failed step, and the
/// result line "rolled back".
fn journal_says_rolled_back(journal: &[Entry], what: &str) {
    assert!(
        journal
            .iter()
            .any(|e| e.kind == "step" && e.outcome == "failed"),
        "{what}: {journal:#?}"
    );
    let last = journal.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.outcome.as_str()),
        ("result", "rolled back"),
        "{what}: {last:?}"
    );
}

/// A rollout to `image` (built from the workload with `instruction`)
/// fails, rolls back, and leaves the service as it was.
async fn a_failing_version(prefix: &str, instruction: &str, replica_args: &[&str], order: &str) {
    let test = format!("{prefix} {order}");
    if !docker_or_skip(&test) {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, prefix, replica_args).await;
    let image = built_image(&s.base, &format!("agile-sim:fault-{prefix}"), instruction);
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {} image={image} parallelism=1 order={order} failure=rollback monitor=3s healthy-within=10s",
        s.project
    ));
    let (id, r) = confirmed(&mut desk, &test).await;
    assert_eq!(r.phase, Phase::RolledBack, "{test}: {r:#?}");
    assert!(r.failures >= 1, "{test}: {r:#?}");
    eprintln!("{test}: why: {}", r.slots[0].note);
    s.is_as_before(&test);
    journal_says_rolled_back(&journal_of(&desk, id), &test);
}

const EXITS: &str = "ENV EXIT_AFTER=0.3 EXIT_CODE=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_at_once_stop_first() {
    a_failing_version("fx", EXITS, &[], "stop-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_at_once_start_first() {
    a_failing_version("fy", EXITS, &[], "start-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_start_stop_first() {
    a_failing_version("fn", r#"ENTRYPOINT ["no-such-binary"]"#, &[], "stop-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_start_start_first() {
    a_failing_version("fo", r#"ENTRYPOINT ["no-such-binary"]"#, &[], "start-first").await;
}

/// Under `--restart always` a version that exits comes back again and
/// again: a restart within the window is a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_stop_first() {
    a_failing_version("fc", EXITS, &["--restart", "always"], "stop-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_start_first() {
    a_failing_version("fd", EXITS, &["--restart", "always"], "start-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_healthy_stop_first() {
    a_failing_version("fu", "ENV VERSION=bad", &[], "stop-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_healthy_start_first() {
    a_failing_version("fv", "ENV VERSION=bad", &[], "start-first").await;
}

/// It needs 96 MiB; the replicas may have 48.
const OOM: [&str; 4] = ["--memory", "48m", "--memory-swap", "48m"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed_at_start_stop_first() {
    a_failing_version("fm", "ENV MEM_MIB=96", &OOM, "stop-first").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed_at_start_start_first() {
    a_failing_version("fk", "ENV MEM_MIB=96", &OOM, "start-first").await;
}

/// An image that is not on this host: refused before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_image_does_not_exist() {
    if !docker_or_skip("the_new_image_does_not_exist") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fi", &[]).await;
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {} image=agile-sim:no-such-tag-{} failure=rollback",
        s.project, t.id
    ));
    let (id, r) = confirmed(&mut desk, "missing image").await;
    assert!(
        matches!(&r.phase, Phase::Failed(why) if why.contains("is not on this host")),
        "{r:#?}"
    );
    s.is_as_before("missing image");
    let journal = journal_of(&desk, id);
    assert!(
        journal.iter().all(|e| e.kind == "result"),
        "nothing was done: {journal:#?}"
    );
    assert_eq!(journal.last().unwrap().outcome, "failed");
}

/// Someone removes the new replica while its monitor window runs: that
/// replica failed, and the rollback puts the old one back under its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_replica_removed_mid_batch() {
    if !docker_or_skip("a_new_replica_removed_mid_batch") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fr", &[]).await;
    let v2 = built_image(&s.base, "agile-sim:fault-v2", "ENV VERSION=v2");
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {} image={v2} parallelism=1 failure=rollback monitor=20s",
        s.project
    ));
    let id = desk.start_rollout('y');
    let first = s.names[0].clone();
    // The first replica on v2 and healthy, in its monitor window: remove it.
    let remover = std::thread::spawn(move || {
        // Read without panicking: between create and start a container
        // has no health state yet, and the template fails on it.
        wait_for("the first replica on v2", Duration::from_secs(60), || {
            let out = common::docker_cli()
                .args([
                    "inspect",
                    "--format",
                    "{{.Config.Image}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                    &first,
                ])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout).trim() == format!("{v2} healthy")).then_some(())
        });
        docker(&["rm", "-f", &first]);
    });
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    remover.join().unwrap();
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    s.is_as_before("new replica removed mid-batch");
    journal_says_rolled_back(&journal_of(&desk, id), "new replica removed mid-batch");
}

/// Start-first keeps the old replica aside while the new one is judged;
/// paused on the failure, someone removes the old one; the rollback then
/// creates the old configuration again under the replica's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_replica_removed_before_the_rollback() {
    if !docker_or_skip("the_old_replica_removed_before_the_rollback") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fa", &[]).await;
    let bad = built_image(&s.base, "agile-sim:fault-bad", "ENV VERSION=bad");
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {} image={bad} parallelism=1 order=start-first failure=pause monitor=3s",
        s.project
    ));
    let id = desk.start_rollout('y');
    desk.until(id, Duration::from_secs(60), |r| {
        matches!(r.phase, Phase::Paused(_))
    })
    .await;
    let aside: Vec<String> = names_of(&s.label)
        .into_iter()
        .filter(|n| n.contains("-old-"))
        .collect();
    assert_eq!(aside.len(), 1, "the old one waits aside: {aside:?}");
    docker(&["rm", "-f", &aside[0]]);
    desk.command(&format!("rollback {}", s.project));
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    s.is_as_before("old replica removed before the rollback");
    journal_says_rolled_back(
        &journal_of(&desk, id),
        "old replica removed before the rollback",
    );
}

/// A canary whose first new replica cannot start goes back at once; no
/// gate is asked (the fake Prometheus would fail it anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_cannot_start() {
    if !docker_or_skip("a_canary_that_cannot_start") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fq", &[]).await;
    let broken = built_image(
        &s.base,
        "agile-sim:fault-nostart",
        r#"ENTRYPOINT ["no-such-binary"]"#,
    );
    let mut desk = desk().await;
    let port = common::fake_prometheus(common::FakeAnswer::NotJson);
    let url = format!("http://127.0.0.1:{port}");
    desk.app.prom = Some(agile_deck::app::Prom {
        url: url.clone(),
        ..Default::default()
    });
    desk.work.prom = Some(std::sync::Arc::new(
        agile_deck::prometheus::Client::new(
            &url,
            agile_deck::prometheus::Auth::None,
            Duration::from_secs(2),
        )
        .unwrap(),
    ));
    desk.command(&format!("canary {} image={broken}", s.project));
    let (id, r) = confirmed(&mut desk, "canary that cannot start").await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    s.is_as_before("canary that cannot start");
    journal_says_rolled_back(&journal_of(&desk, id), "canary that cannot start");
}

/// Scale up copies a replica; that replica is removed before the step
/// runs: the copy is made from another replica of the service as it is
/// now, not from the one remembered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_whose_model_vanished() {
    if !docker_or_skip("a_scale_whose_model_vanished") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fs", &[]).await;
    let mut desk = desk().await;
    desk.command(&format!("scale {} 3", s.project));
    let model = desk.plan_steps()[0].clone();
    eprintln!("plan: {model}");
    // The model is the first running replica; it goes before the step.
    docker(&["rm", "-f", &s.names[0]]);
    let op = desk.confirm('y').await;
    assert!(
        matches!(op.status, agile_deck::ops::Status::Done),
        "{:#?}",
        op.status
    );
    let all = names_of(&s.label);
    assert_eq!(all.len(), 2, "one removed, one added: {all:?}");
    assert!(
        all.contains(&format!("{}-{}-3", s.project, s.project)),
        "{all:?}"
    );
    let new = format!("{}-{}-3", s.project, s.project);
    wait_for("the copy healthy", Duration::from_secs(30), || {
        (inspect(&new, "{{.State.Health.Status}}") == "healthy").then_some(())
    });
    let aliases = inspect(
        &new,
        &format!(
            "{{{{json (index .NetworkSettings.Networks \"{}\").Aliases}}}}",
            s.network
        ),
    );
    assert!(aliases.contains(&format!("\"{ALIAS}\"")), "{aliases}");
}

/// A Swarm service updated to an image that cannot start, with
/// `failure=rollback`: Swarm rolls it back itself, and the view says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_update_that_cannot_start_is_rolled_back_by_swarm() {
    if !docker_or_skip("a_swarm_update_that_cannot_start_is_rolled_back_by_swarm") {
        return;
    }
    let mut t = TestRun::new();
    let base = common::workload_image().await;
    let broken = built_image(
        &base,
        "agile-sim:fault-swarm-nostart",
        r#"ENTRYPOINT ["no-such-binary"]"#,
    );
    t.ensure_swarm_manager();
    let name = format!("fw{}", t.id);
    docker(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        &name,
        "--label",
        &t.label(),
        "--container-label",
        &t.label(),
        "--replicas",
        "2",
        &base,
    ]);
    wait_for("2 tasks running", Duration::from_secs(60), || {
        let out = docker(&[
            "service",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Replicas}}",
        ]);
        (out.trim() == "2/2").then_some(())
    });
    let mut desk = desk().await;
    desk.command(&format!(
        "rollout {name} image={broken} parallelism=1 monitor=2s failure=rollback"
    ));
    let (id, r) = confirmed(&mut desk, "swarm update that cannot start").await;
    assert_eq!(r.phase, Phase::RolledBack, "{r:#?}");
    let images = docker(&[
        "service",
        "ps",
        &name,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ]);
    assert_eq!(
        images
            .lines()
            .filter(|l| l.starts_with(&base) && l.contains("Running"))
            .count(),
        2,
        "{images}"
    );
    let last = journal_of(&desk, id).pop().unwrap();
    assert_eq!(last.outcome, "rolled back", "{last:?}");
    drop(t);
}

/// The daemon dies mid-rollout (SIGKILL of a private dockerd): the rollout
/// ends failed with the reason — never done — and the journal is whole,
/// its last line the result; with the daemon back, the same rollout run
/// again brings the service to its plan, acting on what holds each name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_dies_mid_rollout() {
    let test = "the_daemon_dies_mid_rollout";
    if !docker_or_skip(test) {
        return;
    }
    let Some(d) = common::PrivateDaemon::start_or_skip(test, "faults-rollout") else {
        return;
    };
    let base = common::workload_image().await;
    d.load(&base);
    let v2 = built_image(&base, "agile-sim:fault-died-v2", "ENV VERSION=v2");
    d.load(&v2);
    let project = "dd";
    for i in 1..=3 {
        let name = format!("{project}-{project}-{i}");
        let labels = [
            format!("com.docker.compose.project={project}"),
            format!("com.docker.compose.service={project}"),
            format!("com.docker.compose.container-number={i}"),
        ];
        let mut args = vec!["run", "-d", "--name", &name, "--restart", "always"];
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.extend(common::FAST_HEALTH);
        args.push(&base);
        d.docker(&args);
    }
    let healthy_on = |image: &str| {
        d.docker(&["ps", "--filter", "health=healthy", "--format", "{{.Image}}"])
            .lines()
            .filter(|l| *l == image)
            .count()
    };
    wait_for("3 healthy", Duration::from_secs(30), || {
        (healthy_on(&base) == 3).then_some(())
    });
    let mut desk = Desk::on(
        Topology::parse(DEFAULT_TOPOLOGY, "default").unwrap(),
        Some(&d.host),
    )
    .await;
    desk.command(&format!(
        "rollout {project} image={v2} parallelism=1 delay=3s monitor=1s"
    ));
    let id = desk.start_rollout('y');
    desk.until(id, Duration::from_secs(60), |r| {
        r.slots
            .first()
            .is_some_and(|s| s.state == agile_deck::rollout::SlotState::Replaced)
    })
    .await;
    d.kill();
    // Stopped where it is with the reason (paused: the failure action),
    // never done.
    let r = desk
        .until(id, Duration::from_secs(60), |r| {
            r.phase.finished() || matches!(r.phase, Phase::Paused(_))
        })
        .await;
    let why = match &r.phase {
        Phase::Paused(why) | Phase::Failed(why) => why.clone(),
        other => panic!("{other:?}: {r:#?}"),
    };
    assert!(why.contains("did not answer"), "{r:#?}");
    let journal = journal_of(&desk, id);
    assert!(
        journal.iter().all(|e| e.kind == "step" && e.step.is_some()),
        "whole, and no result it did not see: {journal:#?}"
    );
    // Back: resumed, it brings every replica to v2.
    d.restart();
    wait_for("the replicas back", Duration::from_secs(60), || {
        (healthy_on(&base) + healthy_on(&v2) == 3).then_some(())
    });
    desk.command(&format!("resume {project}"));
    let r = desk
        .until(id, Duration::from_secs(120), |r| r.phase.finished())
        .await;
    assert_eq!(r.phase, Phase::Done, "{r:#?}");
    let last = journal_of(&desk, id).pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.outcome.as_str()),
        ("result", "done")
    );
    // The replica whose replacement the outage broke was put back on the
    // old image (the view says so); the same rollout again finishes the
    // plan, acting on what holds each name.
    eprintln!("after resume: {}", r.message);
    if healthy_on(&v2) < 3 {
        assert!(r.message.contains("put back on the old image"), "{r:#?}");
        desk.relist().await;
        desk.command(&format!(
            "rollout {project} image={v2} parallelism=1 monitor=1s"
        ));
        let (_, r) = confirmed(&mut desk, "the same rollout again").await;
        assert_eq!(r.phase, Phase::Done, "{r:#?}");
    }
    assert_eq!(healthy_on(&v2), 3);
    let names = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["dd-dd-1", "dd-dd-2", "dd-dd-3"]);
}

/// A journal that refuses every line (a full disk: `/dev/full`): the batch
/// under way finishes, then the rollout pauses and says why, replacing
/// nothing more — the operations' policy, nothing runs unrecorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_written_pauses_the_rollout() {
    if !docker_or_skip("a_journal_that_cannot_be_written_pauses_the_rollout") {
        return;
    }
    let t = TestRun::new();
    let s = service(&t, "fj", &[]).await;
    let next = common::derived_image(&s.base, "agile-sim:fault-journal-v2", "VERSION=v2");
    let mut desk = desk().await;
    desk.work.journal = std::sync::Arc::new(
        agile_deck::journal::Journal::open(std::path::Path::new("/dev/full")).unwrap(),
    );
    desk.command(&format!("rollout {} image={next} parallelism=1", s.project));
    let id = desk.start_rollout('y');
    let r = desk
        .until(id, Duration::from_secs(120), |r| {
            matches!(r.phase, Phase::Paused(_)) || r.phase.finished()
        })
        .await;
    match &r.phase {
        Phase::Paused(why) => assert!(why.contains("the journal cannot be written"), "{why}"),
        other => panic!("not paused: {other:?}\n{r:#?}"),
    }
    // The first batch (one replica) went through; the second did not start.
    let images: Vec<String> = s
        .names
        .iter()
        .map(|n| inspect(n, "{{.Config.Image}}"))
        .collect();
    assert_eq!(
        images.iter().filter(|i| **i == next).count(),
        1,
        "{images:?}"
    );
    assert_eq!(
        images.iter().filter(|i| **i == s.base).count(),
        1,
        "{images:?}"
    );
}
