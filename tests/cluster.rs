//! Several hosts and a real multi-node Swarm (issue 17), on the tests' own
//! cluster of three private daemons (tests/harness/cluster.sh): the
//! sources of each host merged into one fleet, and the real binary in
//! tmux watching all three while a node dies and comes back.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agile_deck::app::{App, Host, Hosts, Msg};
use agile_deck::fleet::{Fleet, GroupBy};
use agile_deck::model::HostId;
use agile_deck::sources;
use agile_deck::topology::Topology;
use common::cluster::{Cluster, NODES};
use common::tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// Run `n` containers of the workload on `node`, in `layer` (and `team`).
fn run_on(c: &Cluster, node: &str, prefix: &str, n: usize, layer: &str, team: Option<&str>) {
    let image = agile_deck::demo::image_tag();
    for i in 1..=n {
        let name = format!("{prefix}-{}-{i}", c.id);
        let layer = format!("layer={layer}");
        let label = c.label();
        let mut args = vec![
            "run", "-d", "--name", &name, "--label", &label, "--label", &layer,
        ];
        let team = team.map(|t| format!("team={t}"));
        if let Some(t) = &team {
            args.extend(["--label", t.as_str()]);
        }
        args.push(&image);
        c.docker(node, &args);
    }
}

/// The real binary in tmux at 160×48 on `hosts` (`--host` flags), with a
/// state folder of its own (its journal).
fn deck(name: &str, hosts: &str) -> (tempfile::TempDir, Tmux) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_sized(
        name,
        &format!(
            "XDG_STATE_HOME={} {BIN} --no-prometheus {hosts}",
            dir.path().display()
        ),
        (160, 48),
    );
    (dir, t)
}

fn app_of(nodes: &[&str]) -> App {
    let hosts = nodes
        .iter()
        .map(|n| {
            Host::new(
                *n,
                format!("unix:///run/agile-deck-cluster/{n}/docker.sock"),
            )
        })
        .collect();
    App::new(
        Fleet::new(Topology::default_topology()),
        agile_deck::keymap::Keymap::default_keymap(),
        agile_deck::theme::Theme::default_theme(),
        Hosts::new(hosts),
    )
}

