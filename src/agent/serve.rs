//! `agile-deck agent --stdio`, on the daemon's machine: the local stats
//! engine's own sampler (same code, same formulas) reading this machine's
//! cgroup and /proc files, its batches framed on stdout. It listens on
//! nothing and keeps nothing: stdin is its only input, and it exits when
//! stdin closes (the dashboard quit, or ssh dropped), so none is ever left
//! behind.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::wire::{self, Decoder, Frame, Hello, Numbering, PROTOCOL};
use crate::cgroup::{self, Layout};
use crate::engine::{CgroupReader, Report, Sampler, Target};

/// Serve until stdin closes; the exit code says how it ended (0: stdin
/// closed; 2: the dashboard speaks another protocol; 3: no cgroup files).
pub fn serve(every: Duration) -> i32 {
    let host_mem = cgroup::local_memory();
    // Only the daemon knows which hierarchy holds its containers on a
    // hybrid host; the agent takes the daemon's default (v1 when mounted).
    let layout = match Layout::detect("") {
        Ok(l) => l,
        Err(e) => {
            let mut b = Vec::new();
            wire::encode_hello(&Hello::ours(0, host_mem), &mut b);
            wire::encode_fatal(&format!("cannot read cgroup files here: {e}"), &mut b);
            send(&b);
            return 3;
        }
    };
    let mut b = Vec::new();
    wire::encode_hello(&Hello::ours(layout.version(), host_mem), &mut b);
    if !send(&b) {
        return 0;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Report>(64);
    let sampler = Sampler::start(layout, tx, every, host_mem);
    // Each set read from stdin starts a new numbering epoch (see `wire`).
    let sets = Arc::new(AtomicU64::new(0));
    {
        let sets = sets.clone();
        std::thread::Builder::new()
            .name("agent-stdin".into())
            .spawn(move || {
                // Whatever ends it ends the agent.
                std::process::exit(match read_sets(std::io::stdin().lock(), &sampler, &sets) {
                    // stdin closed: the dashboard is gone.
                    Ok(()) => 0,
                    Err(why) => {
                        let mut b = Vec::new();
                        wire::encode_fatal(&why, &mut b);
                        send(&b);
                        eprintln!("agile-deck agent: {why}");
                        2
                    }
                })
            })
            .expect("spawn the agent's stdin thread");
    }
    let mut numbering = Numbering::default();
    let mut seen_sets = 0;
    loop {
        let Some(report) = rx.blocking_recv() else {
            return 0;
        };
        b.clear();
        match report {
            Report::Stats { at, samples } => {
                let now = sets.load(Ordering::Acquire);
                if now != seen_sets {
                    seen_sets = now;
                    numbering.next_epoch();
                }
                numbering.encode_batch(at, &samples, host_mem, &mut b);
            }
            Report::NoCgroup(targets) => {
                let ids: Vec<String> = targets.into_iter().map(|t| t.id).collect();
                wire::encode_no_cgroup(&ids, &mut b);
            }
            Report::Remote(_) => continue,
        }
        // The dashboard gone (a broken pipe): nothing left to serve.
        if !send(&b) {
            return 0;
        }
    }
}

/// Whole frames to stdout (one lock each, so two threads never interleave).
fn send(frames: &[u8]) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(frames).and_then(|()| out.flush()).is_ok()
}

/// The dashboard's hello, then its sets, until stdin ends (Ok) or it
/// speaks another protocol (Err: why, naming both).
fn read_sets(mut input: impl Read, sampler: &Sampler, sets: &AtomicU64) -> Result<(), String> {
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut greeted = false;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(format!("the dashboard's input: {e}")),
            };
            match frame {
                Frame::Hello(h) if h.protocol != PROTOCOL => {
                    return Err(format!(
                        "the dashboard (agile-deck {}) speaks protocol {}; this agent \
                         (agile-deck {}) speaks protocol {PROTOCOL}",
                        h.version,
                        h.protocol,
                        env!("CARGO_PKG_VERSION")
                    ));
                }
                Frame::Hello(_) => greeted = true,
                Frame::Set(set) if greeted => {
                    sets.fetch_add(1, Ordering::AcqRel);
                    sampler.set(
                        set.into_iter()
                            .map(|w| Target {
                                host: Default::default(),
                                id: w.id,
                                pid: w.pid,
                            })
                            .collect(),
                    );
                }
                other => {
                    return Err(format!(
                        "the dashboard sent {other:?} before its hello, or a frame only an agent sends"
                    ));
                }
            }
        }
    }
}
