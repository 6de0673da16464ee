//! The limits `docker update` sets, Docker's units for them (`1.5` cpus,
//! `512m`, `2g`), and the rules Docker enforces that an operator should not
//! have to remember (memory-swap must stay at least memory).

use serde::Serialize;

/// Limits of a container, as the API has them. In a change, `None` means
/// "leave as is"; in a container's current values, 0 means unset and -1
/// unlimited (swap, pids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The same as `docker service update` flags (`--limit-cpu 1.5 …`).
    pub fn service_flags(&self) -> String {
        self.cli_flags()
            .replace("--cpus", "--limit-cpu")
            .replace("--memory-reservation", "--reserve-memory")
            .replace("--memory ", "--limit-memory ")
            .replace("--pids-limit", "--limit-pids")
    }

    /// `--cpus 1.5 --memory 512m …`, the flags `docker update` takes.
    pub fn cli_flags(&self) -> String {
        let mut out = Vec::new();
        if let Some(n) = self.nano_cpus {
            out.push(format!("--cpus {}", cpus_text(n)));
        }
        if let Some(m) = self.memory {
            out.push(format!("--memory {}", bytes_text(m)));
        }
        if let Some(m) = self.memory_reservation {
            out.push(format!("--memory-reservation {}", bytes_text(m)));
        }
        if let Some(m) = self.memory_swap {
            out.push(format!("--memory-swap {}", bytes_text(m)));
        }
        if let Some(p) = self.pids_limit {
            out.push(format!("--pids-limit {p}"));
        }
        out.join(" ")
    }

    /// `cpus 0.5 → 1, memory 64m → 128m` for what `change` touches.
    pub fn describe_change(&self, change: &Resources) -> String {
        let mut out = Vec::new();
        let pair = |name: &str, before: Option<i64>, after: Option<i64>, f: fn(i64) -> String| {
            after.map(|a| format!("{name} {} → {}", before.map(f).unwrap_or("-".into()), f(a)))
        };
        out.extend(pair("cpus", self.nano_cpus, change.nano_cpus, cpus_text));
        out.extend(pair("memory", self.memory, change.memory, bytes_text));
        out.extend(pair(
            "reservation",
            self.memory_reservation,
            change.memory_reservation,
            bytes_text,
        ));
        out.extend(pair(
            "swap",
            self.memory_swap,
            change.memory_swap,
            bytes_text,
        ));
        out.extend(pair("pids", self.pids_limit, change.pids_limit, |p| {
            if p <= 0 {
                "unlimited".into()
            } else {
                p.to_string()
            }
        }));
        out.join(", ")
    }

    /// `change` without what already has that value here.
    pub fn without_unchanged(&self, change: &Resources) -> Resources {
        let keep = |new: Option<i64>, old: Option<i64>| new.filter(|n| Some(*n) != old);
        Resources {
            nano_cpus: keep(change.nano_cpus, self.nano_cpus),
            memory: keep(change.memory, self.memory),
            memory_reservation: keep(change.memory_reservation, self.memory_reservation),
            memory_swap: keep(change.memory_swap, self.memory_swap),
            pids_limit: keep(change.pids_limit, self.pids_limit),
        }
    }

    /// The current values restricted to what `change` sets: what undo
    /// restores.
    pub fn restricted_to(&self, change: &Resources) -> Resources {
        Resources {
            nano_cpus: change.nano_cpus.and(self.nano_cpus),
            memory: change.memory.and(self.memory),
            memory_reservation: change.memory_reservation.and(self.memory_reservation),
            memory_swap: change.memory_swap.and(self.memory_swap),
            pids_limit: change.pids_limit.and(self.pids_limit),
        }
    }
}

pub fn cpus_text(nano: i64) -> String {
    if nano <= 0 {
        return "unlimited".into();
    }
    let c = nano as f64 / 1e9;
    let s = format!("{c:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Bytes in Docker's units: `512m`, `2g`, `1536k`; -1 is unlimited.
pub fn bytes_text(b: i64) -> String {
    match b {
        -1 => "unlimited".into(),
        0 => "unset".into(),
        _ => {
            for (unit, size) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if b % size == 0 {
                    return format!("{}{unit}", b / size);
                }
            }
            format!("{b}b")
        }
    }
}

/// `1.5`, `0.25`, `unlimited` → NanoCpus.
pub fn parse_cpus(s: &str, host_cpus: u64) -> Result<i64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") {
        return Ok(0);
    }
    let v: f64 = t
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("cpus {t:?}: give a number of cores like 0.5 or 2"))?;
    if v <= 0.0 {
        return Err(format!(
            "cpus {t}: give more than 0 (Docker reads 0 as no limit: write cpus=unlimited for that)"
        ));
    }
    if v < 0.01 {
        return Err(format!("cpus {t}: Docker's smallest limit is 0.01"));
    }
    if host_cpus > 0 && v > host_cpus as f64 {
        return Err(format!(
            "cpus {t}: this host has {host_cpus} CPUs, Docker refuses more"
        ));
    }
    Ok((v * 1e9).round() as i64)
}

