//! The real binary in tmux, driven with keys and read with capture-pane,
//! as an operator would use it.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, with one session running `command` (120×40
/// unless `start_sized`).
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn start(name: &str, command: &str) -> Tmux {
        Tmux::start_sized(name, command, (120, 40))
    }

    pub fn start_sized(name: &str, command: &str, (w, h): (u16, u16)) -> Tmux {
        let (w, h) = (w.to_string(), h.to_string());
        let t = Tmux {
            socket: format!("agile-deck-{name}-{}", std::process::id()),
        };
        // Keep the pane after the program exits, to read how it left the terminal.
        let wrapped = format!("{command}; echo EXIT=$?; sleep 120");
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "new-session",
                "-d",
                "-x",
                &w,
                "-y",
                &h,
                "-s",
                "e2e",
                &wrapped,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    /// The program the pane runs (the child of its shell, not the shell).
    pub fn program(&self) -> String {
        let shell = self.display("#{pane_pid}");
        let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no program under the pane's shell {shell}");
        pid
    }

    /// `kill -9` the program the pane runs, and wait until it is gone.
    pub fn kill_program(&self) {
        let pid = self.program();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success()
        );
        wait_gone(&pid);
    }

    /// Close the terminal under the program, as a dropped ssh session
    /// does (tmux's server goes), and wait until the program is gone.
    pub fn hang_up(self) {
        let pid = self.program();
        drop(self);
        wait_gone(&pid);
    }

    /// Send keys one at a time, so Esc is not read as Alt with the next key.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "e2e", k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "e2e"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format (`#{alternate_on}`, `#{pane_pid}`) of the pane.
    pub fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "-t",
                "e2e",
                format,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn alternate_on(&self) -> bool {
        self.display("#{alternate_on}") == "1"
    }

    /// Wait until the screen satisfies `ok`; the screen is printed on timeout.
    pub fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Wait until process `pid` has ended.
fn wait_gone(pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "{pid} still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
}
