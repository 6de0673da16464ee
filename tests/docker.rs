//! Against the real daemon: the inventory and its grouping (Compose-style,
//! labelled, named-by-convention, ungrouped and a Swarm service), updates
//! driven by the events stream, and stats agreement with `docker stats`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use agile_deck::app::{App, Cmd, Msg};
use agile_deck::connect;
use agile_deck::demo;
use agile_deck::engine::{self, Engine, Mode, StatsWatcher};
use agile_deck::fleet::{Fleet, GroupBy};
use agile_deck::keymap::Keymap;
use agile_deck::model::{Health, ServiceKind};
use agile_deck::sources;
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
use common::stats::{agreement, target};
use common::{TestRun, docker, docker_or_skip, wait_for};
use tokio::sync::mpsc;

async fn client() -> bollard::Docker {
    let endpoint = connect::endpoint_from_environment(None).unwrap();
    connect::connect(&endpoint).await.unwrap().0
}

async fn image(d: &bollard::Docker) -> String {
    demo::ensure_image(d, &mut |line| eprintln!("{line}"))
        .await
        .unwrap()
}

/// `docker run -d` with the run's label; returns the container id.
fn run(t: &TestRun, name: &str, extra: &[&str], image: &str) -> String {
    common::run_labelled(t, name, extra, image)
}

