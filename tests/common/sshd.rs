//! A real `sshd` from Debian's package, on 127.0.0.1 and a free port (or
//! in a network namespace of the cluster harness), with a host key, a
//! client key and a client config of the test's own: an `ssh://` host for
//! the tests that reaches a daemon through `docker system dial-stdio`.
//! Its sessions get a PATH and a HOME of the test's own (`bin/`, `home/`),
//! where a test puts the agent or installs it. Stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::in_ci;

pub struct Sshd {
    pub port: u16,
    /// The address it listens on.
    pub addr: String,
    dir: tempfile::TempDir,
    child: Child,
}

/// Where an sshd runs and what its sessions see.
pub struct Place<'a> {
    /// A network namespace (`/run/netns/NAME`) and an address in it.
    pub netns: Option<(&'a str, &'a str)>,
    /// `DOCKER_HOST` for its sessions (another daemon than the machine's).
    pub docker_host: Option<&'a str>,
}

fn keygen(path: &std::path::Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ssh-keygen {}", path.display());
}

impl Sshd {
    /// Started and answering (root and Debian's openssh-server needed:
    /// skipped loudly outside CI without them, a failure in CI).
    pub fn start_or_skip(test: &str) -> Option<Sshd> {
        Sshd::start_at_or_skip(
            test,
            Place {
                netns: None,
                docker_host: None,
            },
        )
    }

    pub fn start_at_or_skip(test: &str, place: Place) -> Option<Sshd> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(sshd) = sshd else {
            if in_ci() {
                panic!(
                    "{test}: CI=true but sshd is not installed: .ci/run must install openssh-server"
                );
            }
            eprintln!("\n*** SKIPPED {test}: sshd is not installed ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::create_dir_all(d.join("home")).unwrap();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // sshd wants its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        // A namespace of its own has every port free.
        let (addr, port) = match place.netns {
            Some((_, addr)) => (addr.to_string(), 2222),
            None => (
                "127.0.0.1".to_string(),
                agile_deck::promserver::free_port(0).unwrap(),
            ),
        };
        let docker_host = place
            .docker_host
            .map(|h| format!(" DOCKER_HOST={h}"))
            .unwrap_or_default();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress {addr}\nHostKey {0}/host_key\n\
                 AuthorizedKeysFile {0}/authorized_keys\nPidFile {0}/sshd.pid\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100\n\
                 SetEnv PATH={0}/bin:/usr/local/bin:/usr/bin:/bin HOME={0}/home{docker_host}\n",
                d.display()
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(d.join("known_hosts"), format!("[{addr}]:{port} {host_pub}")).unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {0}/client_key\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {0}/known_hosts\n  StrictHostKeyChecking yes\n",
                d.display()
            ),
        )
        .unwrap();
        let mut cmd = match place.netns {
            Some((ns, _)) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg(sshd);
                c
            }
            None => Command::new(sshd),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Sshd {
            port,
            addr,
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.answers() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen; its log:\n{}",
                std::fs::read_to_string(s.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(s)
    }

    /// Whether it accepts a connection (in its namespace, if any).
    fn answers(&self) -> bool {
        let log = std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default();
        if self.addr == "127.0.0.1" {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        } else {
            log.contains("Server listening on")
        }
    }

    /// `ssh://root@ADDR:PORT`
    pub fn url(&self) -> String {
        format!("ssh://root@{}:{}", self.addr, self.port)
    }

    /// The folder on its sessions' PATH.
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// Its sessions' HOME.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// agile-deck on its sessions' PATH: the agent is found there.
    pub fn put_agent(&self, binary: &str) {
        std::os::unix::fs::symlink(binary, self.bin().join("agile-deck")).unwrap();
    }

    /// The pid of the listening sshd (its sessions are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The ssh command line the test's client uses (`AGILE_DECK_SSH`).
    pub fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.config().display())
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// Make the client's key unknown to the server.
    pub fn revoke_client_key(&self) {
        std::fs::write(self.dir.path().join("authorized_keys"), "").unwrap();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
