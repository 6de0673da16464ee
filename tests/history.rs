//! The flight recorder against a real daemon: a scripted incident
//! recorded headless (CPU burn, unhealthy, OOM kill, removal) and read back
//! with `snapshot --at` at each moment, alerts delivered to a local HTTP
//! server that fails at first (retried; recording unaffected) and to a
//! command, time travel in tmux, `kill -9` mid-recording, two writers,
//! and the Prometheus columns recorded from a real Prometheus.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{FAST_HEALTH, TestRun, docker, docker_or_skip, wait_for, workload_image};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// What the webhook stand-in received: every attempt's body and whether it
/// was refused (the first `refuse` attempts answer 500).
#[derive(Default)]
struct Hook {
    attempts: Vec<(Value, bool)>,
}

fn webhook(refuse: usize) -> (u16, Arc<Mutex<Hook>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hook = Arc::new(Mutex::new(Hook::default()));
    let seen = hook.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut h = seen.lock().unwrap();
            let refused = h.attempts.len() < refuse;
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            h.attempts.push((value, refused));
            let status = if refused {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, hook)
}

/// The delivered notices (refused attempts left out) as (status, kind, target).
fn delivered(hook: &Mutex<Hook>) -> Vec<(String, String, String)> {
    hook.lock()
        .unwrap()
        .attempts
        .iter()
        .filter(|(_, refused)| !refused)
        .map(|(v, _)| {
            (
                v["status"].as_str().unwrap_or("").to_string(),
                v["kind"].as_str().unwrap_or("").to_string(),
                v["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn record(store: &Path, config: &Path) -> Child {
    Command::new(BIN)
        .args(["--no-prometheus", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .arg("record")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn agile(args: &[&str], store: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `snapshot --at T --json`'s replica called `name`.
fn replica_at(store: &Path, at: chrono::DateTime<chrono::Utc>, name: &str) -> Option<Value> {
    let (code, out, err) = agile(&["snapshot", "--json", "--at", &at.to_rfc3339()], store);
    assert_eq!(code, 0, "snapshot --at {at}: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
}

fn knob(name: &str, query: &str) {
    docker(&[
        "exec",
        name,
        "/agile-sim",
        "probe",
        &format!("http://127.0.0.1:8080/knobs?{query}"),
    ]);
}

fn state(name: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.ExitCode}} {{.State.OOMKilled}}",
        name,
    ])
    .trim()
    .to_string()
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    unsafe_kill(child.id(), "TERM");
    child.wait().unwrap()
}

fn unsafe_kill(pid: u32, signal: &str) {
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_incident_is_recorded_then_read_back_and_alerted() {
    if !docker_or_skip("a_scripted_incident_is_recorded_then_read_back_and_alerted")
        || !common::tool_or_skip("the incident's time travel", "tmux")
    {
        return;
    }
    let img = workload_image().await;
    let t = TestRun::new();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db");
    let sent = dir.path().join("sent.jsonl");
    // The webhook refuses its first two attempts: retried with backoff.
    let (port, hook) = webhook(2);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[record]\nquiet = 20\n[alerts]\nwebhook = \"http://127.0.0.1:{port}/hook\"\ncommand = \"cat >> {}\"\nbackoff = 0.3\nper_minute = 600\n",
            sent.display()
        ),
    )
    .unwrap();
    let name = format!("inc{}-api", t.id);
    let layer = format!("incident{}", t.id);
    let label = t.label();
    let layer_label = format!("layer={layer}");
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--label",
        &layer_label,
        "--memory",
        "64m",
        "--memory-swap",
        "64m",
    ];
    args.extend_from_slice(&FAST_HEALTH);
    args.push(&img);
    docker(&args);
    common::wait_healthy(&label, 1);

    let mut rec = record(&store, &config);
    let started = Instant::now();
    // Two frames of calm.
    std::thread::sleep(Duration::from_secs(11));
    let calm = chrono::Utc::now();

    knob(&name, "cpu=0.9");
    std::thread::sleep(Duration::from_secs(12));
    let burning = chrono::Utc::now();

    knob(&name, "unhealthy=1");
    wait_for("unhealthy", Duration::from_secs(20), || {
        state(&name).contains("unhealthy").then_some(())
    });
    std::thread::sleep(Duration::from_secs(7));
    let sick = chrono::Utc::now();
    wait_for(
        "the unhealthy alert delivered",
        Duration::from_secs(30),
        || {
            delivered(&hook)
                .iter()
                .any(|(s, k, _)| s == "firing" && k == "unhealthy")
                .then_some(())
        },
    );

    // Past the 64 MiB limit: the kernel kills it.
    let _ = common::docker_cli()
        .args([
            "exec",
            &name,
            "/agile-sim",
            "probe",
            "http://127.0.0.1:8080/knobs?mem=200",
        ])
        .output();
    wait_for("OOM-killed", Duration::from_secs(30), || {
        state(&name).starts_with("exited").then_some(())
    });
    let killed_state = state(&name);
    std::thread::sleep(Duration::from_secs(7));
    let killed = chrono::Utc::now();
    // Its last words are kept before it is gone.
    wait_for(
        "its last log lines recorded",
        Duration::from_secs(20),
        || {
            let (_, out, _) = agile(
                &[
                    "history", "export", "--since", "5m", "--format", "json", "--target", &name,
                ],
                &store,
            );
            let v: Value = serde_json::from_str(&out).ok()?;
            v["events"]
                .as_array()?
                .iter()
                .any(|e| {
                    e["source"] == "log"
                        && e["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains("listening on"))
                })
                .then_some(())
        },
    );

    docker(&["rm", "-f", &name]);
    std::thread::sleep(Duration::from_secs(7));
    let removed = chrono::Utc::now();

    // Alerts: unhealthy fired and resolved (the replica no longer runs
    // unhealthy), the kill fired (OOM or exit 137), each delivered once,
    // after two refused attempts.
    wait_for("the alerts delivered", Duration::from_secs(60), || {
        let d = delivered(&hook);
        let has = |s: &str, k: &str| d.iter().any(|(a, b, _)| a == s && b == k);
        (has("firing", "unhealthy")
            && has("resolved", "unhealthy")
            && (has("firing", "oom") || has("firing", "exit137")))
        .then_some(())
    });
    // The kill resolves once `quiet` (20 s) passes with no new one.
    wait_for("the kill's alert resolved", Duration::from_secs(60), || {
        delivered(&hook)
            .iter()
            .any(|(s, k, _)| s == "resolved" && (k == "oom" || k == "exit137"))
            .then_some(())
    });
    {
        let d = delivered(&hook);
        let h = hook.lock().unwrap();
        assert_eq!(h.attempts.iter().filter(|(_, r)| *r).count(), 2);
        let unique: std::collections::BTreeSet<_> = d.iter().collect();
        assert_eq!(unique.len(), d.len(), "each notice once: {d:?}");
        let first = &h.attempts[0].0;
        assert!(
            first["text"].as_str().unwrap().starts_with("[FIRING]"),
            "{first}"
        );
    }
    // The command got the same notices as JSON lines.
    let lines: Vec<Value> = std::fs::read_to_string(&sent)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|v| v["status"] == "resolved" && v["kind"] == "unhealthy"),
        "{lines:?}"
    );

    let status = sigterm(&mut rec);
    assert!(status.success(), "record ended with {status}");
    let elapsed = started.elapsed().as_secs();
    // Recording went on while deliveries failed: a frame every 5 s.
    let (_, info, _) = agile(&["history", "info"], &store);
    let frames: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("frames:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        frames + 3 >= elapsed / 5,
        "{frames} frames in {elapsed} s:\n{info}"
    );

    // Each moment, read back.
    let r = replica_at(&store, calm, &name).expect("recorded calm");
    assert_eq!(r["state"], "running");
    assert_eq!(r["gone"], true, "{r}");
    let cpu = |r: &Value| r["cpu_percent"].as_f64().unwrap();
    assert!(cpu(&r) < 30.0, "{r}");
    let r = replica_at(&store, burning, &name).unwrap();
    assert!(cpu(&r) > 50.0, "burning: {r}");
    assert_eq!(r["health"], "healthy");
    assert!(r["memory_used"].as_u64().unwrap() > 0);
    let r = replica_at(&store, sick, &name).unwrap();
    assert_eq!(r["health"], "unhealthy", "{r}");
    let r = replica_at(&store, killed, &name).unwrap();
    assert_eq!(r["state"], "exited", "{r} ({killed_state})");
    assert_eq!(r["exit_code"], 137, "{r}");
    assert!(replica_at(&store, removed, &name).is_none());
    // The text snapshot names it gone.
    let (_, text, _) = agile(&["snapshot", "--at", &sick.to_rfc3339()], &store);
    assert!(text.starts_with("recorded at "), "{text}");

    // Export: its figures and its events.
    let (code, out, err) = agile(
        &[
            "history", "export", "--since", "10m", "--format", "json", "--target", &name,
        ],
        &store,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let figures = v["figures"].as_array().unwrap();
    assert!(figures.len() >= 8, "{}", figures.len());
    assert!(figures.iter().all(|f| f["replica"] == name.as_str()));
    let events: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"unhealthy"), "{events:?}");
    assert!(events.contains(&"die"), "{events:?}");
    let (_, csv, _) = agile(
        &["history", "export", "--since", "10m", "--target", &name],
        &store,
    );
    assert!(csv.starts_with("kind,time,host,replica"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("figures,")));
    assert!(csv.lines().any(|l| l.starts_with("event:docker,")));

    // Time travel in the dashboard: the unhealthy moment, a scale refused.
    let tmux = Tmux::start_sized(
        &format!("history{}", t.id),
        &format!(
            "{BIN} --no-prometheus --no-record --store {} --journal {}",
            store.display(),
            dir.path().join("journal.jsonl").display()
        ),
        (160, 48),
    );
    tmux.wait("the dashboard", Duration::from_secs(20), |s| {
        s.contains("running")
    });
    tmux.keys(&[":"]);
    tmux.keys(&[&format!("at {}", sick.to_rfc3339()), "Enter"]);
    let local = sick.with_timezone(&chrono::Local);
    let screen = tmux.wait("the past", Duration::from_secs(10), |s| {
        s.contains("(history)") && s.contains(&layer)
    });
    let row = screen
        .lines()
        .find(|l| l.contains(&layer))
        .unwrap()
        .to_string();
    assert!(row.contains("✖1"), "the layer's row then: {row}\n{screen}");
    let label_at = screen.lines().next().unwrap();
    let end = label_at.find(" (history)").unwrap();
    let shown = &label_at[end - 8..end];
    let shown = chrono::NaiveTime::parse_from_str(shown, "%H:%M:%S").unwrap();
    let diff = (local.time() - shown).num_seconds();
    assert!((0..=10).contains(&diff), "{shown} for {local}");
    tmux.keys(&["s"]);
    tmux.wait("the scale refused", Duration::from_secs(5), |s| {
        s.contains("refused: looking at the past")
    });
    tmux.keys(&[":"]);
    tmux.keys(&["at now", "Enter"]);
    tmux.wait("back to now", Duration::from_secs(5), |s| {
        !s.contains("(history)")
    });
}

#[test]
fn kill_9_mid_recording_leaves_a_store_that_opens_with_what_was_committed() {
    if !docker_or_skip("kill_9_mid_recording_leaves_a_store_that_opens_with_what_was_committed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mut kept = 0;
    // Three kills at different points of the 5 s cycle.
    for (i, wait) in [6.1, 8.7, 11.3].into_iter().enumerate() {
        let mut rec = record(&store, &config);
        std::thread::sleep(Duration::from_secs_f64(wait));
        unsafe_kill(rec.id(), "KILL");
        rec.wait().unwrap();
        let reader = agile_deck::history::Reader::open(&store).unwrap();
        assert_eq!(reader.integrity().unwrap(), "ok", "after kill {i}");
        let counts = reader.counts().unwrap();
        assert!(
            counts.fine > kept,
            "kill {i}: {} frames, {kept} before",
            counts.fine
        );
        kept = counts.fine;
        let (_, last) = reader.span().unwrap().unwrap();
        assert!(reader.moment(last).unwrap().is_some());
    }
    // A new writer takes the store over at once: the lock died with it.
    let mut rec = record(&store, &config);
    std::thread::sleep(Duration::from_secs(6));
    let status = sigterm(&mut rec);
    assert!(status.success());
    let counts = agile_deck::history::Reader::open(&store)
        .unwrap()
        .counts()
        .unwrap();
    assert!(counts.fine > kept);
}

#[test]
fn a_second_writer_is_refused_with_the_first_ones_pid() {
    if !docker_or_skip("a_second_writer_is_refused_with_the_first_ones_pid")
        || !common::tool_or_skip("the dashboard as second writer", "tmux")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mut first = record(&store, &config);
    wait_for("the first writer", Duration::from_secs(20), || {
        store.exists().then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let second = Command::new(BIN)
        .args(["--no-prometheus", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .arg("record")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("pid {}", first.id())) && err.contains("one writer per store"),
        "{err}"
    );
    let (_, info, _) = agile(&["history", "info"], &store);
    assert!(
        info.contains(&format!("writer:   pid {}", first.id())),
        "{info}"
    );
    // The dashboard opened on it is told, and goes on without recording.
    let tmux = Tmux::start(
        "second-writer",
        &format!(
            "{BIN} --no-prometheus --store {} --journal {}",
            store.display(),
            dir.path().join("journal.jsonl").display()
        ),
    );
    tmux.wait("told who records", Duration::from_secs(20), |s| {
        s.contains(&format!("pid {}", first.id())) && s.contains("running")
    });
    drop(tmux);
    assert!(sigterm(&mut first).success());
}

/// A recorder started again on its store goes on from the alerts it had
/// sent: one still firing is not sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_started_again_does_not_alert_twice() {
    if !docker_or_skip("a_recorder_started_again_does_not_alert_twice") {
        return;
    }
    let img = workload_image().await;
    let t = TestRun::new();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db");
    let (port, hook) = webhook(0);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[alerts]\nwebhook = \"http://127.0.0.1:{port}/hook\"\nper_minute = 600\n"),
    )
    .unwrap();
    let name = format!("again{}-api", t.id);
    let label = t.label();
    let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
    args.extend_from_slice(&FAST_HEALTH);
    args.extend(["-e", "UNHEALTHY=1", &img]);
    docker(&args);
    let service = name.clone();
    let fired = || {
        delivered(&hook)
            .iter()
            .filter(|(s, k, target)| s == "firing" && k == "unhealthy" && *target == service)
            .count()
    };
    let mut first = record(&store, &config);
    wait_for("the unhealthy alert", Duration::from_secs(40), || {
        (fired() == 1).then_some(())
    });
    assert!(sigterm(&mut first).success());

    let mut again = record(&store, &config);
    // Three frames: evaluated three times, with the replica still unhealthy.
    std::thread::sleep(Duration::from_secs(16));
    assert_eq!(fired(), 1, "sent again: {:?}", delivered(&hook));
    assert!(
        !delivered(&hook)
            .iter()
            .any(|(s, _, target)| s == "resolved" && *target == service),
        "{:?}",
        delivered(&hook)
    );
    assert!(sigterm(&mut again).success());
}

/// A hang-up (the session `record` was started from goes) ends it as
/// SIGTERM does, its store finished; under `nohup` it records on.
#[test]
fn a_hang_up_ends_record_cleanly_unless_under_nohup() {
    if !docker_or_skip("a_hang_up_ends_record_cleanly_unless_under_nohup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let started = |store: &Path| {
        wait_for("recording", Duration::from_secs(20), || {
            store.exists().then_some(())
        });
        std::thread::sleep(Duration::from_secs(1));
    };

    let store = dir.path().join("plain.db");
    let mut plain = record(&store, &config);
    started(&store);
    unsafe_kill(plain.id(), "HUP");
    let status = plain.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let store = dir.path().join("nohup.db");
    let mut nohup = Command::new("nohup")
        .arg(BIN)
        .args(["--no-prometheus", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .arg("record")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    started(&store);
    unsafe_kill(nohup.id(), "HUP");
    std::thread::sleep(Duration::from_secs(1));
    assert!(nohup.try_wait().unwrap().is_none(), "still recording");
    let (_, info, _) = agile(&["history", "info"], &store);
    assert!(
        info.contains(&format!("writer:   pid {}", nohup.id())),
        "{info}"
    );
    assert!(sigterm(&mut nohup).success());
}

/// The Prometheus columns, recorded with the fleet from a real Prometheus
/// scraping a workload: exported, shown by `snapshot --at`, and the same
/// as Prometheus's own answer at that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_columns_are_recorded_with_the_fleet() {
    const TEST: &str = "prometheus_columns_are_recorded_with_the_fleet";
    if !docker_or_skip(TEST) || !common::tool_or_skip(TEST, "prometheus") {
        return;
    }
    let t = TestRun::new();
    let img = workload_image().await;
    let project = format!("ph{}", t.id);
    common::run_labelled(
        &t,
        &format!("{project}-api-1"),
        &[
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            &format!("com.docker.compose.service={project}-api"),
            "--label",
            "layer=control",
            "-p",
            "127.0.0.1::8080",
            "-e",
            "LOAD_RPS=20",
        ],
        &img,
    );
    // A Prometheus that scrapes this test's container only, every second.
    let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = agile_deck::promserver::free_port(0).unwrap();
    let scrape =
        agile_deck::promserver::scrape_config(&endpoint.url, &t.label(), Duration::from_secs(1));
    let server =
        agile_deck::promserver::Server::start(&dir.path().join("prom"), port, &scrape).unwrap();
    let url = server.url();
    let store = dir.path().join("history.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mut rec = Command::new(BIN)
        .args([
            "--prometheus",
            &url,
            "--prometheus-interval",
            "1",
            "--config",
        ])
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .arg("record")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The control layer's request rate, once Prometheus has a steady
    // rate (its first answers, over a few scrapes, read low).
    let req = wait_for("REQ/s of control recorded", Duration::from_secs(90), || {
        let (code, out, _) = agile(
            &[
                "history", "export", "--since", "5m", "--format", "json", "--target", "control",
            ],
            &store,
        );
        let v: Value = serde_json::from_str(&out).ok().filter(|_| code == 0)?;
        v["metrics"]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["metric"] == "REQ/s" && m["value"].as_f64().is_some_and(|v| v > 15.0))
            .cloned()
    });
    assert_eq!(req["target"], "control", "{req}");
    let value = req["value"].as_f64().unwrap();
    assert!(
        (10.0..30.0).contains(&value),
        "LOAD_RPS=20 recorded as {value}"
    );
    let at: chrono::DateTime<chrono::Utc> = req["time"].as_str().unwrap().parse().unwrap();
    // `snapshot --at` that moment has the same answer on the layer.
    let (code, out, err) = agile(&["snapshot", "--json", "--at", &at.to_rfc3339()], &store);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["recorded"]["metrics"]["control"]["REQ/s"].as_f64(),
        Some(value),
        "{}",
        v["recorded"]
    );
    // Prometheus's own answer then: the recorder asked it at most a
    // second before the frame (--prometheus-interval 1), and the rate of
    // a steady load over a minute moves little in a second.
    let query = reqwest::Url::parse_with_params(
        &format!("{url}/api/v1/query"),
        &[
            (
                "query",
                r#"sum(rate(agile_sim_requests_total{layer="control"}[1m]))"#.to_string(),
            ),
            ("time", at.timestamp().to_string()),
        ],
    )
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body: Value = reqwest::get(query).await.unwrap().json().await.unwrap();
    let direct: f64 = body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        (value - direct).abs() <= 0.15 * direct,
        "recorded {value}, Prometheus {direct}"
    );
    assert!(sigterm(&mut rec).success());
    drop(server);
}
