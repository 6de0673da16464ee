//! The dashboard's side of the agent: `agile-deck agent --stdio` started on
//! an `ssh://` host through the host's one SSH connection (the relay's
//! master, which the Docker API's sessions ride too), the set of
//! containers written to it, its batches turned back into the engine's
//! `Report`s. When the agent cannot be used (not installed, another
//! protocol, no cgroup files there) it says why once and the engine takes
//! Docker's stats streams; when its channel drops it is started again
//! with backoff, and the host's figures are stale meanwhile.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Sender;
use tokio::sync::watch;

use super::wire::{self, Decoder, Frame, Hello, PROTOCOL, Wanted};
use crate::engine::{CgroupReader, Remote, Report, Target};

/// Where the agent is on a host and how often it reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `ssh://user@host[:port]`
    pub url: String,
    /// The host's name, for the messages.
    pub name: String,
    /// The agent's path there (`agent_path` in the host's table); else
    /// `agile-deck` on the remote PATH, then `~/.local/bin/agile-deck`.
    pub agent_path: Option<String>,
    pub every: Duration,
}

/// The engine's handle on the agent of one host.
pub struct Link {
    set: watch::Sender<Vec<Target>>,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CgroupReader for Link {
    fn set(&self, targets: Vec<Target>) {
        self.set.send_replace(targets);
    }

    fn wire_bytes(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // The ssh goes with the task (kill_on_drop), the agent with its stdin.
        self.task.abort();
    }
}

/// Start reaching the agent (needs a tokio runtime).
pub fn start<M: From<Report> + Send + 'static>(settings: Settings, tx: Sender<M>) -> Link {
    let (set, sets) = watch::channel(Vec::new());
    let received = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(keep_up(settings, sets, tx, received.clone()));
    Link {
        set,
        received,
        task,
    }
}

/// Backoff after a drop: 1 s, doubling, at most this.
const MOST_BACKOFF: Duration = Duration::from_secs(15);
/// How often an agent that could not be used is tried again (it may have
/// been installed meanwhile).
const RETRY_UNUSABLE: Duration = Duration::from_secs(30);
/// The agent's hello must come this soon after its ssh started.
const HELLO_WITHIN: Duration = Duration::from_secs(15);

/// How one session ended.
enum Ended {
    /// The dashboard is gone.
    Gone,
    /// It cannot be used here: why.
    Unusable(String),
    /// The channel dropped (after working, or before it could).
    Dropped { error: String, was_up: bool },
}

async fn keep_up<M: From<Report>>(
    s: Settings,
    mut sets: watch::Receiver<Vec<Target>>,
    tx: Sender<M>,
    received: Arc<AtomicU64>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut said: Option<Remote> = None;
    loop {
        let (now, wait) = match session(&s, &mut sets, &tx, &received).await {
            Ended::Gone => return,
            Ended::Unusable(why) => (Remote::Unusable(why), RETRY_UNUSABLE),
            Ended::Dropped { error, was_up } => {
                if was_up {
                    backoff = Duration::from_secs(1);
                }
                let wait = backoff;
                backoff = (backoff * 2).min(MOST_BACKOFF);
                (Remote::Lost(error), wait)
            }
        };
        if said.as_ref() != Some(&now) {
            match &now {
                Remote::Unusable(why) => log::warn!("{}: agent: {why}", s.name),
                Remote::Lost(e) => log::warn!(
                    "{}: agent: {e}; trying again in {} s",
                    s.name,
                    wait.as_secs()
                ),
                Remote::Up(_) => {}
            }
            if tx.send(Report::Remote(now.clone()).into()).await.is_err() {
                return;
            }
            said = Some(now);
        }
        tokio::time::sleep(wait).await;
        if tx.is_closed() {
            return;
        }
    }
}

/// The remote shell's command: the agent at its configured path, else on
/// PATH, else where `agent install` puts it; 127 when none is there.
fn remote_command(s: &Settings) -> String {
    let args = format!("agent --stdio --every {}", s.every.as_secs_f64());
    match &s.agent_path {
        Some(p) => format!("exec {} {args}", shell_quote(p)),
        None => format!(
            "command -v agile-deck >/dev/null 2>&1 && exec agile-deck {args}; \
             test -x \"$HOME/{INSTALLED}\" && exec \"$HOME/{INSTALLED}\" {args}; \
             echo 'agile-deck: not found' >&2; exit 127"
        ),
    }
}

/// Where `agile-deck agent install` puts the binary, under the remote home.
pub const INSTALLED: &str = ".local/bin/agile-deck";

