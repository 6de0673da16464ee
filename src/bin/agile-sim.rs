//! agile-sim: the workload that stands in for every service of the demo
//! deployment and of the tests.
//!
//! It is std-only on purpose: `build.rs` compiles this single file with
//! `rustc -C target-feature=+crt-static` and agile-deck embeds the result,
//! so the `FROM scratch` image can be built anywhere agile-deck runs,
//! without cargo, a registry or a second dependency tree.
//!
//! Subcommands:
//!   serve            (default) HTTP on $PORT (8080): /health /metrics /version /work /knobs
//!   probe URL        GET URL, exit 0 on HTTP 200 (the image's HEALTHCHECK: no curl in scratch)
//!   resolve NAME     print the addresses NAME resolves to
//!
//! Knobs, from env at start and `GET /knobs?name=value&…` at run time:
//!   UNHEALTHY=1            /health answers 503
//!   UNHEALTHY_IF_VERSION=v /health answers 503 when VERSION == v
//!   CPU=0.3                burn that share of one core (may exceed 1)
//!   MEM_MIB=64             hold that many MiB of touched memory
//!   LOG_RATE=5             write that many log lines per second (1 in 10 on stderr)
//!   ERROR_RATE=0.1         share of /work requests answered 500
//!   LATENCY_MS=20          mean latency of /work requests
//!   LOAD_RPS=10            requests per second the workload serves to itself
//!   BUSY_AGENTS=3          value of the busy-agents gauge
//!   EXIT_AFTER=5 EXIT_CODE=3  exit with that code after that many seconds
//!   CALL=url,url CALL_RPS=2    call other services (GET) that often
//!   LOG_RAW_HEX=6869ff     write those bytes as one line at start

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Knobs {
    unhealthy: bool,
    unhealthy_if_version: String,
    cpu: f64,
    mem_mib: u64,
    log_rate: f64,
    error_rate: f64,
    latency_ms: f64,
    load_rps: f64,
    busy_agents: f64,
}

#[derive(Default)]
struct Metrics {
    requests: HashMap<u16, u64>,
    /// Outgoing calls by upstream host: (answered 2xx, failed). A failure
    /// is no answer (resolve, connect, timeout) or any other status.
    calls: HashMap<String, (u64, u64)>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

struct Sim {
    version: String,
    knobs: Mutex<Knobs>,
    metrics: Mutex<Metrics>,
    memory: Mutex<Vec<u8>>,
    seed: AtomicU64,
    stop: AtomicBool,
}

fn env_f64(name: &str) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

impl Sim {
    fn from_env() -> Sim {
        let knobs = Knobs {
            unhealthy: env_flag("UNHEALTHY"),
            unhealthy_if_version: std::env::var("UNHEALTHY_IF_VERSION").unwrap_or_default(),
            cpu: env_f64("CPU"),
            mem_mib: env_f64("MEM_MIB") as u64,
            log_rate: env_f64("LOG_RATE"),
            error_rate: env_f64("ERROR_RATE"),
            latency_ms: env_f64("LATENCY_MS"),
            load_rps: env_f64("LOAD_RPS"),
            busy_agents: env_f64("BUSY_AGENTS"),
        };
        let version = std::env::var("VERSION").unwrap_or_else(|_| "dev".into());
        let sim = Sim {
            version,
            knobs: Mutex::new(knobs),
            metrics: Mutex::new(Metrics::default()),
            memory: Mutex::new(Vec::new()),
            seed: AtomicU64::new(0x2545_f491_4f6c_dd1d ^ std::process::id() as u64),
            stop: AtomicBool::new(false),
        };
        let mib = sim.knobs.lock().unwrap().mem_mib;
        sim.hold_memory(mib);
        sim
    }

    /// xorshift: good enough to spread errors and latencies, no dependency.
    fn random(&self) -> f64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn healthy(&self) -> bool {
        let k = self.knobs.lock().unwrap();
        !(k.unhealthy
            || (!k.unhealthy_if_version.is_empty() && k.unhealthy_if_version == self.version))
    }

