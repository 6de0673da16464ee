//! Container figures read straight from the kernel — the cgroup files and
//! `/proc/<pid>/net/dev` — with no Docker API call per container. The same
//! numbers the daemon reads to answer a stats request, without paying the
//! daemon (and its shims) to read them once a second per container.
//!
//! Handles cgroup v1 (one hierarchy per controller: cpuacct, memory, pids,
//! blkio) and v2 (unified), and both drivers: a container's directory is
//! found from `/proc/<pid>/cgroup`, or else from the driver's naming
//! (`docker/<id>` for cgroupfs, `system.slice/docker-<id>.scope` for
//! systemd).

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::stats::{Counters, Sample};

mod layout;
mod read;

pub use layout::{Files, Layout, Mount};
pub use read::{Raw, Reader, Source, descriptor_budget};

/// The machine's CPU time, as the daemon reads it for `docker stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SystemCpu {
    /// Sum of the first line of /proc/stat (user … steal), in ns.
    pub total_ns: u64,
    /// CPUs online (the cpuN lines).
    pub online: u32,
}

impl SystemCpu {
    pub fn parse(proc_stat: &str) -> SystemCpu {
        let mut out = SystemCpu::default();
        for l in proc_stat.lines() {
            let Some(rest) = l.strip_prefix("cpu") else {
                break; // the cpu lines come first
            };
            if rest.starts_with(' ') {
                // USER_HZ ticks (100 a second) → ns, as the daemon converts them.
                // Saturating: a corrupt file must not overflow (found by
                // tests/fuzz.rs).
                let ticks: u64 = rest
                    .split_whitespace()
                    .take(8)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .fold(0, u64::saturating_add);
                out.total_ns = ticks.saturating_mul(10_000_000);
            } else {
                out.online += 1;
            }
        }
        out
    }

    /// `/proc/stat`, to `read` once a batch.
    pub fn source(spare: &mut usize) -> Source {
        Source::new(Path::new("/proc/stat"), spare)
    }

    pub fn read(stat: &Source, buf: &mut Vec<u8>) -> SystemCpu {
        stat.read(buf).map(SystemCpu::parse).unwrap_or_default()
    }
}

/// One read of a container, stamped.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub raw: Raw,
    pub system: SystemCpu,
    /// For rates: monotonic.
    pub mono: Instant,
    pub at: DateTime<Utc>,
}

/// The figures between two reads, as `docker stats` shows them: CPU as the
/// container's CPU time over the machine's (/proc/stat) times the CPUs
/// online — on a VM whose /proc/stat runs slow, the same slightly inflated
/// figure as the daemon's, and over wall time when /proc/stat is not
/// readable; memory without inactive file cache; a limit no larger than
/// the host.
/// This machine's cgroup version, as `docker info` says it ("1" or "2"):
/// for a local daemon not heard from yet.
pub fn local_version() -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2".into()
    } else {
        "1".into()
    }
}

/// This machine's memory in bytes (`MemTotal`), for a local daemon not
/// heard from yet: memory limits are capped at it, as `docker stats` does.
pub fn local_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

