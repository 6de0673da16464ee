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

use common::{FakeAnswer, TestRun, docker, docker_or_skip, fake_prometheus, tool_or_skip};

/// The tests here share the terminal-heavy demo: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// A tmux server of our own, with one 120×40 session running `command`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("agile-deck-{name}-{}", std::process::id()),
        };
        // Keep the pane after the program exits, to read how it left the terminal.
        let wrapped = format!("{command}; echo EXIT=$?; sleep 120");
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
                "-s",
                "e2e",
                &wrapped,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    /// Send keys one at a time, so Esc is not read as Alt with the next key.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "e2e", k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "e2e"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_on(&self) -> bool {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "-t",
                "e2e",
                "#{alternate_on}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Wait until the screen satisfies `ok`; the screen is printed on timeout.
    fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

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
    assert_eq!(running.lines().count(), 21, "{running}");
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
        row(&screen, "execution").unwrap().contains("13/13"),
        "{screen}"
    );
    assert!(row(&screen, "data").unwrap().contains("3/3"), "{screen}");
    // Health settles to healthy within the health check's first interval.
    let screen = tmux.wait("all 21 healthy", Duration::from_secs(30), |s| {
        row(s, "execution").is_some_and(|l| l.contains("●13"))
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

    // Back up three levels, to the teams table.
    tmux.keys(&["Escape", "Escape", "Escape"]);
    tmux.wait("back at teams", Duration::from_secs(5), |s| {
        s.contains("agent teams")
    });

    // Help generated from the keymap, then the program's own log.
    tmux.keys(&["?"]);
    let screen = tmux.wait("help", Duration::from_secs(5), |s| {
        s.contains("keys (Esc closes)")
    });
    assert!(
        screen.contains("quit agile-deck") && screen.contains("drill down"),
        "{screen}"
    );
    tmux.keys(&["Escape", "L"]);
    let screen = tmux.wait("log pane", Duration::from_secs(5), |s| {
        s.contains("agile-deck log")
    });
    assert!(screen.contains("connected to unix://"), "{screen}");

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
        line.contains("21 read from cgroups · 0 Docker streams"),
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
    for (key, title) in [("Tab", "agent teams"), ("Tab", "layers")] {
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
        &format!("RUST_BACKTRACE=0 AGILE_DECK_TEST_PANIC=1 {BIN}"),
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

/// A TCP proxy to the Docker socket that can be cut and restored, to play
/// a daemon that goes away mid-session and comes back.
struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
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
                        std::thread::spawn(move || pump(&mut c_in, &mut d_out));
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
    let tmux = Tmux::start("lost", &format!("{BIN} --host tcp://127.0.0.1:{port}"));
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
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
        let (d, _) = agile_deck::connect::connect(&endpoint).await.unwrap();
        agile_deck::demo::ensure_image(&d, &mut |l| eprintln!("{l}"))
            .await
            .unwrap()
    })
}
