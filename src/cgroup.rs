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

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::stats::{Counters, Sample};

/// Where one cgroup hierarchy is mounted.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub point: PathBuf,
    /// The cgroup path the mount shows at its top ("/" on a host; deeper
    /// inside a container that mounts only its own subtree).
    pub root: String,
}

impl Mount {
    /// The directory of cgroup path `rel` (as `/proc/<pid>/cgroup` writes it).
    fn dir(&self, rel: &str) -> PathBuf {
        let rel = if self.root != "/" {
            rel.strip_prefix(self.root.as_str()).unwrap_or(rel)
        } else {
            rel
        };
        self.point.join(rel.trim_start_matches('/'))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    V1 {
        cpuacct: Mount,
        memory: Mount,
        pids: Option<Mount>,
        blkio: Option<Mount>,
        /// The blkio file with figures on this host (see `blkio_v1_file`).
        blkio_file: &'static str,
    },
    V2 {
        unified: Mount,
    },
}

impl Layout {
    pub fn version(&self) -> u8 {
        match self {
            Layout::V1 { .. } => 1,
            Layout::V2 { .. } => 2,
        }
    }

    /// The layout from `/proc/self/mountinfo` text. `version` is what the
    /// daemon reports ("1", "2" or empty): on hybrid hosts both kinds are
    /// mounted and only the daemon knows which one holds its containers.
    pub fn from_mountinfo(mountinfo: &str, version: &str) -> Result<Layout, String> {
        let mut v1: Vec<(Vec<String>, Mount)> = Vec::new();
        let mut v2: Option<Mount> = None;
        for line in mountinfo.lines() {
            // id parent maj:min root point options [optional…] - fstype source superoptions
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            let mount = Mount {
                point: PathBuf::from(unescape(l[4])),
                root: unescape(l[3]),
            };
            match r[0] {
                "cgroup" => v1.push((r[2].split(',').map(String::from).collect(), mount)),
                "cgroup2" => v2 = Some(mount),
                _ => {}
            }
        }
        let find = |ctrl: &str| {
            v1.iter()
                .find(|(opts, _)| opts.iter().any(|o| o == ctrl))
                .map(|(_, m)| m.clone())
        };
        let want_v2 = match version {
            "2" => true,
            "1" => false,
            _ => find("cpuacct").is_none(),
        };
        if want_v2 {
            return v2
                .map(|unified| Layout::V2 { unified })
                .ok_or_else(|| "no cgroup2 file system is mounted".to_string());
        }
        match (find("cpuacct"), find("memory")) {
            (Some(cpuacct), Some(memory)) => Ok(Layout::V1 {
                cpuacct,
                memory,
                pids: find("pids"),
                blkio: find("blkio"),
                blkio_file: BLKIO_THROTTLE,
            }),
            _ => Err("the cgroup v1 cpuacct and memory hierarchies are not mounted".to_string()),
        }
    }

    /// This machine's layout, checked readable.
    pub fn detect(version: &str) -> Result<Layout, String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let mut layout = Layout::from_mountinfo(&info, version)?;
        if let Layout::V1 {
            blkio: Some(b),
            blkio_file,
            ..
        } = &mut layout
        {
            *blkio_file = blkio_v1_file(&b.point);
        }
        let probe = match &layout {
            Layout::V1 { cpuacct, .. } => cpuacct.point.join("cpuacct.usage"),
            Layout::V2 { unified } => unified.point.join("cgroup.controllers"),
        };
        std::fs::metadata(&probe).map_err(|e| format!("cannot read {}: {e}", probe.display()))?;
        Ok(layout)
    }