/// Each host's listing, as its own sources report it, into one app.
async fn list_all(c: &Cluster, app: &mut App) {
    let topology = app.fleet.topology.clone();
    for (i, node) in NODES.iter().enumerate() {
        let d = c.client(node).await;
        let info = agile_deck::connect::daemon_info(&d).await.unwrap();
        let manager = info.is_swarm_manager();
        let host = HostId(i as u16);
        app.update(Msg::OnHost(host, Box::new(Msg::Daemon(info))));
        let listing = sources::list(&d, &topology, &Default::default(), manager)
            .await
            .unwrap();
        app.update(Msg::OnHost(host, Box::new(Msg::Listing(listing))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_merge_into_one_fleet() {
    let Some(c) = Cluster::up_or_skip("three_hosts_merge_into_one_fleet").await else {
        return;
    };
    run_on(&c, "c1", "ctl", 2, "control", None);
    run_on(&c, "c2", "db", 3, "data", None);
    run_on(&c, "c3", "qa", 4, "execution", Some("qa"));
    run_on(&c, "c1", "qa1", 1, "execution", Some("qa"));

    let mut app = app_of(&NODES);
    list_all(&c, &mut app).await;

    // Every host's containers, with their host, as each daemon's `docker ps` counts them.
    let ours: Vec<agile_deck::model::Replica> = app
        .fleet
        .replicas
        .values()
        .filter(|r| r.name.contains(&c.id))
        .cloned()
        .collect();
    for (i, node) in NODES.iter().enumerate() {
        let mut here: Vec<String> = ours
            .iter()
            .filter(|r| r.host == HostId(i as u16))
            .map(|r| r.name.clone())
            .collect();
        here.sort();
        assert_eq!(
            here,
            c.running(node),
            "{node}: the fleet holds what `docker ps` shows"
        );
    }
    // Layers and teams aggregate across hosts: qa runs on c3 (4) and c1 (1).
    let qa = row(&app, GroupBy::Team, "qa");
    let qa_ours = qa
        .replicas
        .iter()
        .filter(|id| ours.iter().any(|r| &r.id == *id));
    assert_eq!(qa_ours.count(), 5, "team qa over two hosts");
    let hosts_of_qa: BTreeMap<HostId, usize> = ours
        .iter()
        .filter(|r| r.placement.team.as_deref() == Some("qa"))
        .fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.host).or_default() += 1;
            m
        });
    assert_eq!(
        hosts_of_qa,
        BTreeMap::from([(HostId(0), 1), (HostId(2), 4)])
    );

    // `/host=c2` keeps c2's replicas; `:host c3` shows and sums c3's only.
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "filter host=c2");
    let replicas_shown: Vec<_> = app
        .fleet
        .replicas
        .values()
        .filter(|r| app.filter.as_ref().unwrap().replica(r))
        .map(|r| r.host)
        .collect();
    assert!(!replicas_shown.is_empty());
    assert!(replicas_shown.iter().all(|h| *h == HostId(1)));
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "filter");
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "host c3");
    assert_eq!(app.fleet.focus(), Some(HostId(2)));
    let execution = row(&app, GroupBy::Layer, "execution");
    assert!(
        execution
            .replicas
            .iter()
            .all(|id| app.fleet.replicas[id].host == HostId(2)),
        "focused on c3, the rows hold c3's replicas only"
    );
    assert_eq!(row(&app, GroupBy::Layer, "control").replicas.len(), 0);
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "host nowhere");
    assert_eq!(
        app.flash.as_deref(),
        Some("no host \"nowhere\"; the hosts are c1, c2, c3 (or all)")
    );
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "host all");
    assert_eq!(app.fleet.focus(), None);
    assert_eq!(
        row(&app, GroupBy::Layer, "control")
            .replicas
            .iter()
            .filter(|id| app.fleet.replicas[*id].name.contains(&c.id))
            .count(),
        2
    );

    // A plan over two hosts is refused with the way to narrow it; focused, it runs on one.
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "restart team:qa");
    assert!(app.ops.pending.is_none());
    let said = app.flash.clone().unwrap_or_default();
    assert!(
        said.contains("runs on hosts c1, c3") && said.contains(":host NAME"),
        "{said}"
    );
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "host c3");
    app.update(Msg::Key(key(':')));
    type_line(&mut app, "restart team:qa");
    let pending = app
        .ops
        .pending
        .as_ref()
        .unwrap_or_else(|| panic!("{:?}", app.flash));
    assert_eq!(pending.host, HostId(2));
}

fn row(app: &App, by: GroupBy, name: &str) -> agile_deck::fleet::Row {
    app.fleet
        .group_rows(by)
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

fn key(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char(c),
        crossterm::event::KeyModifiers::NONE,
    )
}

fn type_line(app: &mut App, line: &str) {
    for ch in line.chars() {
        app.update(Msg::Key(key(ch)));
    }
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
}

