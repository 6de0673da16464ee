//! Where a container's cgroup and /proc files are: the hierarchies from
//! mountinfo (v1 per controller, or v2 unified), a container's directory
//! from `/proc/<pid>/cgroup` or the driver's naming, and its files there.

use std::path::{Path, PathBuf};

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
    pub(super) fn dir(&self, rel: &str) -> PathBuf {
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
    pub(super) fn first(&self) -> &Mount {
        match self {
            Layout::V1 { cpuacct, .. } => cpuacct,
            Layout::V2 { unified } => unified,
        }
    }

    /// Cgroup paths the drivers give container `id`, most likely first.
    pub(super) fn guesses(id: &str) -> impl Iterator<Item = String> {
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
    pub(super) fn files_of_process(&self, text: &str, pid: Option<u32>) -> Option<Files> {
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
    pub(super) fn files_with(
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

pub(super) fn v1_files(
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

pub(super) fn v2_files(d: &Path) -> Files {
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
pub(super) const DRIVERS: [(&str, &str, &str); 2] =
    [("/docker", "", ""), ("/system.slice", "docker-", ".scope")];

pub(super) const BLKIO_THROTTLE: &str = "blkio.throttle.io_service_bytes_recursive";

/// The v1 blkio file with figures, as runc picks it for `docker stats`:
/// CFQ's when the scheduler keeps them, else the throttle layer's
/// (recursive where the kernel has it). The same in every cgroup of a
/// host, so the hierarchy's root at `point` tells.
pub(super) fn blkio_v1_file(point: &Path) -> &'static str {
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
pub(super) fn net_file(procs: &Path, pid: Option<u32>) -> Option<PathBuf> {
    let pid = pid.or_else(|| {
        let procs = std::fs::read_to_string(procs).ok()?;
        procs.lines().find_map(|l| l.trim().parse().ok())
    })?;
    (!shares_host_network(pid)).then(|| PathBuf::from(format!("/proc/{pid}/net/dev")))
}

/// A host-network container sees the host's interfaces: `docker stats`
/// shows no network figures for it, and neither do we.
pub(super) fn shares_host_network(pid: u32) -> bool {
    static OURS: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
    let theirs = ns(&pid.to_string());
    theirs.is_none() || theirs == *OURS.get_or_init(|| ns("self"))
}

/// Mountinfo escapes spaces and a few other bytes as \ooo.
pub(super) fn unescape(s: &str) -> String {
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
pub(super) fn cgroup_path(text: &str, ctrl: &str) -> Option<String> {
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
