//! One recorded moment of the fleet: every replica's state, health and
//! figures, and the sums per service, team and layer. A frame's replicas
//! are stored as one compact blob (documented in the README, "The
//! history store"): 500 replicas take about 7 KB, so 5-second frames
//! fit the disk budget that a row per replica would overrun.

use chrono::{DateTime, Utc};

use crate::fleet::{Fleet, GroupBy, Row};
use crate::hosts::Hosts;
use crate::model::{Health, Replica, State};
use crate::stats::{Counters, Sample};
use crate::varint::{put, put_i};

/// A varint of the blob; None where it is cut.
fn get(r: &mut &[u8]) -> Option<u64> {
    crate::varint::get(r).ok()
}

fn get_i(r: &mut &[u8]) -> Option<i64> {
    crate::varint::get_i(r).ok()
}

/// Who a recorded replica is: enough to show it as it was once gone.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub host: String,
    pub container: String,
    pub name: String,
    pub image: String,
    pub service: String,
    /// `swarm`, `compose` or `named` (`ServiceId::kind_word`).
    pub service_kind: String,
    pub layer: Option<String>,
    pub team: Option<String>,
}

impl Identity {
    pub fn of(r: &Replica, hosts: &Hosts) -> Identity {
        Identity {
            host: hosts.name(r.host).to_string(),
            container: r.id.clone(),
            name: r.name.clone(),
            image: r.image.clone(),
            service: r.placement.service.name.clone(),
            service_kind: r.placement.service.kind_word().to_string(),
            layer: r.placement.layer.clone(),
            team: r.placement.team.clone(),
        }
    }
}

/// A recorded sample taken as read at `at`: the live fleet only shows
/// figures whose reading has a time (`Counters::at`).
pub fn sample_at(f: &Sample, at: DateTime<Utc>) -> Sample {
    let mut s = *f;
    s.counters.at = Some(at);
    s
}

/// One replica at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub state: State,
    pub health: Health,
    pub restarts: u64,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// None: running without figures yet, or not running. Only the
    /// figures are stored: the stream's counters read back as zero.
    pub figures: Option<Sample>,
}

impl Entry {
    pub fn of(r: &Replica, sample: Option<&Sample>) -> Entry {
        Entry {
            state: r.state.clone(),
            health: r.health,
            restarts: r.restart_count.max(0) as u64,
            exit_code: r.exit_code,
            oom_killed: r.oom_killed,
            figures: sample.filter(|_| r.is_running()).map(|s| Sample {
                counters: Counters::default(),
                ..*s
            }),
        }
    }
}

/// A row's sums at one moment (a service, team or layer).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// `layer`, `team` or `service`.
    pub kind: &'static str,
    pub name: String,
    pub running: usize,
    pub wanted: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    /// As the row shows them (`sampled`: running replicas with figures).
    pub figures: crate::fleet::Figures,
}

impl Group {
    fn of(kind: &'static str, r: &Row) -> Group {
        Group {
            kind,
            name: r.name.clone(),
            running: r.running,
            wanted: r.wanted,
            healthy: r.health.healthy,
            unhealthy: r.health.unhealthy,
            figures: r.figures,
        }
    }
}

/// The fleet at one moment, as the recorder writes it.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub at: DateTime<Utc>,
    pub replicas: Vec<(Identity, Entry)>,
    pub groups: Vec<Group>,
}

impl Frame {
    /// The fleet as it is: every replica (with figures when it has them)
    /// and the rows of every layer, team and service.
    pub fn of(fleet: &Fleet, hosts: &Hosts, at: DateTime<Utc>) -> Frame {
        let replicas = fleet
            .replicas
            .values()
            .map(|r| {
                let sample = fleet
                    .live
                    .get(&r.id)
                    .map(|l| &l.sample)
                    .filter(|s| s.counters.at.is_some());
                (Identity::of(r, hosts), Entry::of(r, sample))
            })
            .collect();
        let mut groups = Vec::new();
        let mut services = std::collections::BTreeMap::new();
        for (by, kind) in [(GroupBy::Layer, "layer"), (GroupBy::Team, "team")] {
            for row in fleet.group_rows(by) {
                groups.push(Group::of(kind, &row));
                if by == GroupBy::Layer {
                    for s in fleet.service_rows(by, &row.name) {
                        services.entry(s.name.clone()).or_insert(s);
                    }
                }
            }
        }
        groups.extend(services.values().map(|s| Group::of("service", s)));
        Frame {
            at,
            replicas,
            groups,
        }
    }
}

const STATES: [&str; 7] = [
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
];
const HEALTHS: [Health; 4] = [
    Health::Healthy,
    Health::Starting,
    Health::Unhealthy,
    Health::NoCheck,
];

