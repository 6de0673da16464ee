//! agile-deck's agent over a real sshd (tests/common/sshd.rs): figures
//! through it agree with `docker stats`; a dropped connection comes back
//! and leaves no agent behind; another protocol is refused naming both;
//! without it the dashboard takes Docker's streams and says why, and
//! `agent install` brings it; and inside the cluster harness's namespaces.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agile_deck::agent::{link, wire};
use agile_deck::app::Msg;
use agile_deck::engine::{self, CgroupReader, Engine, Remote, StatsWatcher};
use common::sshd::{Place, Sshd};
use common::stats::target;
use common::tmux::Tmux;
use common::{TestRun, docker, docker_or_skip, tool_or_skip};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// The tests count agent processes and set `AGILE_DECK_SSH`: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Pids of running agents (`agile-deck agent --stdio`).
fn agents() -> Vec<u32> {
    let out = Command::new("pgrep")
        // The agent itself, not the shell or the ssh whose command names it.
        .args(["-f", "^([^ ]*/)?agile-deck agent --stdio"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The data layer's row shows memory in use (`552K/24G`), not `-`.
fn data_has_figures(screen: &str) -> bool {
    screen
        .lines()
        .find(|l| l.contains("│data"))
        .is_some_and(|l| ["K/", "M/", "G/"].iter().any(|u| l.contains(u)))
}

fn alive(pid: u32) -> bool {
    // A zombie has no cmdline: it is gone for our purpose.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

/// The in-process link's ssh uses this sshd, and its relay's folder is
/// made in the sshd's own (a relay lives as long as this process, and
/// the folder goes with the sshd's). The tests hold `SERIAL`, so no other
/// thread of this binary reads the environment meanwhile.
fn use_sshd(sshd: &Sshd) {
    let runtime = sshd.home().join("client-runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // SAFETY: see above; the runtime of each test is its own.
    unsafe {
        std::env::set_var("AGILE_DECK_SSH", sshd.ssh_command());
        std::env::set_var("XDG_RUNTIME_DIR", runtime);
    }
}

fn settings(sshd: &Sshd) -> link::Settings {
    link::Settings {
        url: sshd.url(),
        name: "web-2".into(),
        agent_path: None,
        every: Duration::from_millis(100),
    }
}

/// The next agent state the link reports (other messages are skipped).
async fn next_state(rx: &mut mpsc::Receiver<Msg>, within: Duration) -> Remote {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Msg::Remote(state))) => return state,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the link ended"),
            Err(_) => panic!("no agent state within {within:?}"),
        }
    }
}

/// Figures of these ids arrive.
async fn figures_of(rx: &mut mpsc::Receiver<Msg>, id: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Msg::Stats { samples, .. })) if samples.iter().any(|(i, _)| i == id) => {
                return;
            }
            Ok(Some(_)) => {}
            _ => panic!("no figures of {id} within {within:?}"),
        }
    }
}

async fn local_docker() -> bollard::Docker {
    let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
    agile_deck::connect::connect(&endpoint).await.unwrap().0
}