/// The real binary on all three hosts: one fleet with a HOST column; a
/// node's dockerd SIGKILLed shows as lost within 5 s, its replicas stale,
/// the manager marks it down; started again, everything comes back with
/// no restart of agile-deck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_host_goes_stale_and_comes_back() {
    let Some(c) = Cluster::with_tmux_or_skip("a_lost_host_goes_stale_and_comes_back").await else {
        return;
    };
    run_on(&c, "c1", "ctl", 1, "control", None);
    run_on(&c, "c3", "qa", 2, "execution", Some("qa"));
    let (_dir, t) = deck("cluster-lost", &c.host_flags(&NODES));
    t.wait("three hosts up", Duration::from_secs(20), |s| {
        s.contains("hosts 3/3: c1 ● c2 ● c3 ●")
    });
    // Teams, filtered to this test's replicas: qa, its service, its replicas.
    t.keys(&[":", "teams", "Enter", "/", &c.label(), "Enter"]);
    t.wait("qa's row", Duration::from_secs(10), |s| s.contains("│qa "));
    t.keys(&["Enter", "Enter"]);
    let s = t.wait("qa's replicas on c3", Duration::from_secs(10), |s| {
        s.contains("HOST")
            && s.lines()
                .filter(|l| l.contains(&c.id) && l.contains(" c3 "))
                .count()
                == 2
    });
    assert!(s.contains("running"), "{s}");

    let killed = Instant::now();
    c.kill("c3");
    let s = t.wait("c3 lost in the header", Duration::from_secs(5), |s| {
        s.contains("hosts 2/3") && s.contains("c3 ✖") && s.contains("c3 lost since")
    });
    let lost_after = killed.elapsed();
    eprintln!(
        "c3 shown lost {} ms after its dockerd was killed",
        lost_after.as_millis()
    );
    let stale: Vec<&str> = s
        .lines()
        .filter(|l| l.contains(&c.id) && l.contains("stale "))
        .collect();
    assert_eq!(stale.len(), 2, "c3's replicas stay, marked stale:\n{s}");
    assert!(
        stale.iter().all(|l| !l.contains('%') && l.contains(" - ")),
        "no fresh-looking figures on a lost host's replicas:\n{s}"
    );
    // The manager marks the node down (Swarm takes ~15 s to decide).
    t.keys(&[":", "nodes", "Enter"]);
    t.wait("c3 down in the Nodes view", Duration::from_secs(40), |s| {
        s.lines()
            .any(|l| l.starts_with("│c3 ") && l.contains("down"))
    });

    c.start("c3");
    t.wait("c3 back", Duration::from_secs(30), |s| {
        s.contains("hosts 3/3: c1 ● c2 ● c3 ●")
    });
    t.wait("c3 ready again", Duration::from_secs(40), |s| {
        s.lines()
            .any(|l| l.starts_with("│c3 ") && l.contains("ready"))
    });
    // Its containers are listed again, as they are now (the restarted
    // daemon stopped them: no restart policy), not as they were.
    t.keys(&[":", "teams", "Enter"]);
    let s = t.wait("qa listed again", Duration::from_secs(20), |s| {
        !s.contains("stale ") && s.contains("qa ")
    });
    assert!(!s.contains("lost since"), "{s}");
}

