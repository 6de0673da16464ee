//! Private local sockets that reach a daemon another way; the Docker
//! client talks to them as to any unix socket.
//!
//! * `ssh://user@host[:port]`, the way the docker CLI reaches it: the
//!   user's own `ssh` (their config, agent and known hosts) runs `docker
//!   system dial-stdio` on the host, which joins its stdin and stdout to
//!   the daemon's socket. Each connection is one such `ssh`, all of them
//!   over one SSH connection — a master `ssh -N` of ours that dies with
//!   us — so a stream per container costs a channel, not a login, and the
//!   agent (`crate::agent`) rides the same connection. `BatchMode=yes`: a
//!   key or an agent,
//!   never a password prompt inside the dashboard. What ssh says when it
//!   fails is kept for the message. `AGILE_DECK_SSH` names another ssh
//!   command line (`ssh -F FILE`).
//! * A `unix://` socket that is not there yet (its daemon down when
//!   agile-deck starts, with several hosts): the Docker client refuses a
//!   missing path, so it is given the relay's, and each connection is
//!   joined to the real socket when it is made — refused while the daemon
//!   is down, answered once it is back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Command;

/// Where an `ssh://` URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("{url:?} is not an ssh:// address"))?;
        let rest = rest.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            // [v6]:port
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("{url:?}: no closing ] in the address"))?;
                (h.to_string(), after.strip_prefix(':'))
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            },
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?}: {p:?} is not a port"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok(Target { user, host, port })
    }

    /// The `ssh` arguments that reach it through the master at
    /// `control` (directly while there is none), before the remote command.
    pub fn args(&self, control: &Path) -> Vec<String> {
        let mut args = vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            format!("ControlPath={}", control.display()),
        ];
        if let Some(p) = self.port {
            args.extend(["-p".into(), p.to_string()]);
        }
        if let Some(u) = &self.user {
            args.extend(["-l".into(), u.clone()]);
        }
        args.push("--".into());
        args.push(self.host.clone());
        args
    }
}

/// How a relay reaches its daemon, per connection.
#[derive(Clone)]
enum Dial {
    /// `ssh` through this master, then `docker system dial-stdio`.
    Ssh(Arc<Master>),
    /// This unix socket, as it is when the connection is made.
    Unix(PathBuf),
}

/// The one SSH connection to a host: `ssh -N` as the control master, a
/// child of ours that the kernel ends when we end (so no login is left
/// open behind a crash), started again when it drops.
struct Master {
    /// To reach the host through the master (see `Target::args`).
    args: Vec<String>,
    control: PathBuf,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    /// The last line ssh wrote on stderr, for the failure message.
    said: Arc<Mutex<Option<String>>>,
}

/// How long a master may take to log in.
const LOGIN: std::time::Duration = std::time::Duration::from_secs(10);

impl Master {
    /// Running, or started and logged in (or failed: sessions then try
    /// on their own and say why).
    async fn ensure(&self) {
        let mut child = self.child.lock().await;
        if let Some(c) = child.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            return;
        }
        let _ = std::fs::remove_file(&self.control);
        let (program, options) = ssh_program();
        let mut master = Command::new(program);
        master
            .args(&options)
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=no",
                // A dead connection is found within 15 s, not at the
                // next TCP timeout: the host shows lost, then comes back.
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                &format!("ConnectTimeout={}", LOGIN.as_secs()),
                "-N",
            ])
            // ssh takes an option's first value: ControlMaster=yes above wins.
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            master.pre_exec(|| {
                // Ends with the thread that started it: the runtime's
                // threads live as long as the process.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut started = match master.spawn() {
            Ok(c) => c,
            Err(e) => {
                *self.said.lock().expect("not poisoned") = Some(format!("cannot run ssh: {e}"));
                *child = None;
                return;
            }
        };
        if let Some(stderr) = started.stderr.take() {
            tokio::spawn(keep_last_line(stderr, self.said.clone()));
        }
        let deadline = tokio::time::Instant::now() + LOGIN;
        while !self.control.exists()
            && matches!(started.try_wait(), Ok(None))
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        *child = Some(started);
    }
}

/// Keep the last line a program writes on stderr in `said`.
async fn keep_last_line(
    stderr: impl tokio::io::AsyncRead + Unpin,
    said: Arc<Mutex<Option<String>>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if !line.trim().is_empty() {
            *said.lock().expect("not poisoned") = Some(line);
        }
    }
}

/// A private local socket that reaches one daemon. Dropping it stops
/// accepting; the folder goes with it.
struct Relay {
    socket: PathBuf,
    dir: PathBuf,
    /// The last line ssh wrote on stderr, for the failure message.
    last_error: Arc<Mutex<Option<String>>>,
    /// `ssh://`: its master connection.
    master: Option<Arc<Master>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Start relaying (needs a tokio runtime). Nothing is dialled until
    /// the Docker client connects.
    fn start(url: &str) -> Result<Relay, String> {
        let dir = private_dir()?;
        let last_error = Arc::new(Mutex::new(None));
        let dial = match url.strip_prefix("unix://") {
            Some(path) => Dial::Unix(PathBuf::from(path)),
            None => {
                let control = dir.join("ssh-control");
                Dial::Ssh(Arc::new(Master {
                    args: Target::parse(url)?.args(&control),
                    control,
                    child: Default::default(),
                    said: last_error.clone(),
                }))
            }
        };
        let master = match &dial {
            Dial::Ssh(m) => Some(m.clone()),
            Dial::Unix(_) => None,
        };
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket)
            .map_err(|e| format!("cannot make the local socket {}: {e}", socket.display()))?;
        let accept = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                match &dial {
                    Dial::Ssh(m) => tokio::spawn(join_ssh(conn, m.clone())),
                    Dial::Unix(path) => tokio::spawn(join_unix(conn, path.clone())),
                };
            }
        });
        Ok(Relay {
            socket,
            dir,
            last_error,
            master,
            accept,
        })
    }

    /// What ssh said last on stderr, if anything.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("not poisoned").clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The relays of this process, by URL: one per `ssh://` host, for as long
