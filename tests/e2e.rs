//! End to end: the real binary in tmux against the real daemon, driven with
//! keys and read with capture-pane, as an operator would use it.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{
    FakeAnswer, TestRun, compose_replica, docker, docker_or_skip, fake_prometheus, tool_or_skip,
};

/// The tests here share the terminal-heavy demo: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// The line of a table row that starts with `name` (after the border).
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(&format!("{name} ")))
}

/// Whether a row shows a CPU figure (a number with one decimal or ≥100).
fn has_cpu_figure(line: &str) -> bool {
    line.split_whitespace().any(|w| {
        let w = w.trim_end_matches(['!', '~']);
        w.contains('.') && w.parse::<f64>().is_ok()
    })
}

/// A state directory of the test's own: the demo's Prometheus that `demo
/// up` starts lives there (not in the user's), and is stopped on drop.
struct State(tempfile::TempDir);

impl State {
    fn new() -> State {
        State(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &str {
        self.0.path().to_str().unwrap()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let pid_file = self.0.path().join("agile-deck/demo-prometheus/pid");
        if let Ok(pid) = std::fs::read_to_string(pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn agile_deck(state: &State, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "agile-deck {}: {text}",
        args.join(" ")
    );
    text
}

#[test]
fn demo_dashboard_in_tmux() {
    if !docker_or_skip("demo_dashboard_in_tmux") || !tool_or_skip("demo_dashboard_in_tmux", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let label = t.label();
    let state = State::new();
    // In CI Prometheus must be there; elsewhere its part may be skipped.
    let with_prometheus = tool_or_skip("demo_dashboard_in_tmux (Prometheus columns)", "prometheus");
    // Bring the demo up marked with this run, so the cleanup removes it (a
    // demo that was already running is left alone).
    let up = agile_deck(&state, &["demo", "up", "--label", &label]);
    eprintln!("{up}");
    if with_prometheus {
        assert!(up.contains("Prometheus at http://127.0.0.1:"), "{up}");
    } else {
        assert!(up.contains("apt-get install prometheus"), "{up}");
    }
    // The demo follows the baseline it is audited against: not one
    // critical finding on its containers or networks (other tests' own
    // containers may run beside it).
    let demo_names = docker(&[
        "ps",
        "--filter",
        "label=agile-deck.demo",
        "--format",
        "{{.Names}}",
    ]);
    let audit: serde_json::Value =
        serde_json::from_str(&agile_deck(&state, &["audit", "--json"])).unwrap();
    let critical: Vec<&serde_json::Value> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "critical")
        .filter(|f| {
            let name = f["object"]["name"].as_str().unwrap_or("");
            demo_names.lines().any(|n| n == name) || name.starts_with("agile-")
        })
        .collect();
    assert!(
        critical.is_empty(),
        "the demo has critical findings: {critical:#?}"
    );
    for (net, internal) in [
        ("agile-frontend", "false"),
        ("agile-control", "true"),
        ("agile-coordination", "true"),
        ("agile-execution", "true"),
        ("agile-data", "true"),
        ("agile-monitoring", "false"),
    ] {
        assert_eq!(
            docker(&["network", "inspect", "-f", "{{.Internal}}", net]).trim(),
            internal,
            "{net}"
        );
    }
    let running = docker(&[
        "ps",
        "--filter",
        "label=agile-deck.demo=reference",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(running.lines().count(), 25, "{running}");
    assert!(
        running.contains("agile-agent-product-pm-001")
            && running.contains("agile-agent-development-dev-008")
    );
    // Idempotent: a second `up` creates nothing.
    let again = agile_deck(&state, &["demo", "up"]);
    assert!(!again.contains("started"), "{again}");

    let started = Instant::now();
    let tmux = Tmux::start(
        "demo",
        &format!("XDG_STATE_HOME={} {BIN} --demo", state.path()),
    );
    // Full first screen: every layer row with its replicas and figures.
    let screen = tmux.wait("every layer with figures", Duration::from_secs(30), |s| {
        ["frontend", "control", "coordination", "execution", "data"]
            .iter()
            .all(|l| row(s, l).is_some_and(has_cpu_figure))
    });
    eprintln!(
        "time to a full first screen (demo running, debug build): {} ms",
        started.elapsed().as_millis()
    );
    eprintln!("{screen}");
    assert!(screen.contains("agile-deck ─ local"), "{screen}");
    assert!(
        row(&screen, "execution").unwrap().contains("17/17"),
        "{screen}"
    );
    assert!(row(&screen, "data").unwrap().contains("3/3"), "{screen}");
    // Health settles to healthy within the health check's first interval.
    let screen = tmux.wait("all 25 healthy", Duration::from_secs(30), |s| {
        row(s, "execution").is_some_and(|l| l.contains("●17"))
            && row(s, "frontend").is_some_and(|l| l.contains("●2"))
    });
    assert!(!screen.contains("ungrouped"), "{screen}");

    // Teams.
    tmux.keys(&["Tab"]);
    let screen = tmux.wait("teams", Duration::from_secs(5), |s| {
        row(s, "development").is_some()
    });
    assert!(row(&screen, "product").unwrap().contains("5/5"), "{screen}");
    assert!(
        row(&screen, "development").unwrap().contains("8/8"),
        "{screen}"
    );
    assert!(row(&screen, "qa").unwrap().contains("0/0"), "{screen}");

    // Drill down: development → development-team → replicas → one replica.
    tmux.keys(&["j", "Enter"]);
    tmux.wait("services of development", Duration::from_secs(5), |s| {
        row(s, "development-team").is_some()
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("replicas with figures", Duration::from_secs(10), |s| {
        (1..=8).all(|i| {
            row(s, &format!("agile-agent-development-dev-00{i}")).is_some_and(|l| {
                l.contains("running") && l.contains("healthy") && has_cpu_figure(l)
            })
        })
    });
    eprintln!("{screen}");
    assert!(
        screen.contains("development-team (compose): replicas"),
        "{screen}"
    );
    tmux.keys(&["End", "Enter"]);
    let screen = tmux.wait("replica page", Duration::from_secs(5), |s| {
        s.contains("placement")
    });
    assert!(
        screen.contains("agile-agent-development-dev-008"),
        "{screen}"
    );
    assert!(screen.contains("agile-execution 172."), "{screen}");
    assert!(screen.contains("cpus 0.25  memory 64M"), "limits: {screen}");
    assert!(screen.contains("team development"), "{screen}");

    // A command in a replica, in this terminal: the dashboard steps aside
    // and comes back after a key.
    tmux.keys(&[":"]);
    type_text(
        &tmux,
        "exec agile-frontend-webui /agile-sim resolve localhost",
    );
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("exec output", Duration::from_secs(10), |s| {
        s.contains("ended (exit 0) — press any key")
    });
    assert!(screen.contains("127.0.0.1"), "{screen}");
    assert!(!tmux.alternate_on(), "the dashboard should step aside");
    tmux.keys(&["x"]);
    tmux.wait("dashboard back", Duration::from_secs(5), |s| {
        s.contains("resolve localhost in agile-frontend-webui ended (exit 0)")
            && s.contains("placement")
    });
    assert!(tmux.alternate_on());
    // No shell in a FROM scratch image: said plainly.
    tmux.keys(&[":"]);
    type_text(&tmux, "exec agile-frontend-webui");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("no shell", Duration::from_secs(10), |s| {
        s.contains("sh is not in agile-frontend-webui's image")
    });
    // Issue 21, point 11: each command starts on a clean screen.
    assert!(
        !screen.contains("resolve localhost") && !screen.contains("127.0.0.1"),
        "the previous command's output stays on screen:\n{screen}"
    );
    tmux.keys(&["x"]);
    tmux.wait("dashboard back", Duration::from_secs(5), |s| {
        s.contains("placement")
    });

    // The development team's logs, merged: every agent's name shows.
    tmux.keys(&["Escape", "Escape", "Escape", "Home", "j", "l"]);
    let screen = tmux.wait("team logs", Duration::from_secs(20), |s| {
        s.contains("logs: team development") && (1..=8).all(|i| s.contains(&format!("dev-00{i} ")))
    });
    eprintln!("{screen}");
    assert!(screen.contains("8 of 8 replicas streaming"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait("logs closed", Duration::from_secs(5), |s| {
        s.contains("agent teams")
    });

    // Back up three levels, to the teams table.
    tmux.keys(&["Escape", "Escape", "Escape"]);
    tmux.wait("back at teams", Duration::from_secs(5), |s| {
        s.contains("agent teams")
    });

    // Scale the product team 5 → 6 with keys: s opens the command line
    // with the current count, the plan is confirmed with y.
    tmux.keys(&["Home", "Enter"]);
    tmux.wait("product's services", Duration::from_secs(5), |s| {
        row(s, "product-team").is_some()
    });
    tmux.keys(&["s"]);
    tmux.wait("scale prompt", Duration::from_secs(5), |s| {
        s.contains(":scale service:product-team 5")
    });
    tmux.keys(&["BSpace"]);
    type_text(&tmux, "6");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("plan", Duration::from_secs(5), |s| {
        s.contains("confirm: scale product-team 5 → 6")
    });
    assert!(
        screen.contains("create agile-agent-product-pm-006"),
        "{screen}"
    );
    tmux.keys(&["y"]);
    let screen = tmux.wait("scaled", Duration::from_secs(60), |s| {
        s.contains("✔ scale product-team 5 → 6")
            && row(s, "product-team").is_some_and(|l| l.contains("6/6"))
    });
    eprintln!("{screen}");
    let names = docker(&[
        "ps",
        "--filter",
        "label=com.docker.compose.service=product-team",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names.lines().count(), 6, "{names}");
    assert!(names.contains("agile-agent-product-pm-006"), "{names}");
    // U undoes it.
    tmux.keys(&["U"]);
    tmux.wait("undo plan", Duration::from_secs(5), |s| {
        s.contains("confirm: undo: scale product-team back to 5")
    });
    tmux.keys(&["y"]);
    tmux.wait("undone", Duration::from_secs(60), |s| {
        row(s, "product-team").is_some_and(|l| l.contains("5/5"))
    });
    let names = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=com.docker.compose.service=product-team",
        "--format",
        "{{.Names}}",
    ]);
    assert!(!names.contains("agile-agent-product-pm-006"), "{names}");
    tmux.keys(&["Escape"]);

    // Help generated from the keymap, then the program's own log.
    tmux.keys(&["?"]);
    let screen = tmux.wait("help", Duration::from_secs(5), |s| {
        s.contains("keys (Esc closes")
    });
    assert!(
        screen.contains("quit agile-deck") && screen.contains("drill down"),
        "{screen}"
    );
    tmux.keys(&["Escape", "L"]);
    let screen = tmux.wait("log pane", Duration::from_secs(5), |s| {
        s.contains("agile-deck log")
    });
    assert!(screen.contains("inventory listed"), "{screen}");

    // The stats engine line: a local daemon is read from cgroups, with no
    // Docker stream, and the line reports what that costs.
    tmux.keys(&["L", "E"]);
    let screen = tmux.wait("engine line", Duration::from_secs(10), |s| {
        s.contains("stats engine: cgroup v") && s.contains("samples/s")
    });
    let line = screen
        .lines()
        .find(|l| l.contains("stats engine:"))
        .unwrap();
    assert!(
        line.contains("25 read from cgroups · 0 Docker streams"),
        "{line}"
    );

    // q quits and the terminal is back to normal.
    tmux.keys(&["q"]);
    let screen = tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!tmux.alternate_on(), "still on the alternate screen");
    drop(tmux);

    if with_prometheus {
        // The demo's Prometheus, found by itself: request rates, error
        // ratios and p99 beside the Docker figures once it has scraped twice.
        let tmux = Tmux::start("prom", &format!("XDG_STATE_HOME={} {BIN}", state.path()));
        let rate = regex::Regex::new(r" \d+\.\d+/s +\d+\.\d+% +\d+(\.\d)?ms ").unwrap();
        let screen = tmux.wait("Prometheus figures", Duration::from_secs(60), |s| {
            ["frontend", "control", "coordination", "execution", "data"]
                .iter()
                .all(|l| row(s, l).is_some_and(|r| rate.is_match(r)))
        });
        eprintln!("{screen}");
        assert!(
            screen.contains("REQ/s") && screen.contains("P99"),
            "{screen}"
        );
        // The detail of the selected layer charts each figure.
        assert!(
            screen
                .lines()
                .any(|l| l.contains("REQ/s ") && l.contains("peak")),
            "{screen}"
        );
        // An ad-hoc query: a table of series.
        tmux.keys(&["P"]);
        Command::new("tmux")
            .args(["-L", &tmux.socket, "send-keys", "-t", "e2e", "-l"])
            .arg("count by (layer) (up)")
            .status()
            .unwrap();
        tmux.keys(&["Enter"]);
        let screen = tmux.wait("ad-hoc answer", Duration::from_secs(10), |s| {
            s.contains("SERIES (5)")
        });
        assert!(screen.contains("{layer=\"execution\"}"), "{screen}");
        tmux.keys(&["Escape", "q"]);
        tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
    }

    // A Prometheus that answers only after the timeout: queries time out on
    // their cells while the screen keeps answering keys.
    let port = fake_prometheus(FakeAnswer::Late);
    let tmux = Tmux::start(
        "slow",
        &format!(
            "XDG_STATE_HOME={} {BIN} --prometheus http://127.0.0.1:{port} --prometheus-timeout 1",
            state.path()
        ),
    );
    tmux.wait("layers", Duration::from_secs(30), |s| {
        row(s, "data").is_some_and(has_cpu_figure)
    });
    // Acknowledged alerts leave the header to Prometheus's trouble.
    tmux.keys(&["A"]);
    for (key, title) in [("Tab", "agent teams"), ("BTab", "layers")] {
        let asked = Instant::now();
        tmux.keys(&[key]);
        tmux.wait(title, Duration::from_secs(2), |s| {
            s.contains(&format!(" {title} "))
        });
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(1500), "{key} took {took:?}");
    }
    let screen = tmux.wait("timeouts shown", Duration::from_secs(15), |s| {
        s.contains("✖ prometheus: timeout")
            && row(s, "frontend").is_some_and(|r| r.contains("timeout"))
    });
    eprintln!("{screen}");
    tmux.keys(&["q"]);
    tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
    drop(tmux);

    let down = agile_deck(&state, &["demo", "down", "--label", &label]);
    eprintln!("{down}");
}

/// `docker exec NAME /agile-sim probe URL`: whether it answered 200.
fn probe_from(name: &str, url: &str) -> bool {
    common::docker_cli()
        .args(["exec", name, "/agile-sim", "probe", url])
        .output()
        .unwrap()
        .status
        .success()
}

/// Issue 21, point 1: the demo's services reach each other along every
/// flow the reference allows (their names resolve on the zone networks,
/// never on the monitoring one where inter-container traffic is off), a
/// call across a forbidden zone fails, and the callers count their calls
/// so a broken path would show on the dashboard.
#[test]
fn demo_services_call_each_other_along_the_flows() {
    if !docker_or_skip("demo_services_call_each_other_along_the_flows") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let state = State::new();
    agile_deck(&state, &["demo", "up", "--label", &t.label()]);
    let started = Instant::now();
    let mut flows = 0;
    for r in agile_deck::demo::deployment() {
        let Some((_, calls)) = r.env.iter().find(|(k, _)| *k == "CALL") else {
            continue;
        };
        for url in calls.split(',') {
            common::wait_for(
                &format!("{} → {url}", r.name),
                Duration::from_secs(30),
                || probe_from(&r.name, url).then_some(()),
            );
            flows += 1;
        }
    }
    eprintln!(
        "{flows} calls along the allowed flows answered within {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(flows >= 10, "{flows}");
    // Frontend → data and execution → control are not flows of the
    // reference: the names do not resolve there, and the container names
    // (which do resolve, on the monitoring network) are not reachable.
    for (from, url) in [
        ("agile-frontend-webui", "http://postgres-primary:8080/work"),
        (
            "agile-frontend-webui",
            "http://agile-db-postgres-primary:8080/work",
        ),
        (
            "agile-agent-product-pm-001",
            "http://control-main:8080/work",
        ),
        (
            "agile-agent-product-pm-001",
            "http://agile-control-main:8080/work",
        ),
    ] {
        assert!(!probe_from(from, url), "{from} → {url} must fail");
    }
    // The gateway counts its calls to the coordinator by outcome.
    let metrics = docker(&[
        "exec",
        "agile-frontend-gateway",
        "/agile-sim",
        "probe",
        "http://127.0.0.1:8080/metrics",
    ]);
    let ok = metrics
        .lines()
        .find(|l| {
            l.starts_with(r#"agile_sim_calls_total{upstream="coordinator-main",outcome="ok"}"#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(ok > 0, "{metrics}");
}

#[test]
fn a_panic_restores_the_terminal() {
    if !docker_or_skip("a_panic_restores_the_terminal")
        || !tool_or_skip("a_panic_restores_the_terminal", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmux = Tmux::start(
        "panic",
        &format!("RUST_BACKTRACE=0 AGILE_DECK_TEST_PANIC=1 {BIN} --no-record"),
    );
    let screen = tmux.wait("exit after the panic", Duration::from_secs(20), |s| {
        s.contains("EXIT=")
    });
    assert!(screen.contains("AGILE_DECK_TEST_PANIC is set"), "{screen}");
    assert!(
        !tmux.alternate_on(),
        "still on the alternate screen after a panic"
    );
    // Raw mode is off: a newline returns to column 0 (in raw mode the
    // shell's next line would be staircased to the right).
    assert!(
        screen.lines().any(|l| l.starts_with("EXIT=101")),
        "{screen}"
    );
    assert!(screen.contains("The application panicked"), "{screen}");
}

/// `kill -HUP` with the terminal still there: the dashboard ends as on
/// `q`, the terminal given back (a hung-up terminal is tests/ssh.rs's).
#[test]
fn a_hang_up_signal_with_the_terminal_there_restores_it() {
    if !docker_or_skip("a_hang_up_signal_with_the_terminal_there_restores_it")
        || !tool_or_skip(
            "a_hang_up_signal_with_the_terminal_there_restores_it",
            "tmux",
        )
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmux = Tmux::start("hup", &format!("{BIN} --no-record --no-prometheus"));
    tmux.wait("the dashboard", Duration::from_secs(20), |s| {
        s.contains("agile-deck ─ ")
    });
    let pid = tmux.program();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let screen = tmux.wait("exit after the hang-up", Duration::from_secs(10), |s| {
        s.contains("EXIT=")
    });
    assert!(screen.lines().any(|l| l.starts_with("EXIT=0")), "{screen}");
    assert!(!tmux.alternate_on(), "still on the alternate screen");
}

/// A TCP proxy to the Docker socket that can be cut and restored, to play
/// a daemon that goes away mid-session and comes back.
struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Request lines (`GET /v1.41/containers/json`) seen going to the daemon.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(port: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, c, r) = (stop.clone(), conns.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                            continue;
                        };
                        c.lock().unwrap().push(client.try_clone().unwrap());
                        let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
                        let (mut d_in, mut d_out) = (daemon.try_clone().unwrap(), daemon);
                        let r = r.clone();
                        std::thread::spawn(move || pump_recording(&mut c_in, &mut d_out, &r));
                        std::thread::spawn(move || pump(&mut d_in, &mut c_out));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Proxy {
            port,
            stop,
            conns,
            thread: Some(thread),
            requests,
        }
    }

    /// Stop listening and cut every open connection.
    fn cut(mut self) -> u16 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        self.port
    }
}

/// Like `pump`, noting every HTTP request line that passes.
fn pump_recording(from: &mut impl Read, to: &mut impl Write, seen: &Mutex<Vec<String>>) {
    const METHODS: [&str; 6] = ["GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "PATCH "];
    let mut buf = [0u8; 16384];
    let mut pending = Vec::new();
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&pending[..i]).into_owned();
            if METHODS.iter().any(|m| line.starts_with(m)) && line.contains(" HTTP/1") {
                seen.lock().unwrap().push(line);
            }
            pending.drain(..i + 2);
        }
        if pending.len() > 65536 {
            pending.clear();
        }
    }
}

fn pump(from: &mut impl Read, to: &mut impl Write) {
    let mut buf = [0u8; 16384];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

#[test]
fn daemon_lost_mid_session_keeps_the_view_and_recovers() {
    if !docker_or_skip("daemon_lost_mid_session")
        || !tool_or_skip("daemon_lost_mid_session", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let img = agile_deck_image();
    let name = format!("t{}-probe", t.id);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &t.label(),
        "--label",
        "layer=control",
        &img,
    ]);

    let proxy = Proxy::start(0);
    let port = proxy.port;
    let tmux = Tmux::start(
        "lost",
        &format!("{BIN} --no-record --host tcp://127.0.0.1:{port}"),
    );
    let screen = tmux.wait("control row with figures", Duration::from_secs(30), |s| {
        row(s, "control").is_some_and(has_cpu_figure)
    });
    let header = screen.lines().next().unwrap().to_string();
    assert!(!header.contains("unreachable"), "{header}");

    proxy.cut();
    let screen = tmux.wait("unreachable in the header", Duration::from_secs(15), |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("daemon unreachable"))
    });
    // What was on screen is still there.
    assert!(row(&screen, "control").is_some(), "{screen}");
    assert!(screen.contains("running"), "{screen}");

    let _proxy = Proxy::start(port);
    tmux.wait("recovered", Duration::from_secs(30), |s| {
        s.lines().next().is_some_and(|h| !h.contains("unreachable"))
            && row(s, "control").is_some_and(has_cpu_figure)
    });
    tmux.keys(&["q"]);
    let screen = tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    drop(t);
}

/// The workload image (built through the library if this daemon lacks it).
fn agile_deck_image() -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::workload_image())
}

/// Type text into the pane as is (no key names).
fn type_text(tmux: &Tmux, text: &str) {
    Command::new("tmux")
        .args(["-L", &tmux.socket, "send-keys", "-t", "e2e", "-l", text])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
}

/// One Compose-style replica of a service of the data layer, called
/// `<prefix><run id>`; returns the service name.
fn data_replica(t: &TestRun, prefix: &str) -> String {
    let service = format!("{prefix}{}", t.id);
    compose_replica(
        t,
        &agile_deck_image(),
        &format!("p{}", t.id),
        &service,
        1,
        &["--label", "layer=data", "--memory", "64m"],
    );
    service
}

#[test]
fn read_only_makes_no_changing_call() {
    if !docker_or_skip("read_only_makes_no_changing_call")
        || !tool_or_skip("read_only_makes_no_changing_call", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let service = data_replica(&t, "ro");
    let proxy = Proxy::start(0);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let tmux = Tmux::start(
        "readonly",
        &format!(
            "{BIN} --read-only --no-prometheus --no-record --host tcp://127.0.0.1:{} --journal {}",
            proxy.port,
            journal.display()
        ),
    );
    let screen = tmux.wait("layers", Duration::from_secs(30), |s| {
        row(s, "data").is_some_and(has_cpu_figure)
    });
    assert!(screen.contains("read-only"), "{screen}");
    // Into the data layer's services, onto ours, and every changing key.
    tmux.keys(&["End", "k", "Home"]);
    for _ in 0..4 {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["s"]);
    let screen = tmux.wait("read-only message", Duration::from_secs(5), |s| {
        s.contains("read-only: agile-deck was started with --read-only")
    });
    eprintln!("{screen}");
    for k in ["u", "R", "X", "T", "U", "a", "y", "Y", "Enter"] {
        tmux.keys(&[k]);
    }
    for line in [
        format!("scale service:{service} 3"),
        format!("restart {service}"),
        format!("update service:{service} memory=128m"),
        format!("stop {service}"),
    ] {
        tmux.keys(&[":"]);
        type_text(&tmux, &line);
        tmux.keys(&["Enter", "y", "Y"]);
    }
    assert!(!tmux.screen().contains("confirm:"));
    tmux.keys(&["X"]);
    let screen = tmux.wait("still read-only", Duration::from_secs(5), |s| {
        s.contains("read-only: agile-deck was started with --read-only")
    });
    assert!(!screen.contains("confirm:"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
    drop(tmux);
    let requests = proxy.requests.lock().unwrap().clone();
    proxy.cut();
    assert!(requests.len() > 3, "{requests:?}");
    let changing: Vec<&String> = requests
        .iter()
        .filter(|r| !(r.starts_with("GET ") || r.starts_with("HEAD ")))
        .collect();
    assert!(
        changing.is_empty(),
        "changing calls in read-only: {changing:?}"
    );
    let mut kinds: Vec<String> = requests
        .iter()
        .map(|r| r.split(['?', ' ']).take(2).collect::<Vec<_>>().join(" "))
        .collect();
    kinds.sort();
    kinds.dedup();
    eprintln!("read-only requests: {kinds:?}");
    assert_eq!(
        docker(&["ps", "--filter", &format!("label={}", t.label()), "-q"])
            .lines()
            .count(),
        1
    );
    assert!(!journal.exists() || std::fs::read_to_string(&journal).unwrap().is_empty());
}

#[test]
fn a_crash_mid_operation_leaves_the_journal_whole() {
    if !docker_or_skip("a_crash_mid_operation_leaves_the_journal_whole")
        || !tool_or_skip("a_crash_mid_operation_leaves_the_journal_whole", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let service = data_replica(&t, "cr");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let tmux = Tmux::start(
        "crash",
        &format!(
            "{BIN} --no-prometheus --journal {} --store {}",
            journal.display(),
            journal.with_file_name("history.db").display()
        ),
    );
    tmux.wait("layers", Duration::from_secs(30), |s| {
        row(s, "data").is_some_and(has_cpu_figure)
    });
    tmux.keys(&[":"]);
    type_text(&tmux, &format!("scale service:{service} 9"));
    tmux.keys(&["Enter"]);
    tmux.wait("plan", Duration::from_secs(5), |s| {
        s.contains("confirm: scale")
    });
    tmux.keys(&["y"]);
    // Two steps on record, then the program dies without warning.
    let lines = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&journal) < 2 {
        assert!(Instant::now() < deadline, "no journal lines");
        std::thread::sleep(Duration::from_millis(20));
    }
    tmux.kill_program();
    drop(tmux);
    std::thread::sleep(Duration::from_millis(500));
    // Every line whole and valid, steps in order from 1, no result: the
    // journal holds exactly what took effect before the crash (the step
    // under way at the kill may have created one more container).
    let text = std::fs::read_to_string(&journal).unwrap();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(text.ends_with('\n'), "a torn last line");
    assert!(entries.len() >= 2 && entries.len() < 9, "{text}");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["kind"], "step", "{e}");
        assert_eq!(e["step"], i + 1, "{e}");
        assert_eq!(e["outcome"], "done", "{e}");
        assert_eq!(e["operation"], "scale");
        assert_eq!(
            e["after"]["container"],
            format!("p{}-{service}-{}", t.id, i + 2)
        );
    }
    let running = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={}", t.label()),
        "--format",
        "{{.Names}}",
    ]);
    let count = running.lines().count();
    assert!(
        count == 1 + entries.len() || count == 2 + entries.len(),
        "{count} containers, {} journalled steps: {running}",
        entries.len()
    );
}

#[test]
fn a_user_keymap_and_theme_drive_the_program() {
    if !docker_or_skip("a_user_keymap_and_theme_drive_the_program")
        || !tool_or_skip("a_user_keymap_and_theme_drive_the_program", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    data_replica(&t, "km");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        "[table]\n# colemak-ish moves\ndown = [\"n\"]\nup = [\"e\"]\n",
    )
    .unwrap();
    let theme = dir.path().join("theme.toml");
    std::fs::write(
        &theme,
        "name = \"mine\"\ninherits = \"basic16\"\n[styles]\ncritical = { fg = \"magenta\" }\n",
    )
    .unwrap();
    let tmux = Tmux::start(
        "keymap",
        &format!(
            "{BIN} --no-prometheus --no-record --keymap {} --theme {}",
            keys.display(),
            theme.display()
        ),
    );
    tmux.wait("layers", Duration::from_secs(30), |s| {
        row(s, "data").is_some()
    });
    // j no longer moves; n does, twice, then Enter opens the third layer.
    tmux.keys(&["j", "n", "n", "e", "n", "Enter"]);
    tmux.wait("coordination's services", Duration::from_secs(5), |s| {
        s.contains("coordination: services")
    });
    // The help shows the user's keys.
    tmux.keys(&["?"]);
    let screen = tmux.wait("help", Duration::from_secs(5), |s| {
        s.contains("keys (Esc closes")
    });
    let down = screen.lines().find(|l| l.contains("move down")).unwrap();
    assert!(down.contains(" n ") || down.contains("│  n"), "{down}");
    assert!(!down.contains(" j "), "{down}");
    tmux.keys(&["Escape", "q"]);
    let screen = tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
}

#[test]
fn a_rollout_from_the_command_line_to_done() {
    if !docker_or_skip("a_rollout_from_the_command_line_to_done")
        || !tool_or_skip("a_rollout_from_the_command_line_to_done", "tmux")
    {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let base = agile_deck_image();
    let v2 = common::derived_image(&base, "agile-sim:rollout-v2", "VERSION=v2");
    let service = format!("ro{}", t.id);
    for n in 1..=2 {
        compose_replica(
            &t,
            &base,
            &service,
            &service,
            n,
            &[
                "--label",
                "layer=data",
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let tmux = Tmux::start(
        "rollout",
        &format!(
            "{BIN} --no-prometheus --journal {} --store {}",
            journal.display(),
            journal.with_file_name("history.db").display()
        ),
    );
    tmux.wait("layers", Duration::from_secs(30), |s| {
        row(s, "data").is_some()
    });
    tmux.keys(&[":"]);
    type_text(&tmux, &format!("rollout {service} image={v2}"));
    tmux.keys(&["Enter"]);
    let plan = tmux.wait("the plan", Duration::from_secs(5), |s| {
        s.contains("confirm: rollout")
    });
    assert!(plan.contains("batch 2: "), "{plan}");
    assert!(
        plan.contains("capacity never below 1 healthy of 2"),
        "{plan}"
    );
    tmux.keys(&["y", ":"]);
    type_text(&tmux, "rollouts");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("the rollout done", Duration::from_secs(60), |s| {
        s.lines()
            .any(|l| l.contains(&format!("#1   {service}")) && l.contains("done"))
    });
    assert!(screen.contains("2/2 new"), "{screen}");
    assert_eq!(
        screen
            .lines()
            .filter(|l| l.contains(" ✔ ") && l.contains(&v2))
            .count(),
        2,
        "{screen}"
    );
    tmux.keys(&["q"]);
    let screen = tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    let text = std::fs::read_to_string(&journal).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["operation"], "rollout");
    assert_eq!(last["outcome"], "done");
}

/// Issue 15, point 3: agile-deck is killed (`kill -9`) mid-rollout; started
/// again, it shows what was left unfinished, and one key resumes it to the
/// end; killed again mid-way through another rollout, one key rolls it
/// back to the state before it, exactly.
#[test]
fn a_killed_rollout_is_resumed_or_rolled_back_after_a_restart() {
    let test = "a_killed_rollout_is_resumed_or_rolled_back_after_a_restart";
    if !docker_or_skip(test) || !tool_or_skip(test, "tmux") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = TestRun::new();
    let base = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::workload_image());
    let v2 = common::derived_image(&base, "agile-sim:recover-v2", "VERSION=v2");
    let project = format!("kr{}", t.id);
    for i in 1..=4 {
        compose_replica(&t, &base, &project, &project, i, &common::FAST_HEALTH);
    }
    let label = format!("label=com.docker.compose.project={project}");
    // Healthy replicas on `image`, from one listing (a container may go
    // between a listing and an inspect while a rollout runs).
    let healthy_on = |image: &str| {
        docker(&[
            "ps",
            "--filter",
            &label,
            "--filter",
            "health=healthy",
            "--format",
            "{{.Image}}",
        ])
        .lines()
        .filter(|l| *l == image)
        .count()
    };
    common::wait_for("4 healthy", Duration::from_secs(30), || {
        (healthy_on(&base) == 4).then_some(())
    });
    let names = common::names_of(label.trim_start_matches("label="));
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    // Each start its own tmux server: a server that is just going away
    // refuses a new session on its socket.
    let starts = std::sync::atomic::AtomicUsize::new(0);
    let start = || {
        let n = starts.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux::start(
            &format!("recover{n}"),
            &format!(
                "{BIN} --no-prometheus --journal {} --store {}",
                journal.display(),
                journal.with_file_name("history.db").display()
            ),
        );
        tmux.wait("the dashboard", Duration::from_secs(30), |s| {
            s.contains("running")
        });
        tmux
    };
    let killed_mid_rollout = |order: &str, image: &str, on: &dyn Fn() -> bool| {
        let tmux = start();
        tmux.keys(&[":"]);
        type_text(
            &tmux,
            &format!(
                "rollout {project} image={image} parallelism=1 delay=4s monitor=1s order={order}"
            ),
        );
        tmux.keys(&["Enter"]);
        tmux.wait("the plan", Duration::from_secs(10), |s| {
            s.contains("confirm")
        });
        tmux.keys(&["y"]);
        common::wait_for("one replica replaced", Duration::from_secs(60), || {
            on().then_some(())
        });
        tmux.kill_program();
    };

    // Killed after the first replica: started again, resumed to the end.
    killed_mid_rollout("stop-first", &v2, &|| healthy_on(&v2) == 1);
    let tmux = start();
    tmux.wait("the header says so", Duration::from_secs(10), |s| {
        s.contains("1 interrupted")
    });
    tmux.keys(&[":"]);
    type_text(&tmux, "rollouts");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("the interrupted rollout", Duration::from_secs(10), |s| {
        s.contains("interrupted rollout of") && s.contains("r resume")
    });
    eprintln!("{screen}");
    tmux.keys(&["r"]);
    tmux.wait("the resume plan", Duration::from_secs(10), |s| {
        s.contains("resume the interrupted rollout")
    });
    tmux.keys(&["y"]);
    common::wait_for("every replica on v2", Duration::from_secs(120), || {
        (healthy_on(&v2) == 4).then_some(())
    });
    tmux.wait("the resumed rollout done", Duration::from_secs(60), |s| {
        s.lines()
            .any(|l| l.contains("resumed rolling update") && l.contains(" done "))
    });
    drop(tmux);
    assert_eq!(common::names_of(label.trim_start_matches("label=")), names);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.contains("\"outcome\":\"interrupted\""),
        "the first rollout is closed in the journal: {text}"
    );

    // Killed again, start-first, mid-way back to the base image: rolled
    // back, every replica on v2 as before, nothing renamed aside left.
    killed_mid_rollout("start-first", &base, &|| healthy_on(&base) == 1);
    let tmux = start();
    tmux.keys(&[":"]);
    type_text(&tmux, "rollouts");
    tmux.keys(&["Enter"]);
    tmux.wait("the interrupted rollout", Duration::from_secs(10), |s| {
        s.contains("b roll back")
    });
    tmux.keys(&["b"]);
    tmux.wait("the roll-back plan", Duration::from_secs(10), |s| {
        s.contains("roll back the interrupted rollout")
    });
    tmux.keys(&["y"]);
    common::wait_for("every replica back on v2", Duration::from_secs(120), || {
        (healthy_on(&v2) == 4 && common::names_of(label.trim_start_matches("label=")) == names)
            .then_some(())
    });
    drop(tmux);
    // Nothing left to take over.
    let found = agile_deck::recovery::find(
        agile_deck::recovery::read(&journal),
        &["local (unix:///var/run/docker.sock)".to_string()],
    );
    assert!(found.is_empty(), "{found:#?}");
}

/// Issue 15, point 4: a private Docker daemon of the test's own is killed
/// (SIGKILL) under the dashboard and started again. The header says the
/// daemon is gone within 2 s; the view comes back by itself within 5 s of
/// the daemon answering; and it shows exactly what `docker ps -a` lists,
/// including a container created and one removed right after the restart.
#[test]
fn a_killed_daemon_is_said_at_once_and_the_view_recovers_exactly() {
    let test = "a_killed_daemon_is_said_at_once_and_the_view_recovers_exactly";
    if !docker_or_skip(test) || !tool_or_skip(test, "tmux") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = common::PrivateDaemon::start_or_skip(test, "e2e-lost") else {
        return;
    };
    let image = agile_deck_image();
    d.load(&image);
    let run = |name: &str| {
        d.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            "always",
            "--label",
            "layer=data",
            &image,
        ]);
    };
    for n in ["pd-1", "pd-2", "pd-3"] {
        run(n);
    }
    let tmux = Tmux::start(
        "private",
        &format!("{BIN} --host {} --no-prometheus --no-record", d.host),
    );
    tmux.wait("the data layer", Duration::from_secs(30), |s| {
        row(s, "data").is_some_and(|l| l.contains("3/3"))
    });
    tmux.keys(&["j", "j", "j", "j", "Enter", "Enter"]);
    tmux.wait("the replicas of pd", Duration::from_secs(10), |s| {
        ["pd-1", "pd-2", "pd-3"].iter().all(|n| row(s, n).is_some())
    });

    d.kill();
    let gone = Instant::now();
    tmux.wait("unreachable in the header", Duration::from_secs(5), |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("daemon unreachable"))
    });
    let said = gone.elapsed();
    eprintln!(
        "daemon killed → header says so after {} ms",
        said.as_millis()
    );
    assert!(said <= Duration::from_secs(2), "{said:?}");

    d.restart();
    let back = Instant::now();
    run("pd-4");
    d.docker(&["rm", "-f", "pd-1"]);
    let screen = tmux.wait(
        "the view back, as it is now",
        Duration::from_secs(10),
        |s| {
            s.lines().next().is_some_and(|h| !h.contains("unreachable"))
                && ["pd-2", "pd-3", "pd-4"].iter().all(|n| row(s, n).is_some())
                && row(s, "pd-1").is_none()
        },
    );
    let recovered = back.elapsed();
    eprintln!(
        "daemon answering → view recovered after {} ms\n{screen}",
        recovered.as_millis()
    );
    assert!(recovered <= Duration::from_secs(5), "{recovered:?}");
    // Exactly what the daemon lists: three containers, all running.
    let listed = d.docker(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(listed, ["pd-2 running", "pd-3 running", "pd-4 running"]);
    tmux.wait("3/3 in the header", Duration::from_secs(10), |s| {
        s.lines().next().is_some_and(|h| h.contains("3/3 running"))
    });
    tmux.keys(&["q"]);
    tmux.wait("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
}