    /// The containers of the cgroup tree, where the drivers put them, as
    /// (id, cgroup path): read before `docker ps` answers. Empty when the
    /// tree is laid out otherwise (then the ids come from the daemon alone).
    pub fn containers(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (parent, prefix, suffix) in DRIVERS {
            let Ok(entries) = std::fs::read_dir(self.first().dir(parent)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let id = name
                    .strip_prefix(prefix)
                    .and_then(|n| n.strip_suffix(suffix));
                if let Some(id) = id
                    && id.len() == 64
                    && id.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    found.push((id.to_string(), format!("{parent}/{name}")));
                }
            }
        }
        found
    }

    /// The hierarchy a container's directory is looked up in first.
    fn first(&self) -> &Mount {
        match self {
            Layout::V1 { cpuacct, .. } => cpuacct,
            Layout::V2 { unified } => unified,
        }
    }

    /// Cgroup paths the drivers give container `id`, most likely first.
    fn guesses(id: &str) -> impl Iterator<Item = String> {
        DRIVERS
            .map(|(parent, prefix, suffix)| format!("{parent}/{prefix}{id}{suffix}"))
            .into_iter()
    }

    /// Find container `id`'s files. `pid` is its main process as the daemon
    /// reports it; it is trusted only if its cgroup names the container
    /// (another PID namespace would give another process).
    pub fn resolve(&self, id: &str, pid: Option<u32>) -> Option<Files> {
        let proc_cgroup = pid
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
            .filter(|text| text.contains(id));
        if let Some(text) = proc_cgroup
            && let Some(files) = self.files_of_process(&text, pid)
        {
            return Some(files);
        }
        // The drivers put a container at the same path in every hierarchy:
        // find it in one.
        let rel = Layout::guesses(id).find(|g| self.first().dir(g).is_dir())?;
        self.files_in(&rel, None)
    }

    /// The files of the cgroups `/proc/<pid>/cgroup` (`text`) names, if
    /// they are all there.
    fn files_of_process(&self, text: &str, pid: Option<u32>) -> Option<Files> {
        self.files_with(
            |mount, ctrl| {
                cgroup_path(text, ctrl)
                    .map(|rel| mount.dir(&rel))
                    .filter(|d| d.is_dir())
            },
            pid,
        )
    }

    /// The files of the container at cgroup path `rel` in every hierarchy,
    /// not checked (a missing one fails its first read). `pid`: a process
    /// known to be in it.
    pub fn files_in(&self, rel: &str, pid: Option<u32>) -> Option<Files> {
        self.files_with(|mount, _| Some(mount.dir(rel)), pid)
    }

    /// The files in the directories `dir` gives for each (hierarchy,
    /// controller); None when cpuacct's, memory's or the unified one is
    /// missing.
    fn files_with(
        &self,
        dir: impl Fn(&Mount, &str) -> Option<PathBuf>,
        pid: Option<u32>,
    ) -> Option<Files> {
        let mut files = match self {
            Layout::V1 {
                cpuacct,
                memory,
                pids,
                blkio,
                blkio_file,
            } => v1_files(
                &dir(cpuacct, "cpuacct")?,
                &dir(memory, "memory")?,
                pids.as_ref().and_then(|m| dir(m, "pids")).as_deref(),
                blkio
                    .as_ref()
                    .and_then(|m| dir(m, "blkio"))
                    .map(|d| d.join(blkio_file)),
            ),
            Layout::V2 { unified } => v2_files(&dir(unified, "")?),
        };
        files.net = net_file(&files.procs, pid);
        Some(files)
    }
}

fn v1_files(
    cpuacct: &Path,
    memory: &Path,
    pids: Option<&Path>,
    blkio_file: Option<PathBuf>,
) -> Files {
    Files {
        v2: false,
        cpu: cpuacct.join("cpuacct.usage"),
        mem_usage: memory.join("memory.usage_in_bytes"),
        mem_stat: memory.join("memory.stat"),
        mem_limit: memory.join("memory.limit_in_bytes"),
        procs: memory.join("cgroup.procs"),
        pids: pids.map(|d| d.join("pids.current")),
        blkio: blkio_file,
        net: None,
    }
}

fn v2_files(d: &Path) -> Files {
    Files {
        v2: true,
        cpu: d.join("cpu.stat"),
        mem_usage: d.join("memory.current"),
        mem_stat: d.join("memory.stat"),
        mem_limit: d.join("memory.max"),
        procs: d.join("cgroup.procs"),
        pids: Some(d.join("pids.current")),
        blkio: Some(d.join("io.stat")),
        net: None,
    }
}

/// Where the Docker cgroup drivers put a container, as (parent, prefix,
/// suffix) around its id: cgroupfs (`/docker/<id>`), then systemd
/// (`/system.slice/docker-<id>.scope`).
const DRIVERS: [(&str, &str, &str); 2] =
    [("/docker", "", ""), ("/system.slice", "docker-", ".scope")];

const BLKIO_THROTTLE: &str = "blkio.throttle.io_service_bytes_recursive";