/// as the process runs (`close_all` at the end removes their folders).
static RELAYS: Mutex<Vec<(String, Relay)>> = Mutex::new(Vec::new());

/// The local socket that reaches `url`'s daemon — `ssh://…`, or a
/// `unix://` path not there yet — its relay started on first use.
pub fn socket_for(url: &str) -> Result<PathBuf, String> {
    with_relay(url, |r| r.socket.clone())
}

fn with_relay<T>(url: &str, f: impl FnOnce(&Relay) -> T) -> Result<T, String> {
    let mut relays = RELAYS.lock().expect("not poisoned");
    if let Some((_, r)) = relays.iter().find(|(u, _)| u == url) {
        return Ok(f(r));
    }
    let relay = Relay::start(url)?;
    let out = f(&relay);
    relays.push((url.to_string(), relay));
    Ok(out)
}

/// `ssh` ready to run a command on `url`'s host (append it) over the
/// host's one SSH connection, which is made if it is not up.
pub async fn ssh_to(url: &str) -> Result<Command, String> {
    let master = with_relay(url, |r| r.master.clone())?
        .ok_or_else(|| format!("{url} is not an ssh:// address"))?;
    master.ensure().await;
    Ok(master.session())
}

/// What ssh said last for `url`, if anything.
pub fn said(url: &str) -> Option<String> {
    let relays = RELAYS.lock().expect("not poisoned");
    relays
        .iter()
        .find(|(u, _)| u == url)
        .and_then(|(_, r)| r.last_error())
}

/// Stop every relay and remove their folders (at exit).
fn close_all() {
    // A panic while the lock was held still leaves relays to close.
    RELAYS.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Calls `close_all` when dropped, so neither an early return nor a panic
/// leaves a relay's folder behind.
pub struct CloseAll;

impl Drop for CloseAll {
    fn drop(&mut self) {
        close_all();
    }
}

/// A fresh folder only this user can enter, for the socket and ssh's
/// control socket.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "agile-deck-relay-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The ssh program and its own options: `AGILE_DECK_SSH` (e.g. `ssh -F
/// ~/.ssh/prod_config`, split at spaces), else `ssh`.
fn ssh_program() -> (String, Vec<String>) {
    let line = std::env::var("AGILE_DECK_SSH").unwrap_or_default();
    let mut words = line.split_whitespace().map(String::from);
    match words.next() {
        Some(program) => (program, words.collect()),
        None => ("ssh".into(), Vec::new()),
    }
}

/// One connection joined to the unix socket at `path` as it is now: none
/// there (the daemon down), and the connection is closed at once.
async fn join_unix(mut conn: UnixStream, path: PathBuf) {
    if let Ok(mut daemon) = UnixStream::connect(&path).await {
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut daemon).await;
    }
}

impl Master {
    /// An `ssh` session over this master (append the remote command).
    fn session(&self) -> Command {
        let (program, options) = ssh_program();
        let mut cmd = Command::new(program);
        cmd.args(&options).args(&self.args).kill_on_drop(true);
        cmd
    }
}

/// One connection: one `ssh … docker system dial-stdio`, bytes both ways
/// until either side closes; the ssh ends with it.
async fn join_ssh(conn: UnixStream, master: Arc<Master>) {
    master.ensure().await;
    let child = master
        .session()
        .args(["docker", "system", "dial-stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let said = master.said.clone();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            *said.lock().expect("not poisoned") = Some(format!("cannot run ssh: {e}"));
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let errors = tokio::spawn(keep_last_line(stderr, said));
    let (mut from, mut to) = conn.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut from, &mut stdin).await;
        let _ = stdin.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut stdout, &mut to).await;
        let _ = to.shutdown().await;
    };
    // Each way ends at its end of file: the exchange is over when both are.
    tokio::join!(up, down);
    let _ = child.kill().await;
    let _ = errors.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_the_docker_cli_reads_them() {
        let t = Target::parse("ssh://ops@web-2:2222").unwrap();
        assert_eq!(
            t,
            Target {
                user: Some("ops".into()),
                host: "web-2".into(),
                port: Some(2222)
            }
        );
        let t = Target::parse("ssh://web-2").unwrap();
        assert_eq!((t.user, t.port), (None, None));
        let t = Target::parse("ssh://root@[fd00::2]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00::2", Some(22)));
        assert!(
            Target::parse("ssh://ops@web:x")
                .unwrap_err()
                .contains("not a port")
        );
        assert!(Target::parse("tcp://web").is_err());
        let args = Target::parse("ssh://ops@web-2:2222")
            .unwrap()
            .args(Path::new("/run/x/c"));
        assert_eq!(
            args.join(" "),
            "-o BatchMode=yes -o ControlMaster=no -o ControlPath=/run/x/c -p 2222 -l ops -- web-2"
        );
    }
}