/// A service of 6 replicas over the three nodes: 6/6, where each runs,
/// figures from every node; a scale-up beyond what the nodes hold warns in
/// its plan; a task no node can take shows Swarm's reason on its row; c2
/// drained by keys sends its tasks to the others, and undo brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_service_over_three_nodes() {
    let Some(c) = Cluster::with_tmux_or_skip("a_swarm_service_over_three_nodes").await else {
        return;
    };
    let image = agile_deck::demo::image_tag();
    let web = format!("web{}", c.id);
    let label = c.label();
    // 7 GiB reserved per task: a node (24 GiB here) holds 3.
    c.docker(
        "c1",
        &[
            "service",
            "create",
            "--detach",
            "--name",
            &web,
            "--replicas",
            "6",
            "--reserve-memory",
            "7g",
            "--endpoint-mode",
            "dnsrr",
            "--no-resolve-image",
            "--stop-grace-period",
            "1s",
            "--label",
            &label,
            "--container-label",
            &label,
            "--container-label",
            "layer=execution",
            &image,
        ],
    );
    let stuck = format!("stuck{}", c.id);
    c.docker(
        "c1",
        &[
            "service",
            "create",
            "--detach",
            "--name",
            &stuck,
            "--replicas",
            "1",
            "--constraint",
            "node.labels.nothere==yes",
            "--endpoint-mode",
            "dnsrr",
            "--no-resolve-image",
            "--label",
            &label,
            "--container-label",
            &label,
            "--container-label",
            "layer=data",
            &image,
        ],
    );
    let on = |node: &str| {
        c.running(node)
            .iter()
            .filter(|n| n.starts_with(&format!("{web}.")))
            .count()
    };
    common::wait_for("6 tasks, 2 per node", Duration::from_secs(60), || {
        (on("c1") == 2 && on("c2") == 2 && on("c3") == 2).then_some(())
    });
    // The audit of the real Swarm: the stuck service's constraint names a
    // label no node has; the manager c1 runs web's tasks (no constraint
    // keeps them off it); web is spread, so not "all on one node".
    let flags = c.host_flags(&NODES);
    let args: Vec<&str> = flags.split(' ').chain(["audit", "--json"]).collect();
    let has = |audit: &serde_json::Value, rule: &str, object: &str| {
        audit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == rule && f["object"]["name"] == object)
    };
    // The manager lists a task as running a moment after its container runs.
    let audit = common::wait_for(
        "the Swarm rules in the audit",
        Duration::from_secs(30),
        || {
            let out = std::process::Command::new(BIN)
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let audit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (has(&audit, "swarm.node-label", &stuck) && has(&audit, "swarm.manager-workload", "c1"))
                .then_some(audit)
        },
    );
    assert!(!has(&audit, "swarm.manager-workload", "c2"), "{audit:#}");
    assert!(!has(&audit, "swarm.one-node", &web), "{audit:#}");
    // No restart policy in a CLI-made spec is Swarm's default (any).
    assert!(!has(&audit, "lifecycle.swarm-restart", &web), "{audit:#}");
    let (dir, t) = deck("cluster-swarm", &flags);
    t.wait("three hosts up", Duration::from_secs(20), |s| {
        s.contains("hosts 3/3")
    });
    // Layers → execution → the service: 6/6 with figures from all three nodes.
    t.keys(&["/", &c.label(), "Enter"]);
    t.wait("the execution row", Duration::from_secs(20), |s| {
        s.contains("│execution")
    });
    t.keys(&["Enter"]);
    let s = t.wait("web's row with figures", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains(&web) && l.contains("6/6") && figures(l))
    });
    let row = s.lines().find(|l| l.contains(&web)).unwrap();
    assert!(
        !row.contains('~'),
        "figures from every node, not partial: {row}"
    );
    // The detail of the service row: each task and its node.
    let s = t.wait("the tasks per node", Duration::from_secs(10), |s| {
        let tasks = s
            .lines()
            .find(|l| l.contains("tasks ."))
            .unwrap_or_default();
        ["c1", "c2", "c3"]
            .iter()
            .all(|n| tasks.contains(&format!(" {n} running")))
    });
    let _ = s;
    t.keys(&["Enter"]);
    let s = t.wait(
        "web's 6 replicas, 2 on each node",
        Duration::from_secs(20),
        |s| {
            let on = |n: &str| {
                s.lines()
                    .filter(|l| l.contains(&web) && l.contains(&format!(" {n} ")))
                    .count()
            };
            on("c1") == 2 && on("c2") == 2 && on("c3") == 2
        },
    );
    let _ = s;

    // Beyond what the nodes hold (3 each): the plan warns before it runs.
    t.keys(&[":", &format!("scale service:{web} 10"), "Enter"]);
    let s = t.wait("the scale plan", Duration::from_secs(10), |s| {
        s.contains("cannot be placed")
    });
    assert!(s.contains("1 of 4 cannot be placed"), "{s}");
    assert!(s.contains("each reserves 0.0 CPUs / 7.0G"), "{s}");
    t.keys(&["n"]);

    // The stuck service (no container anywhere, so no filter on containers'
    // labels finds it): Swarm's reason on its row.
    t.keys(&["Escape", "Escape", "Escape"]);
    let s = t.wait("the layers, unfiltered", Duration::from_secs(10), |s| {
        !s.contains("[filter") && s.contains("│data")
    });
    let data_line = s.lines().position(|l| l.starts_with("│data")).unwrap();
    let top = s.lines().position(|l| l.starts_with("│LAYER")).unwrap();
    t.keys(&["Home"]);
    for _ in 0..(data_line - top - 1) {
        t.keys(&["Down"]);
    }
    t.keys(&["Enter"]);
    t.wait(
        "the pending reason on the service row",
        Duration::from_secs(30),
        |s| {
            s.lines().any(|l| {
                l.contains(&stuck) && l.contains("✖ pending") && l.contains("no suitable node")
            })
        },
    );

    // Drain c2 by keys: its tasks go to c1 and c3; the Nodes view shows it.
    t.keys(&[":", "nodes", "Enter"]);
    let s = t.wait("the nodes", Duration::from_secs(10), |s| s.contains("│c2 "));
    let c2 = s.lines().position(|l| l.starts_with("│c2 ")).unwrap();
    let first = s.lines().position(|l| l.starts_with("│c1 ")).unwrap();
    t.keys(&["Home"]);
    for _ in 0..(c2 - first) {
        t.keys(&["Down"]);
    }
    t.keys(&["X"]);
    let s = t.wait("the drain plan", Duration::from_secs(10), |s| {
        s.contains("docker node update --availability drain c2")
    });
    assert!(
        s.contains("moves off c2"),
        "the plan lists the tasks that move:\n{s}"
    );
    t.keys(&["y"]);
    t.wait(
        "c2 drained in the Nodes view",
        Duration::from_secs(30),
        |s| {
            s.lines()
                .any(|l| l.starts_with("│c2 ") && l.contains("drain"))
        },
    );
    common::wait_for(
        "c2's tasks moved to c1 and c3",
        Duration::from_secs(60),
        || (on("c2") == 0 && on("c1") == 3 && on("c3") == 3).then_some(()),
    );
    let availability = |node: &str| {
        c.docker(
            "c1",
            &[
                "node",
                "inspect",
                node,
                "--format",
                "{{.Spec.Availability}}",
            ],
        )
        .trim()
        .to_string()
    };
    assert_eq!(availability("c2"), "drain");
    // Undo: active again.
    t.keys(&["U"]);
    t.wait("the undo plan", Duration::from_secs(10), |s| {
        s.contains("docker node update --availability active c2")
    });
    t.keys(&["y"]);
    t.wait("c2 active again", Duration::from_secs(30), |s| {
        s.lines()
            .any(|l| l.starts_with("│c2 ") && l.contains("active"))
    });
    assert_eq!(availability("c2"), "active");
    // The journal has the drain and its undo, against the manager.
    let journal = std::fs::read_to_string(dir.path().join("agile-deck/journal.jsonl")).unwrap();
    assert!(journal.contains("\"operation\":\"node\""), "{journal}");
    assert!(
        journal.contains("docker node update --availability drain c2"),
        "{journal}"
    );
    assert!(
        journal.contains("c1 (unix:///run/agile-deck-cluster/c1/docker.sock)"),
        "{journal}"
    );
}