pub fn sample(prev: &Reading, now: &Reading, host_mem: u64) -> Sample {
    let secs = now.mono.duration_since(prev.mono).as_secs_f64();
    let system_delta = now.system.total_ns.saturating_sub(prev.system.total_ns);
    let cpu_delta = now.raw.cpu_ns.saturating_sub(prev.raw.cpu_ns) as f64;
    let cpu_pct = if system_delta > 0 && now.system.online > 0 {
        cpu_delta / system_delta as f64 * f64::from(now.system.online) * 100.0
    } else if secs > 0.0 {
        cpu_delta / 1e9 / secs * 100.0
    } else {
        0.0
    };
    let rate = |a: u64, b: u64| {
        if secs > 0.0 && a >= b {
            (a - b) as f64 / secs
        } else {
            0.0
        }
    };
    let (n, p) = (&now.raw, &prev.raw);
    let mem_limit = if host_mem > 0 {
        n.mem_limit.min(host_mem)
    } else {
        n.mem_limit
    };
    Sample {
        cpu_pct,
        mem_used: n.mem_used,
        mem_limit,
        pids: n.pids,
        net_rx_rate: rate(n.net_rx, p.net_rx),
        net_tx_rate: rate(n.net_tx, p.net_tx),
        blk_read_rate: rate(n.blk_read, p.blk_read),
        blk_write_rate: rate(n.blk_write, p.blk_write),
        counters: Counters {
            at: Some(now.at),
            net_rx: n.net_rx,
            net_tx: n.net_tx,
            blk_read: n.blk_read,
            blk_write: n.blk_write,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::layout::*;
    use super::read::*;
    use super::*;
    use std::path::PathBuf;

    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const MOUNTINFO_V2: &str = "\
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn layouts_from_mountinfo() {
        let v1 = Layout::from_mountinfo(MOUNTINFO_V1, "1").unwrap();
        let Layout::V1 {
            cpuacct,
            pids,
            blkio,
            ..
        } = &v1
        else {
            panic!("{v1:?}")
        };
        // Co-mounted controllers are found by their super options.
        assert_eq!(cpuacct.point, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(pids.is_some() && blkio.is_some());
        // A hybrid host: the daemon's word decides, else v1 when mounted.
        assert_eq!(Layout::from_mountinfo(MOUNTINFO_V1, "").unwrap(), v1);
        assert_eq!(
            Layout::from_mountinfo(MOUNTINFO_V1, "2").unwrap().version(),
            2
        );
        assert_eq!(
            Layout::from_mountinfo(MOUNTINFO_V2, "").unwrap(),
            Layout::V2 {
                unified: Mount {
                    point: "/sys/fs/cgroup".into(),
                    root: "/".into()
                }
            }
        );
        assert!(Layout::from_mountinfo(MOUNTINFO_V2, "1").is_err());
        assert!(Layout::from_mountinfo("", "").is_err());
    }

    #[test]
    fn mount_roots_and_escapes() {
        let m = Mount {
            point: "/sys/fs/cgroup/memory".into(),
            root: "/docker/abc".into(),
        };
        // Inside a container that sees only its subtree.
        assert_eq!(
            m.dir("/docker/abc/child"),
            PathBuf::from("/sys/fs/cgroup/memory/child")
        );
        assert_eq!(unescape("/mnt/my\\040dir"), "/mnt/my dir");
    }

    #[test]
    fn proc_cgroup_paths() {
        let v1 = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(cgroup_path(v1, "cpuacct").as_deref(), Some("/docker/abc"));
        assert_eq!(cgroup_path(v1, "memory").as_deref(), Some("/docker/abc"));
        assert_eq!(cgroup_path(v1, "pids"), None);
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            cgroup_path(v2, "").as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
    }

    #[test]
    fn file_parsers() {
        assert_eq!(
            blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 9\n8:16 Read 4\nTotal 4612\n"),
            (4100, 512)
        );
        assert_eq!(
            io_stat_v2(
                "8:0 rbytes=100 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n259:0 rbytes=1 wbytes=2\n"
            ),
            (101, 22)
        );
        let dev = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     280       4    0    0    0     0          0         0      280       4    0    0    0     0       0          0
  eth0:    1527      21    0    0    0     0          0         0     1303      19    0    0    0     0       0          0
  eth1:      10       1    0    0    0     0          0         0       20       1    0    0    0     0       0          0
";
        assert_eq!(net_dev(dev), (1537, 1323));
        assert_eq!(
            keyed("cache 10\ntotal_inactive_file 7\n", "total_inactive_file"),
            Some(7)
        );
        assert_eq!(
            keyed("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(number("max\n"), u64::MAX);
        let stat = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\ncpu1 50 0 25 400 5 0 3 17 0 0\nintr 1\n";
        assert_eq!(
            SystemCpu::parse(stat),
            SystemCpu {
                total_ns: 1000 * 10_000_000,
                online: 2
            }
        );
    }

    /// The container of `fake_tree`.
    pub(crate) const FAKE_ID: &str =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// A fake container cgroup, as the kernel lays it out.
    pub(crate) fn fake_tree(v2: bool) -> (tempfile::TempDir, Layout) {
        let root = tempfile::tempdir().unwrap();
        let mount = |sub: &str| Mount {
            point: root.path().join(sub),
            root: "/".into(),
        };
        let write = |rel: &str, text: &str| {
            let p = root.path().join(rel.replace("{FAKE_ID}", FAKE_ID));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let layout = if v2 {
            // systemd driver
            let d = "system.slice/docker-{FAKE_ID}.scope";
            write(
                &format!("{d}/cpu.stat"),
                "usage_usec 2000000\nuser_usec 1\n",
            );
            write(&format!("{d}/memory.current"), "1000\n");
            write(&format!("{d}/memory.stat"), "anon 1\ninactive_file 300\n");
            write(&format!("{d}/memory.max"), "max\n");
            write(&format!("{d}/pids.current"), "3\n");
            write(&format!("{d}/io.stat"), "8:0 rbytes=10 wbytes=20\n");
            write(&format!("{d}/cgroup.procs"), "");
            Layout::V2 { unified: mount("") }
        } else {
            // cgroupfs driver
            write("cpuacct/docker/{FAKE_ID}/cpuacct.usage", "5000000000\n");
            write("memory/docker/{FAKE_ID}/memory.usage_in_bytes", "4096\n");
            write(
                "memory/docker/{FAKE_ID}/memory.stat",
                "cache 2\ninactive_file 1\ntotal_inactive_file 1024\n",
            );
            write(
                "memory/docker/{FAKE_ID}/memory.limit_in_bytes",
                "67108864\n",
            );
            write("memory/docker/{FAKE_ID}/cgroup.procs", "");
            write("pids/docker/{FAKE_ID}/pids.current", "5\n");
            write(
                "blkio/docker/{FAKE_ID}/blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 7\n8:0 Write 9\nTotal 16\n",
            );
            Layout::V1 {
                cpuacct: mount("cpuacct"),
                memory: mount("memory"),
                pids: Some(mount("pids")),
                blkio: Some(mount("blkio")),
                blkio_file: BLKIO_THROTTLE,
            }
        };
        (root, layout)
    }

    #[test]
    fn reads_a_v1_cgroupfs_container() {
        let (_root, layout) = fake_tree(false);
        let files = layout.resolve(FAKE_ID, None).unwrap();
        assert_eq!(files.net, None, "no process: no network figures");
        let raw = files.open(&mut 0).read(&mut Vec::new()).unwrap();
        assert_eq!(
            raw,
            Raw {
                cpu_ns: 5_000_000_000,
                mem_used: 4096 - 1024,
                mem_limit: 67108864,
                pids: 5,
                blk_read: 7,
                blk_write: 9,
                ..Raw::default()
            }
        );
        assert!(layout.resolve("other", None).is_none());
    }

    #[test]
    fn finds_containers_in_the_tree_for_both_drivers() {
        for v2 in [false, true] {
            let (_root, layout) = fake_tree(v2);
            let found = layout.containers();
            let rel = if v2 {
                format!("/system.slice/docker-{FAKE_ID}.scope")
            } else {
                format!("/docker/{FAKE_ID}")
            };
            assert_eq!(found, vec![(FAKE_ID.to_string(), rel.clone())]);
            // Built from the tree's path, the files are the ones resolve finds.
            assert_eq!(layout.files_in(&rel, None), layout.resolve(FAKE_ID, None));
        }
    }

    #[test]
    fn a_held_file_reads_afresh_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.stat");
        std::fs::write(&path, "total_inactive_file 1\n").unwrap();
        let mut spare = 1;
        let held = Source::new(&path, &mut spare);
        assert!(held.is_held() && spare == 0);
        let mut buf = Vec::new();
        assert_eq!(held.read(&mut buf).unwrap(), "total_inactive_file 1\n");
        // Rewritten in place, as the kernel regenerates its files.
        let long = "x".repeat(3 * SHORT_READ) + "\nend\n";
        std::fs::write(&path, &long).unwrap();
        assert_eq!(held.read(&mut buf).unwrap(), long);
        // With no descriptor to spare it is opened at each read instead.
        let unheld = Source::new(&path, &mut spare);
        assert!(!unheld.is_held());
        assert_eq!(unheld.read(&mut buf).unwrap(), long);
    }

    #[test]
    fn reads_a_v2_systemd_container() {
        let (root, layout) = fake_tree(true);
        let files = layout.resolve(FAKE_ID, None).unwrap();
        let raw = files.open(&mut 0).read(&mut Vec::new()).unwrap();
        assert_eq!(raw.cpu_ns, 2_000_000_000);
        assert_eq!(raw.mem_used, 700);
        assert_eq!(raw.mem_limit, u64::MAX);
        assert_eq!((raw.pids, raw.blk_read, raw.blk_write), (3, 10, 20));
        // The container vanishes between reads: an error, not a panic or zeros.
        std::fs::remove_dir_all(root.path().join("system.slice")).unwrap();
        assert!(files.open(&mut 0).read(&mut Vec::new()).is_err());
    }

    #[test]
    fn sample_between_two_reads() {
        let t0 = Instant::now();
        let at = Utc::now();
        let raw = Raw {
            cpu_ns: 1_000_000_000,
            mem_used: 100,
            mem_limit: u64::MAX,
            pids: 2,
            blk_read: 0,
            blk_write: 0,
            net_rx: 1000,
            net_tx: 0,
        };
        let prev = Reading {
            raw,
            system: SystemCpu::default(),
            mono: t0,
            at,
        };
        let mut next = Reading {
            raw,
            system: SystemCpu::default(),
            mono: t0 + std::time::Duration::from_millis(500),
            at,
        };
        next.raw.cpu_ns += 250_000_000; // a quarter second of CPU in half a second
        next.raw.net_rx += 2000;
        let s = sample(&prev, &next, 8 << 30);
        assert!((s.cpu_pct - 50.0).abs() < 1e-9, "{}", s.cpu_pct);
        // With /proc/stat: over the machine's CPU time, as the daemon. Two
        // CPUs whose clock gave 0.4 s each in the same half second.
        let mut with_system = (prev, next);
        with_system.0.system = SystemCpu {
            total_ns: 0,
            online: 2,
        };
        with_system.1.system = SystemCpu {
            total_ns: 800_000_000,
            online: 2,
        };
        let vm = sample(&with_system.0, &with_system.1, 0).cpu_pct;
        assert!((vm - 62.5).abs() < 1e-9, "{vm}");
        assert_eq!(s.net_rx_rate, 4000.0);
        assert_eq!(s.mem_limit, 8 << 30, "no limit: the host's memory");
        // A restart resets the counters: no negative rate.
        next.raw.net_rx = 0;
        assert_eq!(sample(&prev, &next, 0).net_rx_rate, 0.0);
    }

    /// Any content in a cgroup or /proc file (issue 15, point 5): no
    /// parser panics or overflows. Found here: `unescape` sliced a str
    /// inside a multi-byte character; sums overflowed.
    mod fuzz {
        use super::super::layout::*;
        use super::super::read::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            #[test]
            fn cgroup_and_proc_files(text in prop_oneof![
                ".{0,120}",
                "([0-9]:[0-9] (Read|Write|Total) [0-9]{1,22}\n){0,5}",
                "([0-9]:[0-9] rbytes=[0-9]{1,22} wbytes=[0-9]{1,22}\n){0,4}",
                "(h\nh\n)?( *[a-z0-9]{1,4}:( [0-9]{1,22}){0,16}\n){0,4}",
                "([a-z_]{1,12} [0-9]{0,22}\n){0,6}",
                "([0-9]{1,2}:[a-z,]{0,12}:/[a-z/\\\\0-9é]{0,20}\n){0,4}",
            ]) {
                let _ = number(&text);
                let _ = keyed(&text, "usage_usec");
                let _ = keyed(&text, "inactive_file");
                let _ = blkio_v1(&text);
                let _ = io_stat_v2(&text);
                let _ = net_dev(&text);
                let _ = cgroup_path(&text, "");
                let _ = cgroup_path(&text, "memory");
                let _ = unescape(&text);
            }
        }

        #[test]
        fn an_escape_before_a_wide_character_is_kept_as_text() {
            assert_eq!(unescape("a\\é12"), "a\\é12");
            assert_eq!(unescape("a\\040b"), "a b");
            assert_eq!(
                blkio_v1(&format!("8:0 Read {m}\n8:1 Read {m}\n", m = u64::MAX)).0,
                u64::MAX
            );
        }
    }
}
