//! The real binary's answers to user mistakes: an unreachable daemon, broken
//! topology / keymap / theme files. A clear message, exit code 1, no
//! backtrace, and nothing left in TUI mode (it never got there).

use std::process::Command;

fn agile_deck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Backtrace"), "{stderr}");
    assert!(
        !stderr.contains("\x1b[?1049h"),
        "entered the alternate screen: {stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn absent_socket_names_it_and_how_to_fix() {
    let (code, err) = agile_deck(&["--host", "unix:///nonexistent/docker.sock"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "Cannot reach the Docker daemon at unix:///nonexistent/docker.sock (from --host)"
        ),
        "{err}"
    );
    assert!(err.contains("is dockerd running?"), "{err}");
    assert!(err.contains("DOCKER_HOST"), "{err}");
}

#[test]
fn refused_tcp_names_the_url() {
    // Port 1 on loopback: nothing listens there.
    let (code, err) = agile_deck(&["--host", "tcp://127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Cannot reach the Docker daemon at tcp://127.0.0.1:1 (from --host)"),
        "{err}"
    );
    assert!(err.contains("docker -H URL info"), "{err}");
}

#[test]
fn demo_commands_report_an_unreachable_daemon_too() {
    let (code, err) = agile_deck(&["--host", "unix:///nonexistent/docker.sock", "demo", "up"]);
    assert_eq!(code, 1);
    assert!(err.contains("Cannot reach the Docker daemon"), "{err}");
}

#[test]
fn an_ssh_host_that_cannot_be_reached_says_what_ssh_said() {
    // Port 1 on the loopback: nothing listens, ssh is refused at once.
    let (code, err) = agile_deck(&["--host", "ssh://ops@127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Cannot reach the Docker daemon at ssh://ops@127.0.0.1:1"),
        "{err}"
    );
    assert!(err.contains("port 1: Connection refused"), "{err}");
    assert!(err.contains("never a password prompt"), "{err}");
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn broken_files_are_reported_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let topo = write(
        &dir,
        "topo.toml",
        "layers = [\"a\"]\n\n[[rule]]\nname = \"x\"\nlayer = \"nope\"\n",
    );
    let (code, err) = agile_deck(&["--topology", &topo]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("topology {topo}, line 3: unknown layer \"nope\"")),
        "{err}"
    );

    let keys = write(
        &dir,
        "keys.toml",
        "[global]\nquit = [\"q\"]\nfly = [\"f\"]\n",
    );
    let (code, err) = agile_deck(&["--keymap", &keys]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("keymap {keys}, line 3: unknown action \"fly\"")),
        "{err}"
    );

    let theme = write(
        &dir,
        "theme.toml",
        "name = \"x\"\n[styles]\nheader = { fg = \"mauve-ish\" }\n",
    );
    let (code, err) = agile_deck(&["--theme", &theme]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "theme {theme}, line 3: unknown colour \"mauve-ish\""
        )),
        "{err}"
    );

    let config = write(
        &dir,
        "config.toml",
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\ntimout = 3\n",
    );
    let (code, err) = agile_deck(&["--config", &config]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("config {config}, line 3: unknown field `timout`")),
        "{err}"
    );
    let (code, err) = agile_deck(&["--prometheus", "localhost:9090"]);
    assert_eq!(code, 1);
    assert!(err.contains("Prometheus URL \"localhost:9090\""), "{err}");
    let (code, err) = agile_deck(&[
        "--prometheus",
        "http://127.0.0.1:9",
        "--prometheus-timeout",
        "0",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("timeout 0: give seconds between 0.1 and 3600"),
        "{err}"
    );

    let (code, err) = agile_deck(&["--topology", "/nonexistent/topology.toml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("topology /nonexistent/topology.toml") && err.contains("cannot read it"),
        "{err}"
    );
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for word in [
        "--host",
        "--demo",
        "--topology",
        "--keymap",
        "--theme",
        "demo",
    ] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}

/// stdout and the exit code of the real binary.
fn stdout_of(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent-config-home")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, text) = stdout_of(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(
            text.contains("agile-deck") && text.contains("prometheus"),
            "{shell}"
        );
        assert!(
            text.contains("snapshot"),
            "{shell}: subcommands complete too"
        );
    }
    let (code, man) = stdout_of(&["man"]);
    assert_eq!(code, 0);
    assert!(man.contains(".TH agile-deck 1"), "{man}");
    assert!(man.contains("read\\-only"), "flags are documented");
    let (code, _) = stdout_of(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
}

#[test]
fn config_default_and_check() {
    let (code, text) = stdout_of(&["config", "default"]);
    assert_eq!(code, 0);
    assert!(text.contains("read_only = false") && text.contains("[prometheus]"));
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "config.toml", &text);
    let (code, out) = stdout_of(&["--config", &good, "config", "check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("config:      {good}")), "{out}");
    assert!(
        out.contains("topology:    (built-in default): 5 layers"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("ok"), "{out}");
    // Shared flags may come after the subcommand too.
    let keymap = concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps/vim.toml");
    let (code, out) = stdout_of(&["config", "check", "--keymap", keymap, "--theme", "light"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("keymap:      {keymap}")), "{out}");
    assert!(out.contains("theme:       light"), "{out}");
    let prod = write(
        &dir,
        "prod.toml",
        "[[host]]\nurl = \"tcp://prod:2376\"\nread_only = true\n[prometheus]\nurl = \"http://127.0.0.1:9090\"\n",
    );
    let (_, out) = stdout_of(&["--config", &prod, "config", "check"]);
    assert!(
        out.contains("read-only:   false (and for tcp://prod:2376)"),
        "{out}"
    );
    assert!(
        out.contains("prometheus:  http://127.0.0.1:9090 every 5.0 s"),
        "{out}"
    );
    // Broken files: named with their line, exit 1.
    let bad = write(&dir, "bad.toml", "read_only = true\njournal = 3\n");
    let (code, err) = agile_deck(&["--config", &bad, "config", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("config {bad}, line 2")), "{err}");
    let keys = write(&dir, "keys.toml", "[table]\nup = [\"nokey\"]\n");
    let (code, err) = agile_deck(&["--keymap", &keys, "config", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("keymap {keys}, line 2")), "{err}");
}
