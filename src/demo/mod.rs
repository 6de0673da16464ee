//! The demo deployment: the reference architecture on the local daemon,
//! with the project's own workload `agile-sim` standing in for every
//! service. `up` is idempotent; `down` removes exactly what `up` created
//! (everything carries the label `agile-deck.demo`).
//!
//! The workload image is built `FROM scratch` through the build endpoint
//! with an in-memory tar context holding the statically linked agile-sim
//! that `build.rs` compiled and this binary embeds: no registry, no pull.

mod deployment;
mod image;
pub mod swarm;

pub use deployment::{
    DemoReplica, Zone, alias_networks, container_body, deployment, monitoring, zones,
};
pub use image::{AGILE_SIM, VARIANTS, ensure_image, ensure_variants, image_tag};

use color_eyre::eyre::{Result, WrapErr, eyre};
use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};

use deployment::endpoint;

/// Label on everything the demo creates.
pub const DEMO_LABEL: &str = "agile-deck.demo";
pub const IMAGE_REPO: &str = "agile-sim";
pub const COMPOSE_PROJECT: &str = "agile";
/// Label with the version of the demo's container recipe: `up` recreates a
/// container made by an older one (say, before names resolved only on the
/// zones the flows connect).
const DEMO_RECIPE_LABEL: &str = "agile-deck.demo-recipe";
const DEMO_RECIPE: &str = "2";