/// `'it'`, safe for any POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One ssh running the agent, until it ends.
async fn session<M: From<Report>>(
    s: &Settings,
    sets: &mut watch::Receiver<Vec<Target>>,
    tx: &Sender<M>,
    received: &AtomicU64,
) -> Ended {
    let dropped = |error: String| Ended::Dropped {
        error,
        was_up: false,
    };
    let mut cmd = match crate::relay::ssh_to(&s.url).await {
        Ok(c) => c,
        Err(e) => return Ended::Unusable(e),
    };
    let child = cmd
        .arg(remote_command(s))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Ended::Unusable(format!("cannot run ssh: {e}")),
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return dropped("ssh gave no pipes".into());
    };
    // What it says on stderr: the last line, for the messages.
    let last_words = tokio::spawn(async move {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all).await;
        all.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    });
    let mut out = Vec::new();
    wire::encode_hello(&Hello::ours(0, 0), &mut out);
    let _ = stdin.write_all(&out).await;

    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 64 << 10];
    // Its hello, or why there is none.
    let hello = tokio::time::timeout(HELLO_WITHIN, async {
        loop {
            match decoder.frame() {
                Ok(Some(Frame::Hello(h))) => return Ok(h),
                Ok(Some(other)) => return Err(format!("it began with {other:?}, not its hello")),
                Ok(None) => {}
                Err(e) => {
                    return Err(format!(
                        "its output is not the agent's protocol ({e}): does a shell \
                         startup file print on stdout?"
                    ));
                }
            }
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return Err(String::new()),
                Ok(n) => {
                    received.fetch_add(n as u64, Ordering::Relaxed);
                    decoder.push(&buf[..n]);
                }
            }
        }
    })
    .await;
    let hello = match hello {
        Ok(Ok(h)) => h,
        Ok(Err(why)) if !why.is_empty() => {
            let _ = child.kill().await;
            return Ended::Unusable(why);
        }
        Ok(Err(_)) => {
            // It ended before saying hello: the exit status says why.
            let status = child.wait().await.ok().and_then(|s| s.code());
            let words = last_words.await.ok().flatten().unwrap_or_default();
            return match status {
                Some(127) => Ended::Unusable(format!(
                    "not installed on {0} (agile-deck agent install {0})",
                    s.name
                )),
                // ssh's own failure: the connection, not the agent.
                Some(255) | None => dropped(if words.is_empty() {
                    "ssh ended".into()
                } else {
                    words
                }),
                Some(code) => Ended::Unusable(format!(
                    "the agile-deck on {} cannot serve (exit {code}: {words}); \
                     agile-deck agent install {0}",
                    s.name
                )),
            };
        }
        Err(_) => {
            let _ = child.kill().await;
            return dropped(format!("no hello within {} s", HELLO_WITHIN.as_secs()));
        }
    };
    if hello.protocol != PROTOCOL {
        let _ = child.kill().await;
        return Ended::Unusable(format!(
            "the agent on {0} speaks protocol {1} (agile-deck {2}) and this agile-deck ({3}) \
             speaks protocol {PROTOCOL}: agile-deck agent install {0}",
            s.name,
            hello.protocol,
            hello.version,
            env!("CARGO_PKG_VERSION")
        ));
    }
    let up = Remote::Up(match hello.cgroup {
        0 => format!("agent {}", hello.version),
        v => format!("agent {}, cgroup v{v}", hello.version),
    });
    // The set it reads, by id (reports name ids; the engine wants targets).
    let mut current: HashMap<String, Target> = HashMap::new();
    let mut was_up = false;
    let mut send_set = true;
    let ended = loop {
        // Frames already read.
        loop {
            match decoder.frame() {
                Ok(None) => break,
                Ok(Some(Frame::Batch { at, samples })) => {
                    if tx.send(Report::Stats { at, samples }.into()).await.is_err() {
                        return Ended::Gone;
                    }
                }
                Ok(Some(Frame::NoCgroup(ids))) => {
                    let targets = ids.iter().filter_map(|id| current.get(id).cloned());
                    let report = Report::NoCgroup(targets.collect());
                    if tx.send(report.into()).await.is_err() {
                        return Ended::Gone;
                    }
                }
                Ok(Some(Frame::Fatal(why))) => {
                    let _ = child.kill().await;
                    return Ended::Unusable(format!("the agent on {}: {why}", s.name));
                }
                Ok(Some(other)) => {
                    let _ = child.kill().await;
                    return Ended::Unusable(format!("the agent sent {other:?}"));
                }
                Err(e) => {
                    let _ = child.kill().await;
                    return Ended::Unusable(format!("the agent's output: {e}"));
                }
            }
        }
        if !was_up {
            was_up = true;
            if tx.send(Report::Remote(up.clone()).into()).await.is_err() {
                return Ended::Gone;
            }
        }
        if send_set {
            send_set = false;
            let set = sets.borrow_and_update().clone();
            out.clear();
            let wanted: Vec<Wanted> = set
                .iter()
                .map(|t| Wanted {
                    id: t.id.clone(),
                    pid: t.pid,
                })
                .collect();
            wire::encode_set(&wanted, &mut out);
            current = set.into_iter().map(|t| (t.id.clone(), t)).collect();
            if let Err(e) = stdin.write_all(&out).await {
                break format!("writing to the agent: {e}");
            }
        }
        tokio::select! {
            read = stdout.read(&mut buf) => match read {
                Ok(0) => break "the agent's channel closed".to_string(),
                Err(e) => break format!("reading the agent: {e}"),
                Ok(n) => {
                    received.fetch_add(n as u64, Ordering::Relaxed);
                    decoder.push(&buf[..n]);
                }
            },
            changed = sets.changed() => match changed {
                Ok(()) => send_set = true,
                // The engine is gone.
                Err(_) => return Ended::Gone,
            },
        }
    };
    let _ = child.kill().await;
    let words = last_words.await.ok().flatten();
    Ended::Dropped {
        error: words.map_or(ended.clone(), |w| format!("{ended} ({w})")),
        was_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_finds_the_agent_or_says_127() {
        let mut s = Settings {
            url: "ssh://ops@web-2".into(),
            name: "web-2".into(),
            agent_path: None,
            every: Duration::from_millis(1500),
        };
        let c = remote_command(&s);
        assert!(c.starts_with("command -v agile-deck"), "{c}");
        assert!(c.contains("agent --stdio --every 1.5"));
        assert!(c.ends_with("exit 127"));
        s.agent_path = Some("/opt/it's/agile-deck".into());
        assert_eq!(
            remote_command(&s),
            r"exec '/opt/it'\''s/agile-deck' agent --stdio --every 1.5"
        );
    }
}