/// `512m`, `2g`, `1.5g`, `65536`, `100k`, `1t` → bytes; `unlimited` → -1
/// where `allow_unlimited` (swap).
pub fn parse_bytes(s: &str, what: &str, allow_unlimited: bool) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if allow_unlimited && (t == "unlimited" || t == "-1") {
        return Ok(-1);
    }
    let bad = || format!("{what} {s:?}: give a size like 512m or 2g (units b, k, m, g, t)");
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim_end_matches('b') {
        "" if unit.is_empty() || unit == "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = (n * mult).round();
    if bytes <= 0.0 {
        return Err(format!("{what} {s}: give more than 0"));
    }
    if bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// `100`, `unlimited` → PidsLimit (-1 unlimited).
pub fn parse_pids(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t == "-1" {
        return Ok(-1);
    }
    match t.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "pids {t:?}: give a whole number above 0, or unlimited"
        )),
    }
}

/// `cpus=1.5 memory=512m swap=1g reservation=256m pids=100` → a change.
pub fn parse_change(words: &[&str], host_cpus: u64, host_mem: u64) -> Result<Resources, String> {
    let mut r = Resources::default();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            format!("{w:?}: write name=value (cpus=, memory=, swap=, reservation=, pids=)")
        })?;
        match k {
            "cpus" => r.nano_cpus = Some(parse_cpus(v, host_cpus)?),
            "memory" | "mem" => {
                let m = parse_bytes(v, "memory", false)?;
                if host_mem > 0 && m as u64 > host_mem {
                    return Err(format!(
                        "memory {v}: above this host's memory ({})",
                        bytes_text(host_mem as i64)
                    ));
                }
                if m < 6 << 20 {
                    return Err(format!("memory {v}: Docker's smallest limit is 6m"));
                }
                r.memory = Some(m);
            }
            "reservation" | "memory-reservation" => {
                r.memory_reservation = Some(parse_bytes(v, "reservation", false)?)
            }
            "swap" | "memory-swap" => r.memory_swap = Some(parse_bytes(v, "swap", true)?),
            "pids" | "pids-limit" => r.pids_limit = Some(parse_pids(v)?),
            other => {
                return Err(format!(
                    "unknown limit {other:?}; the limits are cpus, memory, swap, reservation, pids"
                ));
            }
        }
    }
    if r.is_empty() {
        return Err("give at least one limit: cpus=, memory=, swap=, reservation=, pids=".into());
    }
    Ok(r)
}

/// What one container gets: the change, with memory-swap handled as Docker
/// demands (it refuses memory above the current swap limit unless swap is
/// set too), and the notes that say how.
pub fn apply_swap_rule(current: &Resources, change: &Resources) -> (Resources, Option<String>) {
    let mut out = *change;
    // Swap given (checked by `check`) or memory unchanged: nothing to do.
    let (Some(new_mem), None) = (change.memory, change.memory_swap) else {
        return (out, None);
    };
    let old_mem = current.memory.unwrap_or(0);
    let old_swap = current.memory_swap.unwrap_or(0);
    if old_swap == -1 {
        return (out, Some("memory-swap stays unlimited".into()));
    }
    if old_swap > 0 && old_mem > 0 {
        // Keep the same memory+swap to memory ratio.
        let swap = ((new_mem as f64) * (old_swap as f64 / old_mem as f64)).round() as i64;
        out.memory_swap = Some(swap.max(new_mem));
        return (
            out,
            Some(format!(
                "memory-swap {} → {} (keeps the ratio {}/{}; Docker refuses memory above memory-swap)",
                bytes_text(old_swap),
                bytes_text(swap.max(new_mem)),
                bytes_text(old_swap),
                bytes_text(old_mem)
            )),
        );
    }
    if old_swap == 0 && new_mem > 0 {
        // Never set (no memory limit before): Docker refuses a memory
        // limit alone here (its stored swap limit is 0); give the swap
        // limit `docker run --memory` would have given, twice the memory.
        out.memory_swap = Some(new_mem.saturating_mul(2));
        return (
            out,
            Some(format!(
                "memory-swap unset → {} (twice the memory, Docker's default; it refuses a memory limit alone here)",
                bytes_text(new_mem.saturating_mul(2))
            )),
        );
    }
    (out, None)
}

