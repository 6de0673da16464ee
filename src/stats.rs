//! Live figures of one container, computed exactly as `docker stats` does
//! (docker/cli `cli/command/container/stats_helpers.go`), and the bounded
//! history behind the sparklines.

use std::collections::VecDeque;

use bollard::models::{ContainerBlkioStats, ContainerStatsResponse};
use chrono::{DateTime, Utc};

/// Cumulative counters of one stats reading: rates need two of them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub at: Option<DateTime<Utc>>,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
}

/// One processed reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Percent of one CPU (200 = two cores busy), like `docker stats`.
    pub cpu_pct: f64,
    /// Memory in use without the inactive file cache, bytes.
    pub mem_used: u64,
    /// Memory limit, bytes (the host's memory when the container has none).
    pub mem_limit: u64,
    pub pids: u64,
    /// Bytes per second, from the previous reading; 0 on the first one.
    pub net_rx_rate: f64,
    pub net_tx_rate: f64,
    pub blk_read_rate: f64,
    pub blk_write_rate: f64,
    pub counters: Counters,
}

/// CPU % as docker stats: (container CPU delta / system CPU delta) × online CPUs × 100.
/// None when there is no previous reading to compare with: the first
/// reading of a stream carries zeroed `precpu_stats`, and using it would
/// show the container's lifetime average instead of its current load.
pub fn cpu_percent(s: &ContainerStatsResponse) -> Option<f64> {
    let (Some(cpu), Some(pre)) = (&s.cpu_stats, &s.precpu_stats) else {
        return None;
    };
    if pre.system_cpu_usage.unwrap_or(0) == 0 {
        return None;
    }
    let total = |c: &bollard::models::ContainerCpuStats| {
        c.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let cpu_delta = total(cpu) as f64 - total(pre) as f64;
    let system_delta =
        cpu.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    // Older daemons do not send online_cpus: count the per-CPU entries.
    let online = match cpu.online_cpus {
        Some(n) if n > 0 => n as f64,
        _ => cpu
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map(|p| p.len() as f64)
            .unwrap_or(0.0),
    };
    Some(if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    })
}

/// Memory as docker stats: usage minus inactive file cache
/// (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
pub fn memory_used(s: &ContainerStatsResponse) -> u64 {
    let Some(m) = &s.memory_stats else { return 0 };
    let usage = m.usage.unwrap_or(0);
    let stats = m.stats.as_ref();
    let get = |k: &str| stats.and_then(|st| st.get(k)).copied();
    if let Some(v) = get("total_inactive_file")
        && v < usage
    {
        return usage - v;
    }
    match get("inactive_file") {
        Some(v) if v < usage => usage - v,
        _ => usage,
    }
}

/// Bytes read and written, summed over devices, as docker stats (op names
/// are "Read"/"Write" on cgroup v1 and "read"/"write" on v2).
pub fn block_io(b: Option<&ContainerBlkioStats>) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for e in b
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
        .into_iter()
        .flatten()
    {
        let v = e.value.unwrap_or(0);
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += v,
            Some("write") => write += v,
            _ => {}
        }
    }
    (read, write)
}

pub fn counters(s: &ContainerStatsResponse) -> Counters {
    let (mut rx, mut tx) = (0, 0);
    for n in s.networks.iter().flat_map(|n| n.values()) {
        rx += n.rx_bytes.unwrap_or(0);
        tx += n.tx_bytes.unwrap_or(0);
    }
    let (blk_read, blk_write) = block_io(s.blkio_stats.as_ref());
    Counters {
        at: s
            .read
            .as_ref()
            .map(|d| d.with_timezone(&Utc))
            .filter(|d| d.timestamp() > 0),
        net_rx: rx,
        net_tx: tx,
        blk_read,
        blk_write,
    }
}

fn rate(now: u64, before: u64, secs: f64) -> f64 {
    // A counter that went down was reset (container restarted): no rate.
    if secs > 0.0 && now >= before {
        (now - before) as f64 / secs
    } else {
        0.0
    }
}

/// Process one reading, given the counters of the previous one. None for
/// a reading without a previous CPU reading (see `cpu_percent`).
pub fn sample(s: &ContainerStatsResponse, prev: Option<&Counters>) -> Option<Sample> {
    let c = counters(s);
    let mut out = Sample {
        cpu_pct: cpu_percent(s)?,
        mem_used: memory_used(s),
        mem_limit: s.memory_stats.as_ref().and_then(|m| m.limit).unwrap_or(0),
        pids: s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
        counters: c,
        ..Sample::default()
    };
    if let Some(p) = prev
        && let (Some(now), Some(then)) = (c.at, p.at)
    {
        let secs = (now - then).num_milliseconds() as f64 / 1000.0;
        out.net_rx_rate = rate(c.net_rx, p.net_rx, secs);
        out.net_tx_rate = rate(c.net_tx, p.net_tx, secs);
        out.blk_read_rate = rate(c.blk_read, p.blk_read, secs);
        out.blk_write_rate = rate(c.blk_write, p.blk_write, secs);
    }
    Some(out)
}

/// Seconds per history slot: the sparkline shows one slot per cell.
pub const SLOT_SECS: i64 = 5;
/// Slots kept: 5 s × 120 = the last 10 minutes.
pub const HISTORY_SLOTS: usize = 120;

/// Bounded CPU history in fixed time slots, so histories of several
/// replicas line up and can be summed per service, team or layer.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// (slot number, CPU %), oldest first; the newest reading of a slot wins.
    points: VecDeque<(i64, f64)>,
}