/// An app fed a listing cut down to `mine` (the run's containers: others
/// on the daemon are not the test's) and the Swarm services.
fn app_with(
    services: Vec<agile_deck::model::SwarmService>,
    mut listing: sources::Listing,
    mine: Vec<agile_deck::model::Replica>,
) -> App {
    let mut fleet = Fleet::new(Topology::default_topology());
    fleet.set_swarm_services(services);
    let mut app = App::new(
        fleet,
        Keymap::default_keymap(),
        Theme::default_theme(),
        agile_deck::app::Hosts::single("test", "unix:///test.sock"),
    );
    listing.present.retain(|p| mine.iter().any(|r| &r.id == p));
    listing.inspected = mine;
    listing.services = None;
    app.update(Msg::Listing(listing));
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_grouping_swarm_and_events() {
    if !docker_or_skip("inventory_grouping_swarm_and_events") {
        return;
    }
    let mut t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    let id = t.id.clone();

    // Subscribe first, so no event of what follows is missed.
    let (tx, mut rx) = mpsc::channel(4096);
    tokio::spawn(sources::follow_events(d.clone(), tx, true));

    let project = format!("t{id}");
    let compose = run(
        &t,
        &format!("{project}-coordinator-1"),
        &[
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.service=coordinator",
            "--label",
            "com.docker.compose.container-number=1",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "-p",
            "127.0.0.1::8080",
        ],
        &img,
    );
    let labelled = run(
        &t,
        &format!("{project}-store"),
        &[
            "--label",
            "layer=data",
            "--label",
            "team=team-qa",
            "--label",
            "component=store",
        ],
        &img,
    );
    let named = run(&t, &format!("agile-agent-qa{id}-tester-001"), &[], &img);
    let misc = run(
        &t,
        &format!("{project}-misc-1"),
        &["--no-healthcheck"],
        &img,
    );
    let sick = run(
        &t,
        &format!("{project}-control-sick"),
        &[
            "--label",
            "layer=control",
            "-e",
            "UNHEALTHY=1",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &img,
    );

    t.ensure_swarm_manager();
    let label = t.label();
    // Both services carry the run's label, as do their tasks' containers.
    let create_service = |name: &str, replicas: &str, extra: &[&str]| {
        let mut args = vec![
            "service",
            "create",
            "-d",
            "--no-resolve-image",
            "--name",
            name,
            "--replicas",
            replicas,
        ];
        args.extend_from_slice(&["--label", &label, "--container-label", &label]);
        args.extend_from_slice(extra);
        args.push(&img);
        docker(&args);
    };
    let service = format!("{project}_redis-master");
    create_service(&service, "2", &[]);
    // A service that cannot be scheduled: no task runs, no container exists.
    let stuck = format!("{project}_postgres-replica");
    create_service(
        &stuck,
        "1",
        &["--constraint", "node.labels.agile-deck-nowhere==1"],
    );
    let filter = format!("label={label}");
    wait_for("2 swarm tasks running", Duration::from_secs(60), || {
        let out = docker(&[
            "ps",
            "-q",
            "--filter",
            &filter,
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ]);
        // Containers up, and the manager agrees their tasks run.
        let tasks = docker(&[
            "service",
            "ls",
            "--filter",
            &format!("name={service}"),
            "--format",
            "{{.Replicas}}",
        ]);
        (out.lines().count() == 2 && tasks.trim() == "2/2").then_some(())
    });

    // The full listing, as the app does it at start.
    let topology = Topology::default_topology();
    let listing = sources::list(&d, &topology, &HashMap::new(), true)
        .await
        .unwrap();
    let mine: Vec<_> = listing
        .inspected
        .iter()
        .filter(|r| r.labels.get(common::TEST_LABEL) == Some(&t.id))
        .cloned()
        .collect();
    assert_eq!(
        mine.len(),
        7,
        "{:#?}",
        mine.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    let services = listing.services.clone().unwrap();
    let swarm = services
        .iter()
        .find(|s| s.name == service)
        .expect("swarm service listed");
    assert_eq!(swarm.replicas, Some(2));
    assert_eq!(swarm.running_tasks, 2);
    assert_eq!(swarm.placement.layer.as_deref(), Some("data"));
    let pending = services
        .iter()
        .find(|s| s.name == stuck)
        .expect("stuck service listed");
    assert_eq!((pending.replicas, pending.running_tasks), (Some(1), 0));
    // Issue 17, point 5: Swarm's own reason, as `docker service ps` says it.
    let why = pending.pending.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("1 not running: ") && why.contains("no suitable node"),
        "{why}"
    );
    assert_eq!(swarm.pending, None, "all its tasks run");
    assert!(swarm.image.starts_with(&img), "{}", swarm.image);

    let by_id = |cid: &str| mine.iter().find(|r| r.id == cid).unwrap();
    let c = by_id(&compose);
    assert_eq!(c.placement.layer.as_deref(), Some("coordination"));
    assert_eq!(
        c.placement.service.kind,
        ServiceKind::Compose {
            project: project.clone()
        }
    );
    assert_eq!(c.placement.service.name, "coordinator");
    assert_eq!(c.cpu_limit, Some(0.5));
    assert_eq!(c.mem_limit, Some(64 << 20));
    assert_eq!(c.ports.len(), 1);
    assert_eq!(c.ports[0].host_ip, "127.0.0.1");
    assert!(c.networks.iter().any(|n| n.network == "bridge"));
    let s = by_id(&labelled);
    assert_eq!(
        (s.placement.layer.as_deref(), s.placement.team.as_deref()),
        (Some("data"), Some("qa"))
    );
    assert_eq!(s.placement.service.name, "store");
    let n = by_id(&named);
    assert_eq!(n.placement.layer.as_deref(), Some("execution"));
    assert_eq!(
        n.placement.team.as_deref(),
        Some(format!("qa{id}").as_str())
    );
    assert_eq!(n.placement.service.name, format!("agent-qa{id}"));
    let m = by_id(&misc);
    assert_eq!(m.placement.layer, None);
    assert_eq!(m.health, Health::NoCheck);
    let tasks: Vec<_> = mine
        .iter()
        .filter(|r| r.placement.service.kind == ServiceKind::Swarm)
        .collect();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|r| r.placement.layer.as_deref() == Some("data"))
    );

    // Issue 17, point 5: the app puts Swarm's reason for the stuck task on
    // the timeline (no Docker event says it).
    let mut fresh = App::new(
        Fleet::new(Topology::default_topology()),
        Keymap::default_keymap(),
        Theme::default_theme(),
        agile_deck::app::Hosts::single("test", "unix:///test.sock"),
    );
    fresh.update(Msg::Services(services.clone()));
    assert!(
        fresh.event_lines().iter().any(|l| l.event == "pending"
            && l.service == stuck
            && l.detail.contains("no suitable node")),
        "{:#?}",
        fresh.event_lines()
    );

    // The app, fed that listing (only this run's containers), groups them.
    let mut app = app_with(services, listing, mine.clone());
    let layers = app.fleet.group_rows(GroupBy::Layer);
    let row = |name: &str| layers.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(
        (row("coordination").running, row("coordination").wanted),
        (1, 1)
    );
    // store (labelled), redis-master (2 tasks) and the stuck replica service: 0/1.
    let data = row("data");
    assert_eq!((data.services, data.running, data.wanted), (3, 3, 4));
    let data_services = app.fleet.service_rows(GroupBy::Layer, "data");
    let stuck_row = data_services
        .iter()
        .find(|r| r.name == stuck)
        .expect("stuck service row");
    assert_eq!(
        (
            stuck_row.running,
            stuck_row.wanted,
            stuck_row.replicas.len()
        ),
        (0, 1, 0)
    );
    assert_eq!(row("execution").running, 1);
    assert_eq!(row("ungrouped").running, 1);
    assert_eq!(layers.last().unwrap().name, "ungrouped");
    let teams = app.fleet.group_rows(GroupBy::Team);
    assert!(teams.iter().any(|r| r.name == "qa" && r.running == 1));
    assert!(
        teams
            .iter()
            .any(|r| r.name == format!("qa{id}") && r.running == 1)
    );

    // Then only events: the sick replica turns unhealthy, the compose one
    // stops, the misc one is removed. No re-listing.
    docker(&["stop", "-t", "1", &compose]);
    docker(&["rm", "-f", &misc]);
    let mine_ids: Vec<String> = mine.iter().map(|r| r.id.clone()).collect();
    let topo = app.fleet.topology.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let done = app
            .fleet
            .replicas
            .get(&sick)
            .is_some_and(|r| r.health == Health::Unhealthy)
            && app
                .fleet
                .replicas
                .get(&compose)
                .is_some_and(|r| r.state == "exited")
            && !app.fleet.replicas.contains_key(&misc);
        if done {
            break;
        }
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("events: sick unhealthy, compose exited and misc destroyed")
            .unwrap();
        // Only this run's containers: others on the daemon are not ours.
        if let Msg::ContainerEvent { id, .. } = &msg
            && !mine_ids.contains(id)
        {
            continue;
        }
        for cmd in app.update(msg) {
            if let Cmd::Inspect { id: cid, .. } = cmd {
                let replica = sources::inspect(&d, &topo, &cid).await.unwrap();
                app.update(Msg::Inspected {
                    id: cid,
                    replica: replica.map(Box::new),
                });
            }
        }
    }
    let layers = app.fleet.group_rows(GroupBy::Layer);
    let coord = layers.iter().find(|r| r.name == "coordination").unwrap();
    assert_eq!((coord.running, coord.wanted), (0, 1));
    let control = layers.iter().find(|r| r.name == "control").unwrap();
    assert_eq!(control.health.unhealthy, 1);
    assert!(!layers.iter().any(|r| r.name == "ungrouped"));
    // Keep the run (and its cleanup) alive until here.
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_agree_with_docker_stats_on_both_paths() {
    if !docker_or_skip("stats_agree_with_docker_stats_on_both_paths") {
        return;
    }
    let t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    let (busy, calm) = common::stats::busy_and_calm(&t, "t", &img).await;
    let info = connect::daemon_info(&d).await.unwrap();
    let targets = vec![target(&d, &busy).await, target(&d, &calm).await];
    let shared = std::sync::Arc::new(d.clone());

    // The API path: the daemon collects stats once a second and hands the
    // same reading to every subscriber, so `docker stats` prints one of the
    // readings our streams receive: same reading, both formulas.
    let (tx, mut rx) = mpsc::channel(64);
    let mut api = Engine::new(
        engine::Path::Api,
        engine::REFRESH,
        info.mem_total,
        shared.clone(),
        tx,
        16,
    );
    api.watch(&targets);
    assert_eq!(api.cost().streams, 2);
    let (ptx, mut phase_rx) = mpsc::channel(64);
    let mut phase = StatsWatcher::new(shared.clone(), ptx);
    let (ours, cpu, mem) = agreement(
        "api",
        &mut api,
        &mut rx,
        &targets,
        &mut phase,
        &mut phase_rx,
    )
    .await;
    assert!(
        cpu <= 2.0,
        "API path: CPU differs by {cpu:.2} points (median)"
    );
    assert!(
        mem <= 0.05,
        "API path: memory differs by {:.2} %",
        mem * 100.0
    );
    // The busy one really is busy: the comparison is not 0 against 0 (it
    // spins a core; 10 % leaves room for a machine loaded by other work).
    let busy_last = ours[&busy].last().unwrap().1;
    assert!(busy_last.cpu_pct > 10.0, "{}", busy_last.cpu_pct);
    assert_eq!(busy_last.mem_limit, 256 << 20);
    assert_eq!(api.cost().streams, 0, "streams close when unwatched");

    // The cgroup path reads the files the daemon reads, on its own clock:
    // a steady load gives the same figures within a point or two.
    let layout = engine::choose_path(Mode::Cgroup, engine::Place::Local, &info.cgroup_version)
        .expect("cgroup files readable on the test machine");
    let (tx, mut rx) = mpsc::channel(64);
    // Read every 100 ms, so the daemon's windows can be rebuilt from ours.
    let mut direct = Engine::new(
        layout.without_agent(),
        Duration::from_millis(100),
        info.mem_total,
        shared,
        tx,
        16,
    );
    direct.watch(&targets);
    let cost = direct.cost();
    assert_eq!((cost.direct, cost.streams), (2, 0), "{cost:?}");
    let (ours, cpu, mem) = agreement(
        &cost.path,
        &mut direct,
        &mut rx,
        &targets,
        &mut phase,
        &mut phase_rx,
    )
    .await;
    assert!(
        cpu <= 2.0,
        "cgroup path: CPU differs by {cpu:.2} points (median)"
    );
    assert!(
        mem <= 0.05,
        "cgroup path: memory differs by {:.2} %",
        mem * 100.0
    );
    let busy_last = ours[&busy].last().unwrap().1;
    assert!(busy_last.cpu_pct > 10.0, "{}", busy_last.cpu_pct);
    assert_eq!(busy_last.mem_limit, 256 << 20);
    assert!(busy_last.pids > 0);
    // The workload answers health probes over its network: counters move.
    assert!(busy_last.counters.net_rx > 0, "{busy_last:?}");

    // A container that vanishes mid-watch: the sampler drops it, the other
    // goes on.
    direct.watch(&targets);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    docker(&["rm", "-f", &calm]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    while rx.try_recv().is_ok() {}
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Msg::Stats { samples, .. } = msg {
            seen.extend(samples.into_iter().map(|(id, _)| id));
        }
    }
    assert!(seen.contains(&busy) && !seen.contains(&calm), "{seen:?}");
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_json_matches_docker_ps() {
    if !docker_or_skip("snapshot_json_matches_docker_ps") {
        return;
    }
    let t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    let running = run(
        &t,
        &format!("snap{}-1", t.id),
        &["--label", "layer=data"],
        &img,
    );
    let stopped = run(
        &t,
        &format!("snap{}-2", t.id),
        &["-e", "EXIT_AFTER=0.1"],
        &img,
    );
    wait_for("the second to stop", Duration::from_secs(20), || {
        (docker(&["inspect", "-f", "{{.State.Running}}", &stopped]).trim() == "false").then_some(())
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .args(["snapshot", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let replicas = snap["replicas"].as_array().unwrap();
    // Every container of this run that docker ps knows, with its state
    // (other tests create containers at the same time: only ours are fixed).
    let ps = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={}", t.label()),
        "--format",
        "{{.Names}} {{.State}}",
    ]);
    for line in ps.lines() {
        let (name, state) = line.split_once(' ').unwrap();
        let r = replicas
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from the snapshot"));
        assert_eq!(r["state"], state, "{name}");
    }
    assert_eq!(ps.lines().count(), 2);
    // Ours: placed, with figures when running.
    let mine = replicas
        .iter()
        .find(|r| r["id"] == running.as_str())
        .unwrap();
    assert_eq!(mine["layer"], "data");
    assert!(mine["cpu_percent"].is_number() && mine["memory_used"].as_u64().unwrap() > 0);
    let data = snap["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "data")
        .unwrap();
    assert!(data["running"].as_u64().unwrap() >= 1);
    let gone = replicas
        .iter()
        .find(|r| r["id"] == stopped.as_str())
        .unwrap();
    assert!(gone["cpu_percent"].is_null());
    // And as text, the one needing attention is listed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .arg("snapshot")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("LAYER") && text.contains("NEEDS ATTENTION"),
        "{text}"
    );
    assert!(
        text.contains(&format!("snap{}-2 (exited exit 0)", t.id)),
        "{text}"
    );
}

/// Issue 21, points 2 and 3: a Swarm service labelled only on its
/// containers (`--container-label`) is placed once, where its containers
/// are; after an update the superseded task containers (exited) are
/// history: the header's count is running replicas against wanted ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_service_placed_once_and_counted_by_wanted_replicas() {
    if !docker_or_skip("swarm_service_placed_once_and_counted_by_wanted_replicas") {
        return;
    }
    let mut t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    t.ensure_swarm_manager();
    let label = t.label();
    let service = format!("vsvc{}", t.id);
    docker(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &service,
        "--replicas",
        "3",
        "--label",
        &label,
        "--container-label",
        &label,
        "--container-label",
        "layer=execution",
        "--container-label",
        "team=qa",
        &img,
    ]);
    let tasks_running = |n: usize| {
        let out = docker(&[
            "service",
            "ps",
            &service,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
        ]);
        out.lines().filter(|l| l.starts_with("Running")).count() == n
    };
    wait_for("3 tasks running", Duration::from_secs(60), || {
        tasks_running(3).then_some(())
    });
    // A forced update replaces every task: the old containers stay, exited.
    docker(&["service", "update", "-d", "--force", &service]);
    let filter = format!("label={label}");
    wait_for(
        "3 new tasks running, 3 old ones exited",
        Duration::from_secs(90),
        || {
            let exited = docker(&[
                "ps",
                "-aq",
                "--filter",
                &filter,
                "--filter",
                "status=exited",
            ]);
            (tasks_running(3) && exited.lines().count() == 3).then_some(())
        },
    );

    let topology = Topology::default_topology();
    let listing = sources::list(&d, &topology, &HashMap::new(), true)
        .await
        .unwrap();
    let services: Vec<_> = listing
        .services
        .clone()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == service)
        .collect();
    assert_eq!(services.len(), 1);
    assert_eq!(
        (
            services[0].placement.layer.as_deref(),
            services[0].placement.team.as_deref()
        ),
        (Some("execution"), Some("qa")),
        "placed by its containers' labels"
    );
    let mine: Vec<_> = listing
        .inspected
        .iter()
        .filter(|r| r.labels.get(common::TEST_LABEL) == Some(&t.id))
        .cloned()
        .collect();
    assert_eq!(mine.len(), 6, "3 running and 3 superseded");
    let app = app_with(services, listing, mine);
    assert_eq!(app.fleet.totals(), (3, 3), "running against wanted");
    let layers = app.fleet.group_rows(GroupBy::Layer);
    assert!(
        !layers.iter().any(|r| r.name == "ungrouped"),
        "listed once: {layers:#?}"
    );
    let rows = app.fleet.service_rows(GroupBy::Layer, "execution");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!((rows[0].running, rows[0].wanted), (3, 3));
    assert_eq!(
        rows[0].replicas.len(),
        6,
        "its history is in its replica list"
    );
    let teams = app.fleet.service_rows(GroupBy::Team, "qa");
    assert_eq!(teams.len(), 1, "{teams:#?}");
    drop(t);
}