/// Whether a row shows a CPU figure (a number with one decimal).
fn figures(line: &str) -> bool {
    line.split_whitespace().any(|w| {
        let w = w.trim_end_matches(['!', '~']);
        w.contains('.') && w.parse::<f64>().is_ok()
    })
}

/// How long the real binary takes to show `ok` on screen, watching `hosts`.
fn time_to_screen(name: &str, hosts: &str, ok: impl Fn(&str) -> bool) -> Duration {
    let started = Instant::now();
    let (_dir, t) = deck(name, hosts);
    t.wait("the hosts that answer, listed", Duration::from_secs(20), ok);
    started.elapsed()
}

/// A host whose socket accepts and never answers: the other two are on
/// screen as soon as without it, and it shows as connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_delays_nothing() {
    let Some(c) = Cluster::with_tmux_or_skip("a_host_that_never_answers_delays_nothing").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("silent.sock");
    // Bound, never accepted: a connection waits in the backlog forever.
    let _silent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let two = c.host_flags(&["c1", "c2"]);
    let both_up = |s: &str| s.contains("c1 ●") && s.contains("c2 ●");
    let without = time_to_screen("answering", &two, both_up);
    let with = time_to_screen(
        "silent",
        &format!("{two} --host silent=unix://{}", sock.display()),
        |s| both_up(s) && s.contains("silent …"),
    );
    eprintln!(
        "c1 and c2 listed: {} ms alone, {} ms beside a host that never answers",
        without.as_millis(),
        with.as_millis()
    );
    assert!(
        with <= without + Duration::from_millis(1000),
        "the silent host delayed the others: {with:?} against {without:?}"
    );
}