impl History {
    pub fn slot_of(t: DateTime<Utc>) -> i64 {
        t.timestamp().div_euclid(SLOT_SECS)
    }

    pub fn push(&mut self, slot: i64, value: f64) {
        match self.points.back_mut() {
            Some((s, v)) if *s == slot => *v = value,
            Some((s, _)) if *s > slot => {} // late reading: ignore
            _ => {
                if self.points.len() == HISTORY_SLOTS {
                    self.points.pop_front();
                }
                self.points.push_back((slot, value));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Put recorded points older than any held before them (the history
    /// store's, at start), oldest first; the bound holds.
    pub fn backfill(&mut self, older: &[(i64, f64)]) {
        let first = self.points.front().map_or(i64::MAX, |(s, _)| *s);
        let mut last = i64::MIN;
        let mut front = Vec::new();
        for &(slot, v) in older {
            if slot < first && slot > last {
                front.push((slot, v));
                last = slot;
            }
        }
        let room = HISTORY_SLOTS.saturating_sub(self.points.len());
        for p in front.into_iter().rev().take(room) {
            self.points.push_front(p);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Add this history into `out`, whose last element is slot `last_slot`.
    pub fn add_into(&self, out: &mut [f64], last_slot: i64) {
        let n = out.len() as i64;
        for (slot, v) in self.points.iter().rev() {
            let idx = n - 1 - (last_slot - slot);
            if idx < 0 {
                break;
            }
            if idx < n {
                out[idx as usize] += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> ContainerStatsResponse {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn cgroup_v1_sample_matches_docker_stats() {
        // Captured from Docker 20.10 on cgroup v1; `docker stats` showed
        // 30.51 % and 21.96 MiB for this container at the same moment.
        let s = load("stats_cgroup_v1.json");
        let cpu = cpu_percent(&s).unwrap();
        // (1238280545 - 936399829) / (501220000000 - 499200000000) × 2 × 100
        assert!((cpu - 29.889_19).abs() < 0.001, "{cpu}");
        assert_eq!(memory_used(&s), 23216128 - 1363968);
        let smp = sample(&s, None).unwrap();
        assert_eq!(smp.pids, 5);
        assert_eq!(smp.mem_limit, 25_276_502_016);
        assert_eq!(smp.net_rx_rate, 0.0);
    }

    #[test]
    fn cgroup_v2_sample() {
        let s = load("stats_cgroup_v2.json");
        // No percpu_usage on v2: online_cpus is used.
        let cpu = cpu_percent(&s).unwrap();
        assert!((cpu - 50.0).abs() < 1e-9, "{cpu}");
        // usage 104857600 - inactive_file 4194304
        assert_eq!(memory_used(&s), 100_663_296);
        assert_eq!(block_io(s.blkio_stats.as_ref()), (8192, 4096 + 12288));
    }

    #[test]
    fn old_daemon_without_online_cpus_counts_percpu() {
        let s = load("stats_no_online_cpus.json");
        // delta 400 / 1000 × 4 percpu entries × 100
        assert!((cpu_percent(&s).unwrap() - 160.0).abs() < 1e-9);
        // No inactive file figures at all: usage as is.
        assert_eq!(memory_used(&s), 5000);
    }

    #[test]
    fn rates_from_consecutive_readings() {
        let s = load("stats_cgroup_v2.json");
        let mut prev = counters(&s);
        prev.at = prev.at.map(|t| t - chrono::Duration::seconds(2));
        prev.net_rx -= 2000;
        prev.net_tx -= 1000;
        prev.blk_read -= 8192;
        let smp = sample(&s, Some(&prev)).unwrap();
        assert_eq!(smp.net_rx_rate, 1000.0);
        assert_eq!(smp.net_tx_rate, 500.0);
        assert_eq!(smp.blk_read_rate, 4096.0);
        // A counter reset (restart) gives no negative rate.
        prev.net_rx = u64::MAX;
        assert_eq!(sample(&s, Some(&prev)).unwrap().net_rx_rate, 0.0);
    }

    #[test]
    fn zero_deltas_are_zero_not_nan() {
        let mut s = load("stats_cgroup_v1.json");
        s.precpu_stats = s.cpu_stats.clone();
        assert_eq!(cpu_percent(&s), Some(0.0));
        s.precpu_stats = None;
        assert_eq!(cpu_percent(&s), None);
    }

    #[test]
    fn first_reading_of_a_stream_has_no_cpu_figure() {
        // The daemon's first streamed reading has zeroed precpu_stats.
        let mut s = load("stats_cgroup_v1.json");
        let pre = s.precpu_stats.as_mut().unwrap();
        pre.system_cpu_usage = None;
        pre.cpu_usage = None;
        assert_eq!(cpu_percent(&s), None);
        assert_eq!(sample(&s, None), None);
    }

    #[test]
    fn history_is_bounded_and_aligned() {
        let mut h = History::default();
        for slot in 0..(HISTORY_SLOTS as i64 + 50) {
            h.push(slot, slot as f64);
        }
        assert_eq!(h.len(), HISTORY_SLOTS);
        h.push(10, 99.0); // late: ignored
        let last = HISTORY_SLOTS as i64 + 49;
        h.push(last, 1.0); // same slot: replaced
        let mut out = vec![0.0; 4];
        h.add_into(&mut out, last + 1);
        assert_eq!(out, vec![last as f64 - 2.0, last as f64 - 1.0, 1.0, 0.0]);
    }
}