/// The v1 blkio file with figures, as runc picks it for `docker stats`:
/// CFQ's when the scheduler keeps them, else the throttle layer's
/// (recursive where the kernel has it). The same in every cgroup of a
/// host, so the hierarchy's root at `point` tells.
fn blkio_v1_file(point: &Path) -> &'static str {
    let cfq = "blkio.io_service_bytes_recursive";
    let has_figures = |f: &str| {
        std::fs::read_to_string(point.join(f))
            .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().count() == 3))
    };
    if has_figures(cfq) {
        cfq
    } else if point.join(BLKIO_THROTTLE).exists() {
        BLKIO_THROTTLE
    } else {
        "blkio.throttle.io_service_bytes"
    }
}

/// `/proc/<pid>/net/dev` of a process in the container's network namespace
/// (`pid`, or else the first in `procs`); None for host-network ones.
fn net_file(procs: &Path, pid: Option<u32>) -> Option<PathBuf> {
    let pid = pid.or_else(|| {
        let procs = std::fs::read_to_string(procs).ok()?;
        procs.lines().find_map(|l| l.trim().parse().ok())
    })?;
    (!shares_host_network(pid)).then(|| PathBuf::from(format!("/proc/{pid}/net/dev")))
}

/// A host-network container sees the host's interfaces: `docker stats`
/// shows no network figures for it, and neither do we.
fn shares_host_network(pid: u32) -> bool {
    static OURS: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
    let theirs = ns(&pid.to_string());
    theirs.is_none() || theirs == *OURS.get_or_init(|| ns("self"))
}

/// Mountinfo escapes spaces and a few other bytes as \ooo.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Three octal digits as bytes: slicing the str could split a
        // multi-byte character (found by the fuzz test below).
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup path of controller `ctrl` in `/proc/<pid>/cgroup` text
/// ("" = the v2 unified line `0::/path`).
fn cgroup_path(text: &str, ctrl: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if ctrl.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == ctrl)
        };
        hit.then(|| path.to_string())
    })
}

/// The files of one container, found once and read every refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Files {
    pub v2: bool,
    pub cpu: PathBuf,
    pub mem_usage: PathBuf,
    pub mem_stat: PathBuf,
    pub mem_limit: PathBuf,
    pub procs: PathBuf,
    pub pids: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
    /// `/proc/<pid>/net/dev` of a process inside the container's network
    /// namespace; None for host-network containers.
    pub net: Option<PathBuf>,
}

/// Cumulative figures of one read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Raw {
    pub cpu_ns: u64,
    /// Memory in use without the inactive file cache, as `docker stats`.
    pub mem_used: u64,
    /// The cgroup's limit (`u64::MAX` when it has none).
    pub mem_limit: u64,
    pub pids: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// A file read once a refresh, held open when the descriptor budget
/// allows. Reading an open cgroup or /proc file again from offset 0 makes
/// the kernel generate it afresh, without the path walk an open costs:
/// measured on cgroup v1 with 500 containers, the seven files of one
/// container cost 28 µs held open against 120 µs opened each time.
#[derive(Debug)]
pub enum Source {
    Held(File),
    Path(PathBuf),
}

impl Source {
    /// Hold `path` open if `spare` descriptors allow (taking one).
    pub fn new(path: &Path, spare: &mut usize) -> Source {
        if *spare > 0
            && let Ok(file) = File::open(path)
        {
            *spare -= 1;
            return Source::Held(file);
        }
        Source::Path(path.to_path_buf())
    }

    /// The whole file, into `buf` (reused across reads: no allocation per
    /// file). An error when it cannot be read (its cgroup was removed).
    pub fn read<'a>(&self, buf: &'a mut Vec<u8>) -> std::io::Result<&'a str> {
        match self {
            Source::Held(file) => read_whole(file, buf),
            Source::Path(path) => read_whole(&File::open(path)?, buf),
        }
    }

    fn is_held(&self) -> bool {
        matches!(self, Source::Held(_))
    }
}

/// A kernel seq file hands out about a page per read at most; a read this
/// short was the whole file (a regular file ends with a short read too).
const SHORT_READ: usize = 2048;

fn read_whole<'a>(file: &File, buf: &'a mut Vec<u8>) -> std::io::Result<&'a str> {
    let mut len = 0;
    loop {
        if buf.len() < len + 4096 {
            buf.resize(len + 8192, 0);
        }
        let n = file.read_at(&mut buf[len..], len as u64)?;
        len += n;
        if n < SHORT_READ {
            break;
        }
    }
    std::str::from_utf8(&buf[..len])
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Let this process hold as many descriptors as its hard limit allows (as
/// dockerd and Go programs do), and return how many the cgroup reader may
/// keep open: the limit less a reserve for sockets, logs and the terminal.
pub fn descriptor_budget() -> usize {
    const RESERVE: u64 = 512;
    // Raised to the hard limit if allowed; else what it is.
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::Resource::NOFILE.get().map(|(soft, _)| soft))
        .unwrap_or(0);
    usize::try_from(limit.saturating_sub(RESERVE)).unwrap_or(usize::MAX)
}