/// A host whose daemon is down when agile-deck starts (its socket not
/// there at all): shown lost, the others as usual; when the daemon starts,
/// it is picked up with no restart of agile-deck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_down_at_start_comes_up_later() {
    let Some(c) = Cluster::with_tmux_or_skip("a_host_down_at_start_comes_up_later").await else {
        return;
    };
    run_on(&c, "c3", "late", 1, "data", None);
    c.kill("c3");
    // A SIGKILLed daemon leaves its socket file; a stopped one does not.
    std::fs::remove_file("/run/agile-deck-cluster/c3/docker.sock").unwrap();
    let (_dir, t) = deck("cluster-late", &c.host_flags(&NODES));
    t.wait("c3 lost, c1 and c2 up", Duration::from_secs(20), |s| {
        s.contains("hosts 2/3: c1 ● c2 ● c3 ✖")
    });
    c.start("c3");
    t.wait("c3 up, with no restart", Duration::from_secs(30), |s| {
        s.contains("hosts 3/3: c1 ● c2 ● c3 ●")
    });

    // `snapshot` of the cluster: every host's replicas with their host;
    // one that cannot be reached is said so, and the rest taken.
    run_on(&c, "c1", "snap", 1, "control", None);
    let mut cmd = std::process::Command::new(BIN);
    for h in c.host_flags(&NODES).split_whitespace() {
        cmd.arg(h);
    }
    let out = cmd
        .args([
            "--host",
            "gone=unix:///nonexistent/docker.sock",
            "snapshot",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap(), h["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("c1", "up"),
            ("c2", "up"),
            ("c3", "up"),
            ("gone", "unreachable")
        ]
    );
    let host_of = |prefix: &str| {
        json["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{prefix}-{}", c.id))
            })
            .map(|r| r["host"].as_str().unwrap().to_string())
    };
    assert_eq!(host_of("snap").as_deref(), Some("c1"));
    assert_eq!(host_of("late").as_deref(), Some("c3"));
}

/// `demo down --swarm` when dropped, so a failed test leaves no demo.
struct SwarmDemo(String);