/// Refusals a user cannot override, for one container's final values.
pub fn check(change: &Resources) -> Result<(), String> {
    if let (Some(m), Some(s)) = (change.memory, change.memory_swap)
        && s != -1
        && s < m
    {
        return Err(format!(
            "memory-swap {} is below memory {}: Docker needs swap ≥ memory (or unlimited)",
            bytes_text(s),
            bytes_text(m)
        ));
    }
    if let (Some(m), Some(r)) = (change.memory, change.memory_reservation)
        && r > m
    {
        return Err(format!(
            "reservation {} is above memory {}",
            bytes_text(r),
            bytes_text(m)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: i64 = 1 << 30;
    const M: i64 = 1 << 20;

    #[test]
    fn dockers_units() {
        assert_eq!(parse_bytes("512m", "memory", false), Ok(512 * M));
        assert_eq!(parse_bytes("2g", "memory", false), Ok(2 * G));
        assert_eq!(parse_bytes("1.5G", "memory", false), Ok(3 * G / 2));
        assert_eq!(parse_bytes("65536", "memory", false), Ok(65536));
        assert_eq!(parse_bytes("100kb", "memory", false), Ok(102_400));
        assert_eq!(parse_bytes("unlimited", "swap", true), Ok(-1));
        assert!(
            parse_bytes("-1g", "memory", false)
                .unwrap_err()
                .contains("give a size")
        );
        assert!(parse_bytes("abc", "memory", false).is_err());
        assert!(
            parse_bytes("0", "memory", false)
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(parse_bytes("12q", "memory", false).is_err());
        assert_eq!(parse_cpus("1.5", 2), Ok(1_500_000_000));
        assert_eq!(parse_cpus("unlimited", 2), Ok(0));
        assert!(parse_cpus("0", 2).unwrap_err().contains("cpus=unlimited"));
        assert!(parse_cpus("-1", 2).is_err());
        assert!(parse_cpus("abc", 2).is_err());
        assert!(parse_cpus("3", 2).unwrap_err().contains("2 CPUs"));
        assert_eq!(parse_pids("100"), Ok(100));
        assert_eq!(parse_pids("unlimited"), Ok(-1));
        assert!(parse_pids("0").is_err());
        assert_eq!(bytes_text(512 * M), "512m");
        assert_eq!(bytes_text(2 * G), "2g");
        assert_eq!(cpus_text(1_500_000_000), "1.5");
        assert_eq!(cpus_text(250_000_000), "0.25");
    }

    #[test]
    fn a_change_is_checked_whole() {
        let r = parse_change(&["cpus=0.5", "memory=128m", "pids=200"], 2, 24 * G as u64).unwrap();
        assert_eq!(r.nano_cpus, Some(500_000_000));
        assert_eq!(r.memory, Some(128 * M));
        assert_eq!(r.pids_limit, Some(200));
        let e = parse_change(&["memory=10t"], 2, 24 * G as u64).unwrap_err();
        assert!(e.contains("above this host's memory (24g)"), "{e}");
        assert!(
            parse_change(&["memory=1m"], 2, 0)
                .unwrap_err()
                .contains("6m")
        );
        assert!(
            parse_change(&["cpu=1"], 2, 0)
                .unwrap_err()
                .contains("unknown limit")
        );
        assert!(parse_change(&["cpus"], 2, 0).is_err());
        assert!(parse_change(&[], 2, 0).is_err());
        assert!(
            check(&Resources {
                memory: Some(G),
                memory_swap: Some(512 * M),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn swap_follows_memory_as_docker_requires() {
        // The demo's containers: swap = 2 × memory.
        let current = Resources {
            memory: Some(64 * M),
            memory_swap: Some(128 * M),
            ..Default::default()
        };
        let change = Resources {
            memory: Some(256 * M),
            ..Default::default()
        };
        let (out, note) = apply_swap_rule(&current, &change);
        assert_eq!(out.memory_swap, Some(512 * M));
        assert!(note.unwrap().contains("keeps the ratio"));
        // Unlimited swap stays unlimited.
        let unlimited = Resources {
            memory_swap: Some(-1),
            ..current
        };
        let (out, note) = apply_swap_rule(&unlimited, &change);
        assert_eq!(out.memory_swap, None);
        assert_eq!(note.unwrap(), "memory-swap stays unlimited");
        // Given explicitly: used as is.
        let explicit = Resources {
            memory_swap: Some(G),
            ..change
        };
        assert_eq!(apply_swap_rule(&current, &explicit).0.memory_swap, Some(G));
        // Cpus only: nothing to do.
        let cpus = Resources {
            nano_cpus: Some(1_000_000_000),
            ..Default::default()
        };
        assert_eq!(apply_swap_rule(&current, &cpus), (cpus, None));
    }

    #[test]
    fn changes_read_as_before_and_after() {
        let current = Resources {
            nano_cpus: Some(250_000_000),
            memory: Some(64 * M),
            memory_swap: Some(128 * M),
            pids_limit: Some(0),
            ..Default::default()
        };
        let change = Resources {
            nano_cpus: Some(500_000_000),
            memory: Some(128 * M),
            pids_limit: Some(100),
            ..Default::default()
        };
        assert_eq!(
            current.describe_change(&change),
            "cpus 0.25 → 0.5, memory 64m → 128m, pids unlimited → 100"
        );
        assert_eq!(
            change.cli_flags(),
            "--cpus 0.5 --memory 128m --pids-limit 100"
        );
        assert_eq!(
            current.restricted_to(&change),
            Resources {
                nano_cpus: Some(250_000_000),
                memory: Some(64 * M),
                pids_limit: Some(0),
                ..Default::default()
            }
        );
    }
}