    fn hold_memory(&self, mib: u64) {
        let mut mem = self.memory.lock().unwrap();
        let bytes = (mib as usize) << 20;
        mem.clear();
        mem.shrink_to_fit();
        // Touch every page so the memory is really resident (and counted).
        *mem = vec![1u8; bytes];
    }

    /// Serve one simulated request and record it; returns (status, seconds).
    fn work(&self) -> (u16, f64) {
        let (error_rate, latency_ms) = {
            let k = self.knobs.lock().unwrap();
            (k.error_rate, k.latency_ms)
        };
        let status = if self.random() < error_rate { 500 } else { 200 };
        // Latency spread ±50 % around the mean.
        let secs = latency_ms / 1000.0 * (0.5 + self.random());
        self.record(status, secs);
        (status, secs)
    }

    fn record(&self, status: u16, secs: f64) {
        let mut m = self.metrics.lock().unwrap();
        *m.requests.entry(status).or_default() += 1;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                m.buckets[i] += 1;
            }
        }
        m.sum += secs;
        m.count += 1;
    }

    fn metrics_text(&self) -> String {
        let m = self.metrics.lock().unwrap();
        let busy = self.knobs.lock().unwrap().busy_agents;
        let mut out = String::new();
        out += "# HELP agile_sim_requests_total Requests served, by status code.\n";
        out += "# TYPE agile_sim_requests_total counter\n";
        let mut codes: Vec<_> = m.requests.iter().collect();
        codes.sort();
        if codes.is_empty() {
            out += "agile_sim_requests_total{code=\"200\"} 0\n";
        }
        for (code, n) in codes {
            out += &format!("agile_sim_requests_total{{code=\"{code}\"}} {n}\n");
        }
        out += "# HELP agile_sim_request_duration_seconds Request latency.\n";
        out += "# TYPE agile_sim_request_duration_seconds histogram\n";
        for (i, le) in BUCKETS.iter().enumerate() {
            out += &format!(
                "agile_sim_request_duration_seconds_bucket{{le=\"{le}\"}} {}\n",
                m.buckets[i]
            );
        }
        out += &format!(
            "agile_sim_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
            m.count
        );
        out += &format!("agile_sim_request_duration_seconds_sum {}\n", m.sum);
        out += &format!("agile_sim_request_duration_seconds_count {}\n", m.count);
        out += "# HELP agile_sim_calls_total Calls made to upstream services, by outcome.\n";
        out += "# TYPE agile_sim_calls_total counter\n";
        let mut calls: Vec<_> = m.calls.iter().collect();
        calls.sort();
        for (upstream, (ok, failed)) in calls {
            out +=
                &format!("agile_sim_calls_total{{upstream=\"{upstream}\",outcome=\"ok\"}} {ok}\n");
            out += &format!(
                "agile_sim_calls_total{{upstream=\"{upstream}\",outcome=\"failed\"}} {failed}\n"
            );
        }
        out += "# HELP agile_sim_busy_agents Agents currently busy.\n";
        out += "# TYPE agile_sim_busy_agents gauge\n";
        out += &format!("agile_sim_busy_agents {busy}\n");
        out += "# HELP agile_sim_info Version of the workload.\n";
        out += "# TYPE agile_sim_info gauge\n";
        out += &format!("agile_sim_info{{version=\"{}\"}} 1\n", self.version);
        out
    }

    /// Apply `name=value` pairs from a query string; returns what changed.
    fn set_knobs(&self, query: &str) -> Result<String, String> {
        let mut changed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, "1"));
            let num = || {
                value
                    .parse::<f64>()
                    .map_err(|_| format!("{name}: not a number: {value}"))
            };
            let mut k = self.knobs.lock().unwrap();
            match name {
                "unhealthy" => k.unhealthy = matches!(value, "1" | "true" | "yes"),
                "unhealthy_if_version" => k.unhealthy_if_version = value.to_string(),
                "cpu" => k.cpu = num()?,
                "log_rate" | "log" => k.log_rate = num()?,
                "error_rate" => k.error_rate = num()?,
                "latency_ms" => k.latency_ms = num()?,
                "load_rps" => k.load_rps = num()?,
                "busy_agents" => k.busy_agents = num()?,
                "mem_mib" | "mem" => {
                    let mib = num()? as u64;
                    k.mem_mib = mib;
                    drop(k);
                    self.hold_memory(mib);
                }
                "exit" => {
                    let code = num()? as i32;
                    drop(k);
                    exit_later(code, Duration::from_millis(50));
                }
                other => return Err(format!("unknown knob: {other}")),
            }
            changed.push(format!("{name}={value}"));
        }
        Ok(changed.join(" "))
    }
}