fn state_code(s: &State) -> u64 {
    STATES.iter().position(|w| *s == *w).unwrap_or(STATES.len()) as u64
}

fn state_of(code: u64) -> State {
    STATES
        .get(code as usize)
        .map_or(State::Other("unknown".into()), |w| {
            State::from(w.to_string())
        })
}

/// Bits of an entry's flags: state (0-3), health (4-5), figures (6), OOM (7).
const HAS_FIGURES: u64 = 1 << 6;
const OOM: u64 = 1 << 7;

/// Append one entry: the replica's number in the store, then its flags,
/// restarts, exit code (zigzag) and, with figures: CPU in hundredths of
/// a percent, memory used in KiB, the limit in MiB, four rates in bytes
/// a second, pids. All LEB128 varints.
pub fn put_entry(out: &mut Vec<u8>, replica: i64, e: &Entry) {
    let health = HEALTHS.iter().position(|h| *h == e.health).unwrap_or(3) as u64;
    let mut flags = state_code(&e.state) | health << 4;
    if e.figures.is_some() {
        flags |= HAS_FIGURES;
    }
    if e.oom_killed {
        flags |= OOM;
    }
    put(out, replica as u64);
    put(out, flags);
    put(out, e.restarts);
    put_i(out, e.exit_code);
    if let Some(f) = &e.figures {
        put(out, (f.cpu_pct * 100.0).round().max(0.0) as u64);
        put(out, f.mem_used / 1024);
        put(out, f.mem_limit.div_ceil(1 << 20));
        for rate in [
            f.net_rx_rate,
            f.net_tx_rate,
            f.blk_read_rate,
            f.blk_write_rate,
        ] {
            put(out, rate.round().max(0.0) as u64);
        }
        put(out, f.pids);
    }
}

/// The entries of a blob, with each replica's number; None if it is cut.
pub fn entries(mut b: &[u8]) -> Option<Vec<(i64, Entry)>> {
    let r = &mut b;
    let mut out = Vec::new();
    while !r.is_empty() {
        let replica = get(r)? as i64;
        let flags = get(r)?;
        let restarts = get(r)?;
        let exit_code = get_i(r)?;
        let figures = if flags & HAS_FIGURES != 0 {
            let cpu = get(r)? as f64 / 100.0;
            let mem_used = get(r)? * 1024;
            let mem_limit = get(r)? << 20;
            let mut rates = [0.0; 4];
            for rate in &mut rates {
                *rate = get(r)? as f64;
            }
            Some(Sample {
                cpu_pct: cpu,
                mem_used,
                mem_limit,
                net_rx_rate: rates[0],
                net_tx_rate: rates[1],
                blk_read_rate: rates[2],
                blk_write_rate: rates[3],
                pids: get(r)?,
                counters: Counters::default(),
            })
        } else {
            None
        };
        out.push((
            replica,
            Entry {
                state: state_of(flags & 0xf),
                health: HEALTHS[((flags >> 4) & 3) as usize],
                restarts,
                exit_code,
                oom_killed: flags & OOM != 0,
                figures,
            },
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_in_their_units() {
        let running = Entry {
            state: State::Running,
            health: Health::Unhealthy,
            restarts: 3,
            exit_code: 0,
            oom_killed: false,
            figures: Some(Sample {
                cpu_pct: 97.25,
                mem_used: 64 << 20,
                mem_limit: 128 << 20,
                net_rx_rate: 1500.0,
                net_tx_rate: 20.0,
                blk_read_rate: 0.0,
                blk_write_rate: 4096.0,
                pids: 12,
                counters: Counters::default(),
            }),
        };
        let killed = Entry {
            state: State::Exited,
            health: Health::NoCheck,
            restarts: 0,
            exit_code: 137,
            oom_killed: true,
            figures: None,
        };
        let odd = Entry {
            state: State::Other("weird".into()),
            exit_code: -1,
            ..killed.clone()
        };
        let mut blob = Vec::new();
        put_entry(&mut blob, 7, &running);
        put_entry(&mut blob, 300, &killed);
        put_entry(&mut blob, 1, &odd);
        let back = entries(&blob).expect("whole");
        assert_eq!(back[0], (7, running));
        assert_eq!(back[1], (300, killed));
        assert_eq!(back[2].1.exit_code, -1);
        assert_eq!(back[2].1.state, State::Other("unknown".into()));
        // A cut blob is refused, not misread.
        assert!(entries(&blob[..blob.len() - 1]).is_none());
        // Compact: an idle running replica with figures is about 15 bytes.
        assert!(blob.len() < 45, "{} bytes", blob.len());
    }
}
