//! `agile-deck agent install HOST`: this very binary copied over the
//! user's ssh into a path the remote user owns, checked by its SHA-256 on
//! both sides before it replaces anything, then asked its version.

use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::link::{INSTALLED, shell_quote};

/// What was installed, for the user.
#[derive(Debug)]
pub struct Installed {
    /// The path on the host, as its shell expanded it.
    pub path: String,
    pub sha256: String,
    pub bytes: usize,
    /// What the installed binary says of itself (`agile-deck 0.1.0`).
    pub version: String,
}

/// Copy `binary` (default: this one) to `url`'s host, at `path` (default
/// `~/.local/bin/agile-deck`).
pub async fn install(
    url: &str,
    path: Option<&str>,
    binary: Option<&std::path::Path>,
) -> Result<Installed, String> {
    let exe = match binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
    };
    let binary = std::fs::read(&exe).map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
    let sha256 = hex(&Sha256::digest(&binary));
    // The same machine kind, or the binary cannot run there.
    let arch = run(url, "uname -m", None).await?;
    if arch.trim() != std::env::consts::ARCH {
        return Err(format!(
            "the host is {} and this binary is built for {}: build agile-deck for {0} \
             and install that one",
            arch.trim(),
            std::env::consts::ARCH
        ));
    }
    let dest = match path {
        None => format!("\"$HOME/{INSTALLED}\""),
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
            None => shell_quote(p),
        },
    };
    // Written beside the old one, checked, run once (a host whose C
    // library cannot load it fails here), then moved over it: a binary in
    // use is never half replaced, and a broken one never put in place.
    let script = format!(
        "set -e; dest={dest}; mkdir -p \"$(dirname \"$dest\")\"; tmp=\"$dest.part.$$\"; \
         trap 'rm -f \"$tmp\"' EXIT; cat > \"$tmp\"; chmod 755 \"$tmp\"; \
         sum=$(sha256sum \"$tmp\" | cut -d' ' -f1); \
         if [ \"$sum\" != {sha256} ]; then echo \"checksum mismatch: $sum\" >&2; exit 3; fi; \
         version=$(\"$tmp\" --version); \
         mv -f \"$tmp\" \"$dest\"; trap - EXIT; echo \"$dest\"; echo \"$version\""
    );
    let said = run(url, &script, Some(&binary)).await?;
    let mut lines = said.lines();
    let path = lines.next().unwrap_or_default().to_string();
    let version = lines.next().unwrap_or_default().to_string();
    Ok(Installed {
        path,
        sha256,
        bytes: binary.len(),
        version,
    })
}

/// Run `command` on the host (with `input` on its stdin): its stdout, or
/// what it said on stderr.
async fn run(url: &str, command: &str, input: Option<&[u8]>) -> Result<String, String> {
    let mut child = crate::relay::ssh_to(url)
        .await?
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.map(<[u8]>::to_vec).unwrap_or_default();
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        let _ = stdin.shutdown().await;
    });
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("ssh: {e}"))?;
    let _ = feed.await;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "`{}` on the host failed ({}): {}",
            command.split(';').next().unwrap_or(command),
            out.status,
            last.unwrap_or("no message")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