fn exit_later(code: i32, after: Duration) {
    thread::spawn(move || {
        thread::sleep(after);
        println!("agile-sim: exiting with code {code}");
        std::process::exit(code);
    });
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(sim: &Sim, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers; we need none of them.
    let mut header = String::new();
    while reader
        .read_line(&mut header)
        .map(|n| n > 2)
        .unwrap_or(false)
    {
        header.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let text = "text/plain; charset=utf-8";
    match path {
        "/health" | "/healthz" => {
            if sim.healthy() {
                respond(&mut stream, 200, text, "ok\n")
            } else {
                respond(&mut stream, 503, text, "unhealthy\n")
            }
        }
        "/metrics" => respond(
            &mut stream,
            200,
            "text/plain; version=0.0.4",
            &sim.metrics_text(),
        ),
        "/version" => respond(&mut stream, 200, text, &format!("{}\n", sim.version)),
        "/knobs" => match sim.set_knobs(query) {
            Ok(changed) => respond(&mut stream, 200, text, &format!("ok {changed}\n")),
            Err(e) => respond(&mut stream, 400, text, &format!("{e}\n")),
        },
        "/" | "/work" => {
            let (status, secs) = sim.work();
            thread::sleep(Duration::from_secs_f64(secs));
            respond(
                &mut stream,
                status,
                text,
                &format!("{status} {}\n", sim.version),
            )
        }
        _ => respond(&mut stream, 404, text, "not found\n"),
    }
}

fn burner(sim: Arc<Sim>, index: usize) {
    // Each burner thread takes up to one core: thread i burns min(cpu - i, 1).
    let window = Duration::from_millis(20);
    while !sim.stop.load(Ordering::Relaxed) {
        let share = (sim.knobs.lock().unwrap().cpu - index as f64).clamp(0.0, 1.0);
        if share <= 0.0 {
            // Idle: wake rarely. Hundreds of idle replicas waking 50 times
            // a second each would load the host they are meant to model.
            thread::sleep(Duration::from_millis(250));
            continue;
        }
        let start = Instant::now();
        let busy = window.mul_f64(share);
        let mut x = 0u64;
        while start.elapsed() < busy {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if let Some(rest) = window.checked_sub(start.elapsed()) {
            thread::sleep(rest);
        }
    }
}

fn logger(sim: Arc<Sim>) {
    let mut n: u64 = 0;
    loop {
        let rate = sim.knobs.lock().unwrap().log_rate;
        if rate <= 0.0 {
            thread::sleep(Duration::from_millis(500));
            continue;
        }
        n += 1;
        if n.is_multiple_of(10) {
            eprintln!(
                "agile-sim {} warn line={n} something looks slow",
                sim.version
            );
        } else {
            println!("agile-sim {} info line={n} handled task", sim.version);
        }
        thread::sleep(Duration::from_secs_f64(1.0 / rate.min(10_000.0)));
    }
}

fn self_load(sim: Arc<Sim>) {
    loop {
        let rps = sim.knobs.lock().unwrap().load_rps;
        if rps <= 0.0 {
            thread::sleep(Duration::from_millis(500));
            continue;
        }
        sim.work();
        thread::sleep(Duration::from_secs_f64(1.0 / rps.min(10_000.0)));
    }
}

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_term(_: i32) {
    // As PID 1 the kernel ignores SIGTERM unless we handle it; stop promptly.
    std::process::exit(0);
}

fn serve() {
    // SIGTERM = 15, SIGINT = 2.
    unsafe {
        signal(15, on_term);
        signal(2, on_term);
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    // LOG_RAW_HEX=ff00…: one line of raw bytes at start (not UTF-8, for
    // the tests of whoever reads these logs).
    if let Ok(hex) = std::env::var("LOG_RAW_HEX") {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        let mut out = std::io::stdout();
        let _ = out.write_all(&bytes);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
    let sim = Arc::new(Sim::from_env());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("agile-sim: cannot listen on port {port}: {e}");
            std::process::exit(2);
        }
    };
    println!("agile-sim {} listening on :{port}", sim.version);
    let cores = sim.knobs.lock().unwrap().cpu.ceil().max(1.0) as usize;
    for i in 0..cores.max(2) {
        let s = sim.clone();
        thread::spawn(move || burner(s, i));
    }
    let s = sim.clone();
    thread::spawn(move || logger(s));
    let s = sim.clone();
    thread::spawn(move || self_load(s));
    let calls: Vec<String> = std::env::var("CALL")
        .unwrap_or_default()
        .split(',')
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect();
    if !calls.is_empty() {
        let rps = match env_f64("CALL_RPS") {
            r if r > 0.0 => r,
            _ => 1.0,
        };
        let s = sim.clone();
        thread::spawn(move || caller(s, calls, rps));
    }
    let after = env_f64("EXIT_AFTER");
    if after > 0.0 {
        exit_later(env_f64("EXIT_CODE") as i32, Duration::from_secs_f64(after));
    }
    for stream in listener.incoming().flatten() {
        let s = sim.clone();
        thread::spawn(move || handle(&s, stream));
    }
}

/// GET `http://host[:port]/path`; the status code and the body.
fn http_get(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {hostport}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let host = hostport.split(':').next().unwrap_or("");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer from {addr}"))?;
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    Ok((status, body))
}

/// `probe http://host:port/path`: exit 0 when the answer is HTTP 200.
fn probe(url: &str) -> i32 {
    match http_get(url) {
        Ok((status, body)) => {
            println!("{status} {body}");
            if status == 200 { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("probe: {e}");
            1
        }
    }
}

/// The host of `http://host[:port]/…`.
fn upstream_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport.split(':').next().unwrap_or(hostport)
}

/// Call the services in $CALL (comma-separated URLs) at $CALL_RPS each:
/// real traffic between the demo's zones, counted by outcome in
/// `agile_sim_calls_total` so a broken path shows on the dashboard.
fn caller(sim: Arc<Sim>, urls: Vec<String>, rps: f64) {
    let mut failures: u64 = 0;
    loop {
        for url in &urls {
            let outcome = match http_get(url) {
                Ok((status, _)) if (200..300).contains(&status) => Ok(()),
                Ok((status, _)) => Err(format!("HTTP {status}")),
                Err(e) => Err(e),
            };
            {
                let mut m = sim.metrics.lock().unwrap();
                let c = m.calls.entry(upstream_of(url).to_string()).or_default();
                if outcome.is_ok() {
                    c.0 += 1;
                } else {
                    c.1 += 1;
                }
            }
            if let Err(e) = outcome {
                failures += 1;
                // One line per 20 failures: a dead upstream must not flood the log.
                if failures % 20 == 1 {
                    eprintln!("agile-sim: call {url} failed ({failures} so far): {e}");
                }
            }
        }
        thread::sleep(Duration::from_secs_f64(1.0 / rps.clamp(0.01, 1000.0)));
    }
}

fn resolve(name: &str) -> i32 {
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => {
            for a in addrs {
                println!("{}", a.ip());
            }
            0
        }
        Err(e) => {
            eprintln!("resolve {name}: {e}");
            1
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None | Some("serve") => serve(),
        Some("probe") => std::process::exit(probe(
            args.get(2)
                .map(String::as_str)
                .unwrap_or("http://127.0.0.1:8080/health"),
        )),
        Some("resolve") => match args.get(2) {
            Some(name) => std::process::exit(resolve(name)),
            None => {
                eprintln!("usage: agile-sim resolve NAME");
                std::process::exit(2)
            }
        },
        Some("--version") => println!(
            "agile-sim {}",
            option_env!("CARGO_PKG_VERSION").unwrap_or("?")
        ),
        Some(other) => {
            eprintln!("agile-sim: unknown command {other}; use serve | probe URL | resolve NAME");
            std::process::exit(2)
        }
    }
}