impl SwarmDemo {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new(BIN);
        for h in self.0.split_whitespace() {
            cmd.arg(h);
        }
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for SwarmDemo {
    fn drop(&mut self) {
        let _ = self.run(&["demo", "down", "--swarm"]);
    }
}

/// The reference's production shape on the three nodes: the node labels
/// only once confirmed, control on the manager, postgres-primary and
/// redis-master where the labels say, the Layers and Nodes views showing
/// it; `demo down --swarm` removes exactly it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_shape_on_the_cluster() {
    let Some(c) = Cluster::with_tmux_or_skip("the_production_shape_on_the_cluster").await else {
        return;
    };
    let hosts = c.host_flags(&NODES);
    let demo = SwarmDemo(hosts.clone());
    // Something of the test's own, which the demo must leave alone.
    let mine = format!("mine{}", c.id);
    c.docker(
        "c1",
        &[
            "service",
            "create",
            "--detach",
            "--name",
            &mine,
            "--endpoint-mode",
            "dnsrr",
            "--no-resolve-image",
            "--label",
            &c.label(),
            &agile_deck::demo::image_tag(),
        ],
    );
    let services = |filter: &str| -> Vec<String> {
        let mut v: Vec<String> = c
            .docker(
                "c1",
                &["service", "ls", "--filter", filter, "--format", "{{.Name}}"],
            )
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let demo_filter = "label=agile-deck.demo-swarm";

    // Not confirmed (no terminal, no --yes): nothing changes.
    let out = demo.run(&["demo", "up", "--swarm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("docker node update --label-add db=primary"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(services(demo_filter).is_empty());

    let out = demo.run(&["demo", "up", "--swarm", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(services(demo_filter).len(), 9);
    common::wait_for(
        "every demo service converged",
        Duration::from_secs(120),
        || {
            let ls = c.docker(
                "c1",
                &[
                    "service",
                    "ls",
                    "--filter",
                    demo_filter,
                    "--format",
                    "{{.Replicas}}",
                ],
            );
            ls.lines()
                .all(|r| r.split_once('/').is_some_and(|(a, b)| a == b))
                .then_some(())
        },
    );
    let nodes_of = |service: &str| -> Vec<String> {
        let mut v: Vec<String> = c
            .docker(
                "c1",
                &[
                    "service",
                    "ps",
                    service,
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.Node}}",
                ],
            )
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let label_of = |node: &str, key: &str| {
        c.docker(
            "c1",
            &[
                "node",
                "inspect",
                node,
                "--format",
                &format!("{{{{index .Spec.Labels \"{key}\"}}}}"),
            ],
        )
        .trim()
        .to_string()
    };
    assert_eq!(
        nodes_of("agile_control"),
        ["c1", "c1", "c1"],
        "control on the manager"
    );
    let db = nodes_of("agile_postgres-primary");
    assert_eq!(
        label_of(&db[0], "db"),
        "primary",
        "postgres-primary on db=primary"
    );
    let cache = nodes_of("agile_redis-master");
    assert_eq!(label_of(&cache[0], "cache"), "primary");
    let spread = nodes_of("agile_development-team");
    assert!(
        spread
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 2,
        "{spread:?}"
    );

    // The Layers and Nodes views show it.
    let (_dir, t) = deck("cluster-prod", &hosts);
    t.keys(&[":", "nodes", "Enter"]);
    t.wait(
        "the labels in the Nodes view",
        Duration::from_secs(20),
        |s| {
            s.lines()
                .any(|l| l.starts_with(&format!("│{} ", db[0])) && l.contains("db=primary"))
                && s.lines().any(|l| {
                    l.starts_with(&format!("│{} ", cache[0])) && l.contains("cache=primary")
                })
        },
    );
    t.keys(&[":", "layers", "Enter", "/", "component=postgres", "Enter"]);
    t.wait("data", Duration::from_secs(10), |s| s.contains("│data"));
    t.keys(&["Enter"]);
    t.wait(
        "postgres-primary's task on its node",
        Duration::from_secs(20),
        |s| {
            s.lines()
                .any(|l| l.contains("tasks .1") && l.contains(&format!(" {} running", db[0])))
        },
    );
    drop(t);

    let out = demo.run(&["demo", "down", "--swarm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(services(demo_filter).is_empty());
    assert_eq!(
        services(&format!("label={}", c.label())),
        [mine],
        "ours untouched"
    );
    for n in NODES {
        assert_eq!(label_of(n, "db"), "");
        assert_eq!(label_of(n, "cache"), "");
    }
    common::wait_for("the demo's networks gone", Duration::from_secs(30), || {
        c.docker("c1", &["network", "ls", "--filter", demo_filter, "-q"])
            .trim()
            .is_empty()
            .then_some(())
    });
}