/// Issue 17, point 3 (the Nodes view's data): the manager's node is listed
/// with its role, state, capacity, and what the tasks Swarm wants there
/// reserve; `docker info` names the same node, so its live load can be
/// summed from this daemon's containers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_nodes_with_their_tasks_and_reservations() {
    if !docker_or_skip("swarm_nodes_with_their_tasks_and_reservations") {
        return;
    }
    let mut t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    t.ensure_swarm_manager();
    let service = format!("nsvc{}", t.id);
    docker(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &service,
        "--replicas",
        "2",
        "--reserve-cpu",
        "0.25",
        "--reserve-memory",
        "32m",
        "--label",
        &t.label(),
        "--container-label",
        &t.label(),
        &img,
    ]);
    let info = agile_deck::connect::daemon_info(&d).await.unwrap();
    assert!(info.is_swarm_manager(), "{info:?}");
    assert!(!info.node_id.is_empty());
    // Other tests may run services at the same time: count at least ours.
    let node = wait_for(
        "2 tasks running on the node",
        Duration::from_secs(60),
        || {
            let rt = tokio::runtime::Handle::current();
            let nodes =
                tokio::task::block_in_place(|| rt.block_on(sources::list_nodes(&d))).unwrap();
            let n = nodes.into_iter().find(|n| n.id == info.node_id)?;
            (n.tasks_running >= 2).then_some(n)
        },
    );
    let cli = docker(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{.Description.Hostname}} {{.Spec.Role}} {{.Status.State}} {{.Spec.Availability}} {{.Description.Resources.NanoCPUs}} {{.Description.Resources.MemoryBytes}}",
    ]);
    let expected = format!(
        "{} {} {} {} {} {}",
        node.hostname,
        node.role,
        node.state,
        node.availability,
        (node.cpus * 1e9).round() as i64,
        node.memory
    );
    assert_eq!(cli.trim(), expected, "as `docker node inspect` says");
    assert!(node.leader, "the only manager leads: {node:?}");
    assert!(node.tasks_wanted >= node.tasks_running);
    assert!(
        node.reserved_cpus >= 0.5 - 1e-9 && node.reserved_memory >= 64 << 20,
        "2 × 0.25 CPU and 2 × 32 MiB reserved at least: {node:?}"
    );
    // The listing a manager gets carries the nodes too, and each service
    // its tasks by slot and node.
    let listing = sources::list(&d, &Topology::default_topology(), &HashMap::new(), true)
        .await
        .unwrap();
    let mine = listing
        .services
        .as_ref()
        .unwrap()
        .iter()
        .find(|s| s.name == service)
        .unwrap();
    let tasks: Vec<_> = mine
        .tasks
        .iter()
        .map(|t| (t.slot, t.node_id.as_str(), t.state.as_str()))
        .collect();
    assert_eq!(
        tasks,
        [
            (Some(1), info.node_id.as_str(), "running"),
            (Some(2), info.node_id.as_str(), "running")
        ]
    );
    assert!(listing.nodes.unwrap().iter().any(|n| n.id == info.node_id));
    drop(t);
}

