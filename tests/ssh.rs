//! `ssh://` hosts, against a real sshd on 127.0.0.1 (tests/common/sshd.rs)
//! whose `docker system dial-stdio` reaches this machine's daemon: watched
//! through the user's own ssh, a clear message when ssh refuses, and no
//! ssh process left behind when agile-deck ends.

mod common;

use std::process::Command;
use std::time::Duration;

use common::sshd::Sshd;
use common::tmux::Tmux;
use common::{TestRun, docker, docker_or_skip, tool_or_skip};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// The tests count the relays' ssh processes: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// ssh processes of agile-deck's relays (their control path names them).
fn relay_processes() -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-af", "agile-deck-relay-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("ControlPath=") && !l.contains("tmux"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_through_ssh_and_nothing_left_behind() {
    let _one = SERIAL.lock().await;
    if !docker_or_skip("a_snapshot_through_ssh_and_nothing_left_behind") {
        return;
    }
    let Some(sshd) = Sshd::start_or_skip("a_snapshot_through_ssh_and_nothing_left_behind") else {
        return;
    };
    let t = TestRun::new();
    let name = format!("viassh-{}", t.id);
    let image = common::workload_image().await;
    docker(&["run", "-d", "--name", &name, "--label", &t.label(), &image]);
    let out = Command::new(BIN)
        .args(["--host", &sshd.url(), "snapshot", "--json"])
        .env("AGILE_DECK_SSH", sshd.ssh_command())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["host"],
        format!("127.0.0.1 ({})", sshd.url()),
        "the host, named from its address"
    );
    let names: Vec<&str> = json["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&name.as_str()), "{names:?}");
    assert!(relay_processes().is_empty(), "{:?}", relay_processes());

    // A key the server does not know: ssh's own words, and no prompt.
    sshd.revoke_client_key();
    let out = Command::new(BIN)
        .args(["--host", &sshd.url()])
        .env("AGILE_DECK_SSH", sshd.ssh_command())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Permission denied (publickey"), "{stderr}");
    assert!(stderr.contains("never a password prompt"), "{stderr}");
    assert!(relay_processes().is_empty(), "{:?}", relay_processes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_over_ssh() {
    let _one = SERIAL.lock().await;
    if !docker_or_skip("the_dashboard_over_ssh") || !tool_or_skip("the_dashboard_over_ssh", "tmux")
    {
        return;
    }
    let Some(sshd) = Sshd::start_or_skip("the_dashboard_over_ssh") else {
        return;
    };
    let t = TestRun::new();
    let name = format!("viassh-{}", t.id);
    let image = common::workload_image().await;
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &t.label(),
        "--label",
        "layer=data",
        &image,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(
        "ssh",
        &format!(
            "AGILE_DECK_SSH='{}' XDG_STATE_HOME={} {BIN} --no-prometheus --host {}",
            sshd.ssh_command(),
            dir.path().display(),
            sshd.url()
        ),
    );
    tmux.wait("the fleet through ssh", Duration::from_secs(30), |s| {
        s.contains("agile-deck ─ 127.0.0.1 ") && s.contains("│data")
    });
    // No agent there (tests/agent.rs has it): the figures come from
    // Docker's stats streams, and the header says why.
    assert!(
        tmux.screen()
            .contains("agent: not installed on 127.0.0.1 (agile-deck agent install 127.0.0.1)"),
        "{}",
        tmux.screen()
    );
    tmux.keys(&["/", &t.label(), "Enter", "Enter", "Enter"]);
    tmux.wait("the replica with figures", Duration::from_secs(30), |s| {
        s.lines().any(|l| {
            l.contains(&name)
                && l.contains("running")
                && l.split_whitespace()
                    .any(|w| w.contains('.') && w.parse::<f64>().is_ok())
        })
    });
    assert!(
        !relay_processes().is_empty(),
        "the relay runs while watching"
    );
    tmux.keys(&["q"]);
    tmux.wait("agile-deck ended", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    });
    common::wait_for("no ssh left behind", Duration::from_secs(5), || {
        relay_processes().is_empty().then_some(())
    });

    // A dropped session (the operator's ssh went, or the window closed:
    // the terminal hangs up) ends it as `q` does: no ssh left and the
    // relay's folder gone.
    let runtime = tempfile::tempdir().unwrap();
    let relay_folders = || {
        std::fs::read_dir(runtime.path())
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name()
                    .to_string_lossy()
                    .starts_with("agile-deck-relay-")
            })
            .count()
    };
    let tmux = Tmux::start(
        "ssh-hangup",
        &format!(
            "AGILE_DECK_SSH='{}' XDG_STATE_HOME={} XDG_RUNTIME_DIR={} {BIN} --no-prometheus \
             --host {}",
            sshd.ssh_command(),
            dir.path().display(),
            runtime.path().display(),
            sshd.url()
        ),
    );
    tmux.wait("the fleet through ssh", Duration::from_secs(30), |s| {
        s.contains("│data")
    });
    assert_eq!(relay_folders(), 1, "the relay's folder while watching");
    tmux.hang_up();
    assert_eq!(relay_folders(), 0, "the relay's folder removed");
    common::wait_for("no ssh left behind", Duration::from_secs(5), || {
        relay_processes().is_empty().then_some(())
    });
}
