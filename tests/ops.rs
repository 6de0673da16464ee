//! Operations against the real daemon, driven through the app as an
//! operator would (command line, plan, confirmation), run by the real
//! executor, checked with `docker inspect` and the journal file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agile_deck::app::{Cmd, Msg};
use agile_deck::engine::{Engine, Target};
use agile_deck::journal::Entry;
use agile_deck::ops::exec::Progress;
use agile_deck::ops::{Status, StepState};
use agile_deck::topology::{DEFAULT_TOPOLOGY, Topology};
use bollard::Docker;
use common::desk::Desk;
use common::{TestRun, docker, docker_or_skip, names_of};
use crossterm::event::KeyCode;
use serde_json::Value;
use tokio::sync::mpsc;

fn inspect(name: &str) -> Value {
    let out = docker(&["inspect", name]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

/// A topology with a profile and a quick policy for the test's services.
fn topology(id: &str) -> Topology {
    let text = format!(
        "{DEFAULT_TOPOLOGY}
[[profile]]
name = \"t{id}\"
description = \"test profile\"
[[profile.set]]
target = \"service:web\"
cpus = \"0.3\"
memory = \"96m\"

[[policy]]
match = \"busy{id}\"
min_replicas = 1
max_replicas = 4
target_cpu = 50
window = 10
cooldown = 0
"
    );
    Topology::parse(&text, "test").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_scale_resize_profile_undo_and_journal() {
    if !docker_or_skip("compose_scale_resize_profile_undo_and_journal") {
        return;
    }
    let t = TestRun::new();
    let id = t.id.clone();
    let img = common::workload_image().await;
    let net = format!("net{id}");
    docker(&["network", "create", "--label", &t.label(), &net]);
    let project = format!("p{id}");
    let team = format!("t{id}");
    for n in 1..=2 {
        common::compose_replica(
            &t,
            &img,
            &project,
            "web",
            n,
            &[
                "--label",
                "layer=execution",
                "--label",
                &format!("team={team}"),
                "--network",
                &net,
                "--network-alias",
                "web",
                "-p",
                "127.0.0.1::8080",
                "--cpus",
                "0.25",
                "--memory",
                "64m",
                "--memory-swap",
                "128m",
                "--stop-timeout",
                "3",
                "-e",
                "SECRET_TOKEN=hunter2",
            ],
        );
    }
    let mut desk = Desk::new(topology(&id)).await;
    let label = t.label();

    // 2 → 5: Compose's names and numbers, the same networks and aliases.
    desk.command("scale service:web 5");
    assert_eq!(
        desk.plan_steps(),
        (3..=5)
            .map(|n| format!("create {project}-web-{n}"))
            .collect::<Vec<_>>()
    );
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done, "{}", op.summary);
    assert_eq!(
        names_of(&label),
        (1..=5)
            .map(|n| format!("{project}-web-{n}"))
            .collect::<Vec<_>>()
    );
    for n in 3..=5 {
        let c = inspect(&format!("{project}-web-{n}"));
        assert_eq!(c["State"]["Running"], true);
        assert_eq!(
            c["Config"]["Labels"]["com.docker.compose.container-number"],
            n.to_string()
        );
        assert_eq!(c["Config"]["Labels"]["com.docker.compose.service"], "web");
        assert_eq!(c["HostConfig"]["NanoCpus"], 250_000_000);
        assert_eq!(c["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(
            c["HostConfig"]["StopTimeout"]
                .as_i64()
                .or(c["Config"]["StopTimeout"].as_i64()),
            Some(3)
        );
        let aliases = &c["NetworkSettings"]["Networks"][&net]["Aliases"];
        assert!(
            aliases.as_array().unwrap().iter().any(|a| a == "web"),
            "{aliases}"
        );
        assert_ne!(
            c["Config"]["Hostname"],
            inspect(&format!("{project}-web-1"))["Config"]["Hostname"]
        );
        let port = &c["NetworkSettings"]["Ports"]["8080/tcp"][0];
        assert_eq!(port["HostIp"], "127.0.0.1");
    }

    // 5 → 1: the highest numbers go first.
    desk.command("scale service:web 1");
    assert_eq!(
        desk.plan_steps(),
        (2..=5)
            .rev()
            .map(|n| format!("stop and remove {project}-web-{n}"))
            .collect::<Vec<_>>()
    );
    // Someone else removes one of them before it runs: that step is skipped.
    docker(&["rm", "-f", &format!("{project}-web-4")]);
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done);
    assert!(
        matches!(&op.steps[1], StepState::Skipped(w) if w.contains("removed by someone else")),
        "{:?}",
        op.steps
    );
    assert_eq!(names_of(&label), vec![format!("{project}-web-1")]);
    // Back up from 1: the next number after the highest there is.
    desk.command("scale service:web 2");
    assert_eq!(desk.plan_steps(), vec![format!("create {project}-web-2")]);
    desk.key(KeyCode::Char('n'));

    // Resize the team: the swap rule keeps memory-swap at twice memory.
    desk.command(&format!("update team:{team} cpus=0.5 memory=128m pids=100"));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done, "{}", op.summary);
    let c = inspect(&format!("{project}-web-1"));
    assert_eq!(c["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(c["HostConfig"]["Memory"], 128 << 20);
    assert_eq!(c["HostConfig"]["MemorySwap"], 256 << 20);
    assert_eq!(c["HostConfig"]["PidsLimit"], 100);
    // Undo puts the recorded values back.
    desk.command(&format!("undo team:{team}"));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done, "{}", op.summary);
    let c = inspect(&format!("{project}-web-1"));
    assert_eq!(c["HostConfig"]["NanoCpus"], 250_000_000);
    assert_eq!(c["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(c["HostConfig"]["MemorySwap"], 128 << 20);
    assert!(c["HostConfig"]["PidsLimit"].as_i64().unwrap_or(0) <= 0);

    // A profile, then undone.
    desk.command(&format!("profile t{id}"));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done, "{}", op.summary);
    let c = inspect(&format!("{project}-web-1"));
    assert_eq!(c["HostConfig"]["NanoCpus"], 300_000_000);
    assert_eq!(c["HostConfig"]["Memory"], 96 << 20);
    assert_eq!(c["HostConfig"]["MemorySwap"], 192 << 20);
    desk.command("undo");
    desk.confirm('y').await;
    assert_eq!(
        inspect(&format!("{project}-web-1"))["HostConfig"]["Memory"],
        64 << 20
    );

    // Bad values never reach Docker: each is refused with the reason.
    for (limits, why) in [
        ("memory=-1g", "give a size like 512m"),
        ("memory=abc", "give a size like 512m"),
        ("cpus=0", "cpus=unlimited"),
        ("memory=10t", "above this host's memory"),
        ("cpus=abc", "give a number of cores"),
    ] {
        desk.command(&format!("update service:web {limits}"));
        assert!(desk.app.ops.pending.is_none(), "{limits}");
        let flash = desk.app.flash.clone().unwrap_or_default();
        assert!(flash.contains(why), "{limits}: {flash}");
    }
    // Docker's own refusal is shown in plain words and journalled: a
    // reservation above the limit goes through our checks only when the
    // limit is unset, so ask Docker something it refuses instead.
    desk.command(&format!("update replica:{project}-web-1 memory=8m"));
    let op = desk.confirm('Y').await;
    match &op.status {
        Status::Done => {}
        Status::Failed(why) => assert!(why.contains("Docker refused"), "{why}"),
        other => panic!("{other:?}"),
    }

    // The journal: a line per step and per result, valid JSON, no secrets.
    let lines = desk.journal_lines();
    let text = std::fs::read_to_string(&desk.work.journal.path).unwrap();
    assert!(
        !text.contains("hunter2"),
        "a secret leaked into the journal"
    );
    let results: Vec<&Entry> = lines.iter().filter(|e| e.kind == "result").collect();
    assert_eq!(results.len(), desk.app.ops.list.len());
    for o in &desk.app.ops.list {
        let steps: Vec<&Entry> = lines
            .iter()
            .filter(|e| e.op == o.id && e.kind == "step")
            .collect();
        assert_eq!(
            steps.len(),
            o.steps
                .iter()
                .filter(|s| !matches!(s, StepState::NotRun | StepState::Pending))
                .count()
        );
        for (i, e) in steps.iter().enumerate() {
            assert_eq!(e.step, Some(i + 1));
            assert_eq!(e.user, "tester");
            assert!(!e.cli.is_empty() && !e.time.is_empty());
        }
    }
    let scale = lines
        .iter()
        .find(|e| e.operation == "scale" && e.kind == "step")
        .unwrap();
    assert_eq!(scale.params["replicas"], 5);
    assert_eq!(scale.after["number"], 3);
    let resize = lines
        .iter()
        .find(|e| e.operation == "resize" && e.kind == "step")
        .unwrap();
    assert_eq!(resize.before["memory"], 64 << 20);
    assert_eq!(resize.after["memory"], 128 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_daemon_stops_the_operation_in_a_known_state() {
    if !docker_or_skip("an_unreachable_daemon_stops_the_operation_in_a_known_state") {
        return;
    }
    let t = TestRun::new();
    let img = common::workload_image().await;
    let name = format!("u{}-web-1", t.id);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &t.label(),
        "--memory",
        "64m",
        &img,
    ]);
    let mut desk = Desk::new(Topology::default_topology()).await;
    desk.command(&format!("update replica:{name} memory=96m"));
    assert!(desk.app.ops.pending.is_some(), "{:?}", desk.app.flash);
    // The daemon goes away between the plan and the run.
    let port = agile_deck::promserver::free_port(0).unwrap();
    desk.work.hosts[0].0 = Arc::new(
        Docker::connect_with_http(
            &format!("http://127.0.0.1:{port}"),
            5,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap(),
    );
    let op = desk.confirm('y').await;
    match &op.status {
        Status::Failed(why) => assert!(why.contains("the Docker daemon did not answer"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(
        op.summary.starts_with("0 of 1 steps took effect; not done"),
        "{}",
        op.summary
    );
    assert_eq!(inspect(&name)["HostConfig"]["Memory"], 64 << 20);
    let lines = desk.journal_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].outcome, "failed");
    assert_eq!(lines[1].kind, "result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_between_steps_and_says_what_was_done() {
    if !docker_or_skip("cancel_stops_between_steps_and_says_what_was_done") {
        return;
    }
    let t = TestRun::new();
    let img = common::workload_image().await;
    let project = format!("c{}", t.id);
    common::compose_replica(&t, &img, &project, &format!("cw{}", t.id), 1, &[]);
    let mut desk = Desk::new(Topology::default_topology()).await;
    desk.command(&format!("scale service:cw{} 4", t.id));
    let cmds = desk.key(KeyCode::Char('y'));
    let Some(&Cmd::RunOp { op, .. }) = cmds.iter().find(|c| matches!(c, Cmd::RunOp { .. })) else {
        panic!("not started")
    };
    desk.forward(cmds);
    // C as soon as the first step is under way.
    loop {
        let msg = desk.rx.recv().await.unwrap();
        let first = matches!(
            &msg,
            Msg::Op {
                progress: Progress::Step {
                    index: 0,
                    state: StepState::Running
                },
                ..
            }
        );
        let done = matches!(
            &msg,
            Msg::Op {
                progress: Progress::Finished { .. },
                ..
            }
        );
        desk.app.update(msg);
        if first {
            let cmds = desk.key(KeyCode::Char('C'));
            assert_eq!(cmds, vec![Cmd::CancelOp(op)]);
            desk.forward(cmds);
        }
        if done {
            break;
        }
    }
    let o = desk.app.ops.list.iter().find(|o| o.id == op).unwrap();
    assert_eq!(o.status, Status::Cancelled);
    assert_eq!(
        o.summary,
        format!(
            "1 of 3 steps took effect; not done: create {project}-cw{0}-3, create {project}-cw{0}-4",
            t.id
        )
    );
    assert_eq!(names_of(&t.label()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_scale_3_6_2() {
    if !docker_or_skip("swarm_scale_3_6_2") {
        return;
    }
    let mut t = TestRun::new();
    t.ensure_swarm_manager();
    let img = common::workload_image().await;
    let name = format!("s{}", t.id);
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
        "3",
        // A health check of its own, which a scale must keep.
        "--health-interval",
        "2s",
        "--health-retries",
        "2",
        &img,
    ]);
    common::wait_for("3 tasks", Duration::from_secs(60), || {
        let r = docker(&[
            "service",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Replicas}}",
        ]);
        (r.trim() == "3/3").then_some(())
    });
    let running_tasks = || {
        let ids = docker(&[
            "service",
            "ps",
            &name,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}}",
        ]);
        ids.split_whitespace()
            .map(String::from)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let health_check = || {
        docker(&[
            "service",
            "inspect",
            &name,
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}",
        ])
    };
    let first = running_tasks();
    let check = health_check();
    assert!(check.contains("\"Interval\":2000000000"), "{check}");
    let mut desk = Desk::new(Topology::default_topology()).await;
    for (to, tasks) in [(6, "6/6"), (2, "2/2")] {
        desk.command(&format!("scale service:{name} {to}"));
        let steps = desk.plan_steps();
        assert!(
            steps[0].starts_with(&format!("set {name} replicas ")),
            "{steps:?}"
        );
        assert_eq!(steps[1], format!("wait until {to} tasks run"));
        let op = desk.confirm('y').await;
        assert_eq!(op.status, Status::Done, "{}", op.summary);
        let r = docker(&[
            "service",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Replicas}}",
        ]);
        assert_eq!(r.trim(), tasks);
        // Only the count changed: the health check is the service's
        // still, and scaling up replaced none of the tasks running.
        assert_eq!(health_check(), check);
        if to == 6 {
            let now = running_tasks();
            assert!(first.is_subset(&now), "{first:?} replaced: {now:?}");
        }
    }
    // Undo goes back to 6.
    desk.command(&format!("undo service:{name}"));
    assert_eq!(desk.plan_steps()[0], format!("set {name} replicas 2 → 6"));
    desk.key(KeyCode::Char('n'));
    // Resizing a Swarm service changes its task template (and says it rolls).
    desk.command(&format!("update service:{name} memory=96m cpus=0.5"));
    let plan = desk.app.ops.pending.as_ref().unwrap().plan.clone();
    assert!(
        plan.notes.iter().any(|n| n.contains("replaces its tasks")),
        "{:?}",
        plan.notes
    );
    assert!(
        plan.steps[0].cli.contains("--limit-memory 96m"),
        "{}",
        plan.steps[0].cli
    );
    let op = desk.confirm('y').await;
    assert_eq!(op.status, Status::Done, "{}", op.summary);
    let spec: Value = serde_json::from_str(&docker(&["service", "inspect", &name])).unwrap();
    let limits = &spec[0]["Spec"]["TaskTemplate"]["Resources"]["Limits"];
    assert_eq!(limits["MemoryBytes"], 96 << 20, "{limits}");
    assert_eq!(limits["NanoCPUs"], 500_000_000, "{limits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_follows_a_busy_workload() {
    if !docker_or_skip("advice_follows_a_busy_workload") {
        return;
    }
    let t = TestRun::new();
    let id = t.id.clone();
    let img = common::workload_image().await;
    let project = format!("b{id}");
    let name = common::compose_replica(
        &t,
        &img,
        &project,
        &format!("busy{id}"),
        1,
        &[
            "--label",
            "layer=execution",
            "--cpus",
            "0.5",
            "-e",
            "CPU=0.9",
        ],
    );
    let mut desk = Desk::new(topology(&id)).await;
    // Figures from the stats engine, as the dashboard gets them.
    let r = desk
        .app
        .fleet
        .replicas
        .values()
        .find(|r| r.name == name)
        .unwrap()
        .clone();
    let (tx, mut rx) = mpsc::channel(1024);
    let layout = agile_deck::engine::choose_path(
        agile_deck::engine::Mode::Auto,
        agile_deck::engine::Place::Local,
        &desk.app.daemon().cgroup_version,
    )
    .unwrap();
    let mut engine = Engine::new(
        layout.without_agent(),
        Duration::from_secs(1),
        desk.app.daemon().mem_total,
        desk.docker.clone(),
        tx,
        16,
    );
    engine.watch(&[Target {
        host: Default::default(),
        id: r.id.clone(),
        pid: r.pid,
    }]);
    // Into the execution layer's services, where the row is.
    desk.key(KeyCode::Char('j'));
    desk.key(KeyCode::Char('j'));
    desk.key(KeyCode::Char('j'));
    desk.key(KeyCode::Enter);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let advice = loop {
        while let Ok(msg) = rx.try_recv() {
            desk.app.update(msg);
        }
        desk.app.update(Msg::Tick(chrono::Utc::now()));
        let rows = desk.app.rows();
        let row = rows
            .iter()
            .find(|r| r.name == format!("busy{id}"))
            .expect("the busy row")
            .clone();
        if let Some((_, a)) = desk.app.advice(&row)
            && a.to.is_some()
        {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no advice: {:?}",
            desk.app.advice(&row)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(advice.to, Some(2), "{advice:?}");
    assert!(
        advice.why.contains("> 50 % for 10 s → 1 → 2"),
        "{}",
        advice.why
    );
    // `a` turns it into a scale plan.
    let rows = desk.app.rows();
    let i = rows
        .iter()
        .position(|r| r.name == format!("busy{id}"))
        .unwrap();
    desk.key(KeyCode::Home);
    for _ in 0..i {
        desk.key(KeyCode::Down);
    }
    desk.key(KeyCode::Char('a'));
    assert_eq!(
        desk.plan_steps(),
        vec![format!("create {project}-busy{id}-2")]
    );
    desk.key(KeyCode::Char('n'));
}