/// A daemon, an sshd with the agent on its sessions' PATH (which the
/// in-process link's ssh uses), and a test run; None: skipped.
fn remote_with_agent(test: &str) -> Option<(Sshd, TestRun)> {
    if !docker_or_skip(test) {
        return None;
    }
    let sshd = Sshd::start_or_skip(test)?;
    sshd.put_agent(BIN);
    use_sshd(&sshd);
    Some((sshd, TestRun::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_through_the_agent_agree_with_docker_stats() {
    let _one = SERIAL.lock().await;
    let Some((sshd, t)) = remote_with_agent("figures_through_the_agent_agree_with_docker_stats")
    else {
        return;
    };
    let d = local_docker().await;
    let img = common::workload_image().await;
    let (busy, calm) = common::stats::busy_and_calm(&t, "a", &img).await;
    let info = agile_deck::connect::daemon_info(&d).await.unwrap();
    let targets = vec![target(&d, &busy).await, target(&d, &calm).await];
    let (tx, mut rx) = mpsc::channel(256);
    let reader = link::start(settings(&sshd), tx.clone());
    let shared = std::sync::Arc::new(d.clone());
    let mut engine: Engine<Msg> = Engine::new(
        engine::Path::Remote(Box::new(reader)),
        Duration::from_millis(100),
        info.mem_total,
        shared.clone(),
        tx,
        16,
    );
    let up = next_state(&mut rx, Duration::from_secs(20)).await;
    let Remote::Up(what) = &up else {
        panic!("{up:?}")
    };
    assert!(what.starts_with("agent 0.1.0, cgroup v"), "{what}");
    engine.remote(up.clone());
    engine.watch(&targets);
    let cost = engine.cost();
    assert_eq!((cost.direct, cost.streams), (2, 0), "{cost:?}");
    let (ptx, mut phase_rx) = mpsc::channel(64);
    let mut phase = StatsWatcher::new(shared, ptx);
    let bytes_before = engine.cost().wire_bytes;
    let window = Instant::now();
    let (ours, cpu, mem) = common::stats::agreement(
        "agent",
        &mut engine,
        &mut rx,
        &targets,
        &mut phase,
        &mut phase_rx,
    )
    .await;
    // The same bounds as the local path (tests/docker.rs).
    assert!(cpu <= 2.0, "agent: CPU differs by {cpu:.2} points (median)");
    assert!(mem <= 0.05, "agent: memory differs by {:.2} %", mem * 100.0);
    let busy_last = ours[&busy].last().unwrap().1;
    assert!(busy_last.cpu_pct > 10.0, "{}", busy_last.cpu_pct);
    assert_eq!(busy_last.mem_limit, 256 << 20);
    assert!(busy_last.pids > 0 && busy_last.counters.net_rx > 0);
    // On the wire: read ten times a second here, so per container and per
    // read; at the default one read a second it is this per second.
    let bytes = engine.cost().wire_bytes - bytes_before;
    let reads = window.elapsed().as_secs_f64() / 0.1;
    let per_read = bytes as f64 / reads / targets.len() as f64;
    eprintln!("agent: {bytes} bytes in {reads:.0} reads of 2 containers: {per_read:.1} B each");
    assert!(
        per_read < 100.0,
        "{per_read:.1} bytes per container and read"
    );
    drop(engine);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agents().is_empty() {
        assert!(Instant::now() < deadline, "agents left: {:?}", agents());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_comes_back_and_leaves_no_agent_behind() {
    let _one = SERIAL.lock().await;
    let Some((sshd, t)) =
        remote_with_agent("a_dropped_connection_comes_back_and_leaves_no_agent_behind")
    else {
        return;
    };
    let d = local_docker().await;
    let img = common::workload_image().await;
    let id = common::run_labelled(&t, &format!("a{}-one", t.id), &[], &img);
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let reader = link::start(settings(&sshd), tx);
    assert!(matches!(
        next_state(&mut rx, Duration::from_secs(20)).await,
        Remote::Up(_)
    ));
    reader.set(vec![target(&d, &id).await]);
    figures_of(&mut rx, &id, Duration::from_secs(10)).await;
    let first = agents();
    assert_eq!(first.len(), 1, "one agent: {first:?}");

    // The SSH connection killed on the server's side.
    let killed = Command::new("pkill")
        .args(["-KILL", "-P", &sshd.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "no ssh session to kill");
    let lost = next_state(&mut rx, Duration::from_secs(20)).await;
    assert!(matches!(lost, Remote::Lost(_)), "{lost:?}");
    // Its agent saw its stdin close and ended: no orphan.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(first[0]) {
        assert!(Instant::now() < deadline, "agent {} left behind", first[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Back by itself, with a new agent, and figures again.
    let back = next_state(&mut rx, Duration::from_secs(30)).await;
    assert!(matches!(back, Remote::Up(_)), "{back:?}");
    figures_of(&mut rx, &id, Duration::from_secs(10)).await;
    let now = agents();
    assert_eq!(now.len(), 1, "one agent again: {now:?}");
    assert_ne!(now, first);
    // The dashboard gone: so is its agent.
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(now[0]) {
        assert!(Instant::now() < deadline, "agent {} left behind", now[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_another_protocol_is_refused_naming_both() {
    let _one = SERIAL.lock().await;
    let test = "an_agent_of_another_protocol_is_refused_naming_both";
    // The agent refuses a dashboard of another protocol (no ssh needed).
    let mut theirs = wire::Hello::ours(0, 0);
    theirs.protocol = wire::PROTOCOL + 98;
    theirs.version = "9.9.9".into();
    let mut hello = Vec::new();
    wire::encode_hello(&theirs, &mut hello);
    let mut agent = Command::new(BIN)
        .args(["agent", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = agent.stdin.take().unwrap();
        stdin.write_all(&hello).unwrap();
        // Kept open: it must end by itself, not by its stdin closing.
        std::mem::forget(stdin);
    }
    let out = agent.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("agile-deck 9.9.9) speaks protocol 99")
            && stderr.contains(&format!("speaks protocol {}", wire::PROTOCOL)),
        "{stderr}"
    );
    // What it wrote: its hello, then why it stops.
    let mut d = wire::Decoder::default();
    d.push(&out.stdout);
    assert!(matches!(d.frame(), Ok(Some(wire::Frame::Hello(_)))));
    assert!(matches!(d.frame(), Ok(Some(wire::Frame::Fatal(w))) if w.contains("protocol 99")));

    // The dashboard refuses an agent of another protocol: one that says
    // hello as protocol 99 from agile-deck 9.9.9.
    let Some(sshd) = Sshd::start_or_skip(test) else {
        return;
    };
    let mut fake = Vec::new();
    wire::encode_hello(&theirs, &mut fake);
    let octal: String = fake.iter().map(|b| format!("\\{b:03o}")).collect();
    let script = sshd.bin().join("agile-deck");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '{octal}'\nexec cat >/dev/null\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    use_sshd(&sshd);
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let _reader = link::start(settings(&sshd), tx);
    let refused = next_state(&mut rx, Duration::from_secs(20)).await;
    let Remote::Unusable(why) = &refused else {
        panic!("{refused:?}")
    };
    assert!(
        why.contains("speaks protocol 99 (agile-deck 9.9.9)")
            && why.contains(&format!("speaks protocol {}", wire::PROTOCOL))
            && why.contains("agile-deck agent install web-2"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_agent_docker_streams_then_agent_install_brings_it() {
    let _one = SERIAL.lock().await;
    let test = "without_the_agent_docker_streams_then_agent_install_brings_it";
    if !docker_or_skip(test) || !tool_or_skip(test, "tmux") {
        return;
    }
    let Some(sshd) = Sshd::start_or_skip(test) else {
        return;
    };
    let t = TestRun::new();
    let img = common::workload_image().await;
    docker(&[
        "run",
        "-d",
        "--name",
        &format!("a{}-one", t.id),
        "--label",
        &t.label(),
        "--label",
        "layer=data",
        &img,
    ]);
    // State and runtime folders of its own: the dashboard is killed with
    // -9 below, and its relay's folder goes with this one.
    let state = tempfile::tempdir().unwrap();
    let tmux = Tmux::start_sized(
        "agent",
        &format!(
            "AGILE_DECK_SSH='{}' XDG_STATE_HOME={1} XDG_RUNTIME_DIR={1} \
             {BIN} --no-prometheus --show-engine --host {2}",
            sshd.ssh_command(),
            state.path().display(),
            sshd.url()
        ),
        (160, 40),
    );
    // Not installed: the header says so and how to; Docker's streams give
    // the figures meanwhile.
    let screen = tmux.wait("the fallback said", Duration::from_secs(30), |s| {
        s.contains("agent: not installed on 127.0.0.1 (agile-deck agent install 127.0.0.1)")
            && s.contains("Docker API (no agent)")
            && s.contains("│data")
    });
    assert!(!screen.contains("✖"), "{screen}");
    tmux.wait("figures from Docker", Duration::from_secs(30), |s| {
        data_has_figures(s)
    });

    let out = Command::new(BIN)
        .args(["agent", "install", &sshd.url()])
        .env("AGILE_DECK_SSH", sshd.ssh_command())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = sshd.home().join(".local/bin/agile-deck");
    assert!(
        stdout.contains(&format!(
            "installed agile-deck 0.1.0 at {}",
            installed.display()
        )),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(BIN).unwrap(),
        "the same bytes"
    );
    // The dashboard tries again on its own and reads through it.
    tmux.wait("the agent picked up", Duration::from_secs(60), |s| {
        s.contains("stats engine: agent 0.1.0, cgroup v") && !s.contains("not installed")
    });
    tmux.wait("figures through it", Duration::from_secs(10), |s| {
        s.contains("1 read from cgroups") || s.lines().any(|l| l.contains("read from cgroups"))
    });
    tmux.kill_program();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agents().is_empty() {
        assert!(Instant::now() < deadline, "agents left: {:?}", agents());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_on_a_cluster_node_reached_from_another() {
    let _one = SERIAL.lock().await;
    let test = "the_agent_on_a_cluster_node_reached_from_another";
    if !tool_or_skip(test, "tmux") {
        return;
    }
    let Some(cluster) = common::cluster::Cluster::up_or_skip(test).await else {
        return;
    };
    let c2 = cluster.host("c2");
    let Some(sshd) = Sshd::start_at_or_skip(
        test,
        Place {
            netns: Some(("adc-c2", "10.87.0.12")),
            docker_host: Some(&c2),
        },
    ) else {
        return;
    };
    sshd.put_agent(BIN);
    let name = format!("a{}-c2", cluster.id);
    cluster.docker(
        "c2",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &cluster.label(),
            "--label",
            "layer=data",
            "-e",
            "CPU=0.3",
            "agile-sim:0.1.0",
        ],
    );
    // State and runtime folders of its own, as above.
    let state = tempfile::tempdir().unwrap();
    // The dashboard on c1, c2 over the cluster's network.
    let tmux = Tmux::start_sized(
        "agent-cluster",
        &format!(
            "nsenter --net=/run/netns/adc-c1 env AGILE_DECK_SSH='{}' XDG_STATE_HOME={1} \
             XDG_RUNTIME_DIR={1} {BIN} --no-prometheus --no-record --show-engine --host c2={2}",
            sshd.ssh_command(),
            state.path().display(),
            sshd.url()
        ),
        (160, 40),
    );
    tmux.wait(
        "c2's container with figures through its agent",
        Duration::from_secs(60),
        |s| {
            s.contains("stats engine: agent 0.1.0, cgroup v")
                && s.contains("1 read from cgroups")
                && data_has_figures(s)
        },
    );
    tmux.kill_program();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agents().is_empty() {
        assert!(Instant::now() < deadline, "agents left: {:?}", agents());
        std::thread::sleep(Duration::from_millis(100));
    }
}
