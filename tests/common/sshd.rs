//! A real `sshd` from Debian's package, on 127.0.0.1 and a free port, with
//! a host key, a client key and a client config of the test's own: an
//! `ssh://` host for the tests that reaches this machine's daemon through
//! `docker system dial-stdio`. Stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::in_ci;

pub struct Sshd {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
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
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // sshd wants its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = agile_deck::promserver::free_port(0).unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_key\n\
                 AuthorizedKeysFile {0}/authorized_keys\nPidFile {0}/sshd.pid\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100\n",
                d.display()
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_pub}"),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {0}/client_key\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {0}/known_hosts\n  StrictHostKeyChecking yes\n",
                d.display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Sshd { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen; its log:\n{}",
                std::fs::read_to_string(s.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(s)
    }

    /// `ssh://root@127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
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
