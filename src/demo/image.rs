//! The workload image: `agile-sim` built `FROM scratch` through the build
//! endpoint with an in-memory tar context holding the statically linked
//! binary `build.rs` compiled and this binary embeds, and its variants for
//! trying rollouts.

use color_eyre::eyre::{Result, WrapErr, eyre};
use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptions, ListImagesOptions};
use futures_util::StreamExt;

use super::IMAGE_REPO;

/// The statically linked workload, compiled by build.rs.
pub static AGILE_SIM: &[u8] = include_bytes!(env!("AGILE_SIM_STATIC"));
pub(super) const AGILE_SIM_MISSING_WHY: &str = env!("AGILE_SIM_MISSING_WHY");

/// Label on the image: a digest of the embedded binary, to rebuild only on change.
const IMAGE_DIGEST_LABEL: &str = "agile-sim.digest";

/// The image tag this build of agile-deck uses.
pub fn image_tag() -> String {
    format!("{IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"))
}

/// Bump when the Dockerfile or the build labels change, to force a rebuild.
const RECIPE: &[u8] = b"recipe 3";

/// FNV-1a of the workload and the recipe: enough to tell two builds apart.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().chain(RECIPE) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

fn dockerfile() -> String {
    format!(
        "FROM scratch\n\
         COPY agile-sim /agile-sim\n\
         EXPOSE 8080\n\
         ENV VERSION={}\n\
         LABEL {IMAGE_DIGEST_LABEL}={}\n\
         HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 CMD [\"/agile-sim\", \"probe\", \"http://127.0.0.1:8080/health\"]\n\
         ENTRYPOINT [\"/agile-sim\"]\n\
         CMD [\"serve\"]\n",
        env!("CARGO_PKG_VERSION"),
        digest(AGILE_SIM)
    )
}

/// Build `tag` from an in-memory context of (name, bytes, mode) files
/// with a `Dockerfile` among them.
async fn build(
    docker: &Docker,
    tag: &str,
    files: &[(&str, &[u8], u32)],
    labels: HashMap<String, String>,
) -> Result<()> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *data)
            .wrap_err("cannot pack the build context")?;
    }
    let tar = builder
        .into_inner()
        .wrap_err("cannot pack the build context")?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.wrap_err_with(|| format!("image {tag}: build failed"))?;
        if let Some(detail) = info.error_detail {
            return Err(eyre!(
                "image {tag}: build failed: {}",
                detail.message.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Build the workload image unless an identical one exists; returns its tag.
pub async fn ensure_image(docker: &Docker, progress: &mut dyn FnMut(String)) -> Result<String> {
    if AGILE_SIM.is_empty() {
        return Err(eyre!(
            "this agile-deck was built without the workload binary: {AGILE_SIM_MISSING_WHY}"
        ));
    }
    let tag = image_tag();
    let want = digest(AGILE_SIM);
    let mut filters = HashMap::new();
    filters.insert("reference".to_string(), vec![tag.clone()]);
    let images = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list images")?;
    if images
        .iter()
        .any(|i| i.labels.get(IMAGE_DIGEST_LABEL) == Some(&want))
    {
        progress(format!("image {tag}: up to date"));
        return Ok(tag);
    }
    progress(format!(
        "image {tag}: building FROM scratch ({} KiB workload)…",
        AGILE_SIM.len() / 1024
    ));
    let mut labels = HashMap::new();
    // Not DEMO_LABEL: containers inherit image labels, and `down` must not
    // remove every container of this image.
    labels.insert("agile-deck.image".to_string(), IMAGE_REPO.to_string());
    let dockerfile = dockerfile();
    let files: [(&str, &[u8], u32); 2] = [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("agile-sim", AGILE_SIM, 0o755),
    ];
    build(docker, &tag, &files, labels).await?;
    progress(format!("image {tag}: built"));
    Ok(tag)
}

/// The versions to try rollouts with: `agile-sim:next` (a good one) and
/// `agile-sim:bad` (on which the demo's replicas report unhealthy), each
/// the workload image with another `ENV VERSION`. Built from the local
/// image: no registry involved.
pub const VARIANTS: [(&str, &str); 2] = [("next", "next"), ("bad", "bad")];

pub async fn ensure_variants(
    docker: &Docker,
    base: &str,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (tag, version) in VARIANTS {
        let tag = format!("{IMAGE_REPO}:{tag}");
        let dockerfile = format!("FROM {base}\nENV VERSION={version}\n");
        build(
            docker,
            &tag,
            &[("Dockerfile", dockerfile.as_bytes(), 0o644)],
            HashMap::new(),
        )
        .await?;
        progress(format!(
            "image {tag}: ready (VERSION={version}, for :rollout)"
        ));
        out.push(tag);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_is_embedded_and_static() {
        assert!(AGILE_SIM.len() > 100_000, "{AGILE_SIM_MISSING_WHY}");
        assert_eq!(&AGILE_SIM[..4], b"\x7fELF");
    }
}
