//! Compiles the workload `src/bin/agile-sim.rs` (std-only, one file) into a
//! statically linked executable and hands its path to the main binary, which
//! embeds it: `agile-deck demo up` then builds its `FROM scratch` image from
//! an installed binary as well as from a clone, without cargo or a registry.
//!
//! Where a static build is not possible (another OS or target, no static
//! libc), the embedded workload is empty and `demo up` says why.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/bin/agile-sim.rs";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("agile-sim-static");
    let target = std::env::var("TARGET").unwrap_or_default();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut why = String::new();
    if target.contains("linux") {
        let status = Command::new(&rustc)
            .args([
                "--edition",
                "2024",
                "-C",
                "opt-level=3",
                "-C",
                "strip=symbols",
            ])
            .args(["-C", "target-feature=+crt-static", "--target", &target])
            .arg("-o")
            .arg(&out)
            .arg(src)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => why = format!("rustc exited with {s} building a static {src}"),
            Err(e) => why = format!("cannot run {rustc}: {e}"),
        }
    } else {
        why = format!("the workload image is Linux-only; this build targets {target}");
    }
    if !why.is_empty() {
        println!("cargo:warning=agile-sim not embedded: {why}");
        std::fs::write(&out, b"").unwrap();
    }
    println!("cargo:rustc-env=AGILE_SIM_STATIC={}", out.display());
    println!("cargo:rustc-env=AGILE_SIM_MISSING_WHY={why}");
}