async fn ensure_networks(
    docker: &Docker,
    extra: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let existing = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .wrap_err("cannot list networks")?;
    for z in zones().iter().chain([monitoring()]) {
        if existing
            .iter()
            .any(|n| n.name.as_deref() == Some(z.name.as_str()))
        {
            progress(format!("network {}: exists", z.name));
            continue;
        }
        let mut labels: HashMap<String, String> = [
            (DEMO_LABEL.to_string(), "reference".to_string()),
            ("zone".to_string(), z.zone.to_string()),
        ]
        .into_iter()
        .collect();
        labels.extend(extra.iter().cloned());
        let request = |subnet: Option<&str>| NetworkCreateRequest {
            name: z.name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(z.internal),
            labels: Some(labels.clone()),
            options: (z.name == monitoring().name).then(|| {
                [(
                    "com.docker.network.bridge.enable_icc".to_string(),
                    "false".to_string(),
                )]
                .into_iter()
                .collect()
            }),
            ipam: subnet.map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        match docker.create_network(request(Some(&z.subnet))).await {
            Ok(_) => progress(format!(
                "network {}: created ({}{})",
                z.name,
                z.subnet,
                if z.internal { ", internal" } else { "" }
            )),
            Err(e) if e.to_string().contains("overlap") => {
                // The reference's subnet is taken on this host: let Docker pick one.
                docker
                    .create_network(request(None))
                    .await
                    .wrap_err_with(|| format!("cannot create network {}", z.name))?;
                progress(format!(
                    "network {}: created (subnet {} in use here; Docker chose one)",
                    z.name, z.subnet
                ));
            }
            Err(e) => return Err(eyre!("cannot create network {}: {e}", z.name)),
        }
    }
    Ok(())
}

fn demo_filter(extra: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut labels = vec![DEMO_LABEL.to_string()];
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    let mut filters = HashMap::new();
    filters.insert("label".to_string(), labels);
    filters
}

/// Remove a network, patiently: a container or task just removed holds its
/// endpoint a few seconds longer ("active endpoints", "in use by task");
/// an overlay removed stays listed a moment and is then "not found": gone.
async fn remove_network(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let mut tries = 0;
    loop {
        match docker.remove_network(name).await {
            Err(e)
                if tries < 40
                    && ["in use by task", "active endpoints"]
                        .iter()
                        .any(|w| e.to_string().contains(w)) =>
            {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) if e.to_string().contains("not found") => return Ok(()),
            other => return other,
        }
    }
}

/// Create (or start) whatever of the demo is missing. `extra_labels` go on
/// every resource too (the tests mark their run with them).
pub async fn up(
    docker: &Docker,
    extra_labels: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let image = ensure_image(docker, progress).await?;
    ensure_variants(docker, &image, progress).await?;
    ensure_networks(docker, extra_labels, progress).await?;
    let existing = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list containers")?;
    // (state, made by this recipe) of the container called `name`.
    let state_of = |name: &str| {
        existing
            .iter()
            .find(|c| {
                c.names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/') == name)
            })
            .map(|c| {
                let current = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(DEMO_RECIPE_LABEL))
                    .is_some_and(|v| v == DEMO_RECIPE);
                (c.state.map(|s| s.to_string()).unwrap_or_default(), current)
            })
    };
    let replicas = deployment();
    let total = replicas.len();
    for (i, r) in replicas.iter().enumerate() {
        let n = i + 1;
        let mut found = state_of(&r.name);
        if let Some((_, false)) = found {
            docker
                .remove_container(
                    &r.name,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await
                .wrap_err_with(|| format!("cannot replace {}", r.name))?;
            progress(format!(
                "[{n}/{total}] {}: made by an older agile-deck, recreating",
                r.name
            ));
            found = None;
        }
        match found.map(|(state, _)| state).as_deref() {
            Some("running") => {
                progress(format!("[{n}/{total}] {}: running", r.name));
                continue;
            }
            Some(_) => {}
            None => {
                docker
                    .create_container(
                        Some(CreateContainerOptions {
                            name: Some(r.name.clone()),
                            ..Default::default()
                        }),
                        container_body(r, &image, extra_labels),
                    )
                    .await
                    .wrap_err_with(|| format!("cannot create {}", r.name))?;
                for net in &r.networks[1..] {
                    docker
                        .connect_network(
                            net,
                            NetworkConnectRequest {
                                container: r.name.clone(),
                                endpoint_config: Some(endpoint(r, net)),
                            },
                        )
                        .await
                        .wrap_err_with(|| format!("cannot attach {} to {net}", r.name))?;
                }
                docker
                    .connect_network(
                        monitoring().name.as_str(),
                        NetworkConnectRequest {
                            container: r.name.clone(),
                            endpoint_config: None,
                        },
                    )
                    .await
                    .wrap_err_with(|| {
                        format!("cannot attach {} to {}", r.name, monitoring().name)
                    })?;
            }
        }
        docker
            .start_container(&r.name, None)
            .await
            .wrap_err_with(|| format!("cannot start {}", r.name))?;
        progress(format!(
            "[{n}/{total}] {}: started ({} · {})",
            r.name,
            r.layer,
            r.networks.join(", ")
        ));
    }
    Ok(())
}

/// Whether the demo's containers all exist and run.
pub async fn is_up(docker: &Docker) -> Result<bool> {
    let running = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(demo_filter(&[])),
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list containers")?;
    Ok(running.len() >= deployment().len())
}

/// Remove every container and network the demo created (and, with
/// `extra_labels`, only those that also carry them).
pub async fn down(
    docker: &Docker,
    extra_labels: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(demo_filter(extra_labels)),
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list containers")?;
    let removals = containers.iter().filter_map(|c| {
        let id = c.id.clone()?;
        let name = c.names.iter().flatten().next().cloned().unwrap_or_default();
        Some(async move {
            let r = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
            (name, r)
        })
    });
    for (name, r) in futures_util::future::join_all(removals).await {
        match r {
            Ok(()) => progress(format!("{}: removed", name.trim_start_matches('/'))),
            Err(e) => progress(format!(
                "{}: not removed: {e}",
                name.trim_start_matches('/')
            )),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(demo_filter(extra_labels)),
        }))
        .await
        .wrap_err("cannot list networks")?;
    for n in networks {
        let name = n.name.unwrap_or_default();
        match remove_network(docker, &name).await {
            Ok(()) => progress(format!("network {name}: removed")),
            Err(e) => progress(format!("network {name}: not removed: {e}")),
        }
    }
    Ok(())
}