/// A burst of inspects of one container (an event storm asks for one per
/// event) is coalesced, answered in order, and the last answer is the
/// state after the last request: an older answer never comes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspects_of_one_container_coalesce_and_answer_in_order() {
    if !docker_or_skip("inspects_of_one_container_coalesce_and_answer_in_order") {
        return;
    }
    let t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    let name = format!("q{}-1", t.id);
    let id = run(&t, &name, &[], &img);
    let topology = std::sync::Arc::new(Topology::default_topology());
    let inspector = sources::Inspector::new(std::sync::Arc::new(d.clone()));
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    for _ in 0..10 {
        inspector.request(topology.clone(), id.clone(), tx.clone());
    }
    docker(&["kill", &name]);
    inspector.request(topology.clone(), id.clone(), tx.clone());
    // Answers until none is in flight: an answer is sent before its
    // container is let go, so "none in flight" is only asked once no
    // answer came for a while.
    let mut answers = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Some(Msg::Inspected { replica, .. })) => answers.push(replica.unwrap().state),
            Ok(other) => panic!("{other:?}"),
            Err(_) if inspector.in_flight() == 0 && rx.is_empty() => break,
            Err(_) => assert!(
                std::time::Instant::now() < deadline,
                "still in flight after 20 s: {answers:?}"
            ),
        }
    }
    // The ten requests of the burst: one inspect, then one more; the one
    // after the kill: one more again, unless the burst's second took it.
    assert!((2..=3).contains(&answers.len()), "{answers:?}");
    assert_ne!(
        answers.last(),
        Some(&agile_deck::model::State::Running),
        "{answers:?}"
    );
}
