//! Against the real daemon: the inventory and its grouping (Compose-style,
//! labelled, named-by-convention, ungrouped and a Swarm service), updates
//! driven by the events stream, and stats agreement with `docker stats`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use agile_deck::app::{App, Cmd, Msg};
use agile_deck::connect;
use agile_deck::demo;
use agile_deck::fleet::{Fleet, GroupBy};
use agile_deck::keymap::Keymap;
use agile_deck::model::{Health, ServiceKind};
use agile_deck::sources::{self, StatsWatcher};
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
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
fn run(run: &TestRun, name: &str, extra: &[&str], image: &str) -> String {
    let label = run.label();
    let mut args = vec!["run", "-d", "--name", name, "--label", &label];
    args.extend_from_slice(extra);
    args.push(image);
    docker(&args).trim().to_string()
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
    tokio::spawn(sources::follow_events(d.clone(), tx));

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

    // The app, fed that listing (only this run's containers), groups them.
    let mut fleet = Fleet::new(Topology::default_topology());
    fleet.swarm_services = services;
    let mut app = App::new(
        fleet,
        Keymap::default_keymap(),
        Theme::default_theme(),
        "test".into(),
    );
    let mut listing = listing;
    listing.present.retain(|p| mine.iter().any(|r| &r.id == p));
    listing.inspected = mine.clone();
    listing.services = None;
    app.update(Msg::Listing(listing));
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
            if let Cmd::Inspect(cid) = cmd {
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

/// `docker stats --no-stream` figures: (CPU %, memory bytes) by short id.
fn docker_stats(ids: &[&str]) -> HashMap<String, (f64, f64)> {
    let mut args = vec![
        "stats",
        "--no-stream",
        "--format",
        "{{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}",
    ];
    args.extend_from_slice(ids);
    docker(&args)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
            let used = f[2].split(" / ").next().unwrap();
            (f[0].to_string(), (cpu, parse_size(used)))
        })
        .collect()
}

fn parse_size(s: &str) -> f64 {
    let units = [
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    for (u, m) in units {
        if let Some(n) = s.strip_suffix(u) {
            return n.parse::<f64>().unwrap() * m;
        }
    }
    panic!("size {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_agree_with_docker_stats() {
    if !docker_or_skip("stats_agree_with_docker_stats") {
        return;
    }
    let t = TestRun::new();
    let d = client().await;
    let img = image(&d).await;
    let busy = run(
        &t,
        &format!("t{}-busy", t.id),
        &["-e", "CPU=0.6", "-e", "MEM_MIB=48", "--memory", "256m"],
        &img,
    );
    let calm = run(
        &t,
        &format!("t{}-calm", t.id),
        &["-e", "CPU=0.15", "-e", "MEM_MIB=12"],
        &img,
    );
    // Let the burners and the memory settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (tx, mut rx) = mpsc::channel(64);
    let mut watcher = StatsWatcher::new(std::sync::Arc::new(d.clone()), tx);
    watcher.watch(&[busy.clone(), calm.clone()]);
    assert_eq!(watcher.open_streams(), 2);
    // The daemon collects stats once a second and hands the same reading to
    // every subscriber: `docker stats --no-stream` prints one of the readings
    // our streams receive. Pair each of its runs with our reading taken just
    // before it returned, and compare those: same reading, both formulas.
    let theirs = tokio::task::spawn_blocking({
        let ids = [busy.clone(), calm.clone()];
        move || {
            (0..3)
                .map(|_| {
                    let figures = docker_stats(&[&ids[0], &ids[1]]);
                    (chrono::Utc::now(), figures)
                })
                .collect::<Vec<_>>()
        }
    });
    type Reading = (chrono::DateTime<chrono::Utc>, agile_deck::stats::Sample);
    let mut ours: HashMap<String, Vec<Reading>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !theirs.is_finished() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Msg::Stats { id, sample, at })) => {
                ours.entry(id).or_default().push((at, sample))
            }
            Ok(_) => {}
            Err(_) => panic!("docker stats did not finish within 30 s"),
        }
    }
    let theirs = theirs.await.unwrap();
    let (mut worst_cpu, mut worst_mem) = (0.0f64, 0.0f64);
    for (ended, figures) in &theirs {
        for id in [&busy, &calm] {
            let (their_cpu, their_mem) = figures[&id[..12]];
            // Readings are a second apart: the one within 0.5 s before the
            // CLI returned is the one it printed.
            let (at, s) = ours[id]
                .iter()
                .filter(|(at, _)| *at <= *ended + chrono::Duration::milliseconds(50))
                .max_by_key(|(at, _)| *at)
                .expect("a reading of ours before docker stats returned");
            let age = (*ended - *at).num_milliseconds();
            let dcpu = (s.cpu_pct - their_cpu).abs();
            let dmem = (s.mem_used as f64 - their_mem).abs() / their_mem;
            eprintln!(
                "stats agreement {}: ours cpu {:.2}% mem {} B | docker stats cpu {their_cpu:.2}% mem {their_mem:.0} B | Δcpu {dcpu:.2} points, Δmem {:.2} % (reading {age} ms before the CLI returned)",
                &id[..12],
                s.cpu_pct,
                s.mem_used,
                dmem * 100.0
            );
            worst_cpu = worst_cpu.max(dcpu);
            worst_mem = worst_mem.max(dmem);
        }
    }
    eprintln!(
        "stats agreement: worst Δcpu {worst_cpu:.2} points, worst Δmem {:.2} %",
        worst_mem * 100.0
    );
    assert!(worst_cpu <= 2.0, "CPU differs by {worst_cpu:.2} points");
    assert!(
        worst_mem <= 0.05,
        "memory differs by {:.2} %",
        worst_mem * 100.0
    );
    // The busy one really is busy: the comparison is not 0 against 0.
    let busy_last = ours[&busy].last().unwrap().1;
    assert!(busy_last.cpu_pct > 40.0, "{}", busy_last.cpu_pct);
    assert_eq!(busy_last.mem_limit, 256 << 20);
    watcher.watch(&[]);
    assert_eq!(watcher.open_streams(), 0);
    drop(t);
}