fn number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(u64::MAX)
}

/// The value of `key` in a "key value" file (memory.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Bytes read and written from a v1 blkio file ("8:0 Read 4096" lines).
fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue; // the "Total N" line
        };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => r = v.saturating_add(r),
            "Write" => w = v.saturating_add(w),
            _ => {}
        }
    }
    (r, w)
}

/// Bytes read and written from v2 io.stat ("8:0 rbytes=1 wbytes=2 …").
fn io_stat_v2(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            r = v.parse::<u64>().unwrap_or(0).saturating_add(r);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            w = v.parse::<u64>().unwrap_or(0).saturating_add(w);
        }
    }
    (r, w)
}

/// Received and sent bytes over every interface but loopback, as the
/// daemon counts them for `docker stats`.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for l in text.lines().skip(2) {
        let Some((iface, rest)) = l.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() >= 9 {
            rx = f[0].parse::<u64>().unwrap_or(0).saturating_add(rx);
            tx = f[8].parse::<u64>().unwrap_or(0).saturating_add(tx);
        }
    }
    (rx, tx)
}

impl Files {
    /// The files ready for reads, holding up to `spare` of them open
    /// (and taking those from it).
    pub fn open(&self, spare: &mut usize) -> Reader {
        let mut src = |p: &Path| Source::new(p, spare);
        Reader {
            v2: self.v2,
            cpu: src(&self.cpu),
            mem_usage: src(&self.mem_usage),
            mem_stat: src(&self.mem_stat),
            mem_limit: src(&self.mem_limit),
            pids: self.pids.as_deref().map(&mut src),
            blkio: self.blkio.as_deref().map(&mut src),
            net: self.net.as_deref().map(&mut src),
        }
    }
}

/// One container's files, as read every refresh.
#[derive(Debug)]
pub struct Reader {
    v2: bool,
    cpu: Source,
    mem_usage: Source,
    mem_stat: Source,
    mem_limit: Source,
    pids: Option<Source>,
    blkio: Option<Source>,
    net: Option<Source>,
}

impl Reader {
    /// Descriptors it holds open.
    pub fn held(&self) -> usize {
        [&self.cpu, &self.mem_usage, &self.mem_stat, &self.mem_limit]
            .into_iter()
            .chain([&self.pids, &self.blkio, &self.net].into_iter().flatten())
            .filter(|s| s.is_held())
            .count()
    }

    /// Read every figure. An error means the container is gone (its
    /// directory went with it) or the files cannot be read.
    pub fn read(&self, buf: &mut Vec<u8>) -> std::io::Result<Raw> {
        let mut raw = Raw::default();
        let cpu = self.cpu.read(buf)?;
        raw.cpu_ns = if self.v2 {
            keyed(cpu, "usage_usec").unwrap_or(0) * 1000
        } else {
            number(cpu)
        };
        let usage = number(self.mem_usage.read(buf)?);
        let inactive = keyed(
            self.mem_stat.read(buf)?,
            if self.v2 {
                "inactive_file"
            } else {
                "total_inactive_file"
            },
        );
        raw.mem_used = match inactive {
            Some(i) if i < usage => usage - i,
            _ => usage,
        };
        // "max" (v2) and v1's huge "unlimited" both mean no limit.
        raw.mem_limit = number(self.mem_limit.read(buf)?);
        if let Some(p) = &self.pids {
            raw.pids = p.read(buf).map(number).unwrap_or(0);
        }
        if let Some(b) = &self.blkio
            && let Ok(text) = b.read(buf)
        {
            (raw.blk_read, raw.blk_write) = if self.v2 {
                io_stat_v2(text)
            } else {
                blkio_v1(text)
            };
        }
        if let Some(n) = &self.net {
            // The process may have ended while the cgroup lives on.
            if let Ok(text) = n.read(buf) {
                (raw.net_rx, raw.net_tx) = net_dev(text);
            }
        }
        Ok(raw)
    }
}

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
    use super::*;

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
        use super::super::*;
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
