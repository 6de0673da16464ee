//! A new replica from a running one: its configuration copied (what is
//! the service's kept, what is the source container's own dropped), then
//! created, connected and started. Scaling and Compose rollouts use it.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, NetworkConnectRequest,
    NetworkingConfig,
};
use bollard::query_parameters::CreateContainerOptions;

use super::StepError;
use super::steps::step_error;

pub const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";

/// A new replica's configuration from a running one's: image, command,
/// entrypoint, env, labels (with its own number), health check, user,
/// working dir, stop signal and timeout, every host setting (limits,
/// restart policy, mounts; published ports get a free host port), and its
/// networks with their aliases. Not the hostname, IPs or MAC: those are
/// the new container's own. Returns the body (on the first network) and
/// the other networks to connect before start.
pub fn clone_body(
    source: &ContainerInspectResponse,
    number: u64,
) -> (ContainerCreateBody, Vec<(String, EndpointSettings)>) {
    let config = source.config.clone().unwrap_or_default();
    let mut host = source.host_config.clone().unwrap_or_default();
    if let Some(ports) = host.port_bindings.as_mut() {
        for bindings in ports.values_mut().flatten() {
            for b in bindings {
                b.host_port = Some(String::new());
            }
        }
    }
    let mut labels = config.labels.clone().unwrap_or_default();
    if labels.contains_key(COMPOSE_NUMBER) {
        labels.insert(COMPOSE_NUMBER.into(), number.to_string());
    }
    // The aliases that name the service, not the source container.
    let source_name = source
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let source_id = source.id.clone().unwrap_or_default();
    let hostname = config.hostname.clone().unwrap_or_default();
    let own = |a: &String| {
        a == &source_name || a == &hostname || (a.len() >= 12 && source_id.starts_with(a.as_str()))
    };
    let mut networks: Vec<(String, EndpointSettings)> = source
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(net, e)| {
            let aliases: Vec<String> = e
                .aliases
                .unwrap_or_default()
                .into_iter()
                .filter(|a| !own(a))
                .collect();
            (
                net,
                EndpointSettings {
                    aliases: (!aliases.is_empty()).then_some(aliases),
                    ..Default::default()
                },
            )
        })
        .collect();
    // The network it was created on first (the others are connected).
    let primary = host.network_mode.clone().unwrap_or_default();
    networks.sort_by_key(|(n, _)| (n != &primary, n.clone()));
    let first = networks.first().cloned();
    let rest = networks.into_iter().skip(1).collect();
    let networking_config = first.map(|(net, e)| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(net, e)])),
    });
    let body = ContainerCreateBody {
        image: config.image,
        cmd: config.cmd,
        entrypoint: config.entrypoint,
        env: config.env,
        labels: Some(labels),
        healthcheck: config.healthcheck,
        user: config.user,
        working_dir: config.working_dir,
        exposed_ports: config.exposed_ports,
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        tty: config.tty,
        open_stdin: config.open_stdin,
        volumes: config.volumes,
        host_config: Some(host),
        networking_config,
        ..Default::default()
    };
    (body, rest)
}

/// Create `name` from a body (see `clone_body`), connect its other
/// networks, start it; its id.
pub async fn create_and_start(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
    more: Vec<(String, EndpointSettings)>,
) -> Result<String, StepError> {
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.to_string()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(step_error)?;
    for (net, endpoint) in more {
        docker
            .connect_network(
                &net,
                NetworkConnectRequest {
                    container: created.id.clone(),
                    endpoint_config: Some(endpoint),
                },
            )
            .await
            .map_err(step_error)?;
    }
    docker
        .start_container(&created.id, None)
        .await
        .map_err(step_error)?;
    Ok(created.id)
}

/// A running replica with every label in `filters` (`key=value`), as it
/// is now.
pub(super) async fn running_sibling(
    docker: &Docker,
    filters: &[String],
) -> Result<Option<ContainerInspectResponse>, StepError> {
    use bollard::query_parameters::ListContainersOptions;
    let listed = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(HashMap::from([("label".to_string(), filters.to_vec())])),
            ..Default::default()
        }))
        .await
        .map_err(step_error)?;
    for c in listed {
        if let Ok(i) = docker
            .inspect_container(c.id.as_deref().unwrap_or_default(), None)
            .await
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, HostConfig, NetworkSettings, PortBinding};

    #[test]
    fn a_clone_keeps_the_service_and_drops_what_is_the_sources_own() {
        let source = ContainerInspectResponse {
            id: Some("abcdef0123456789".into()),
            name: Some("/agile-agent-product-pm-001".into()),
            config: Some(ContainerConfig {
                hostname: Some("pm1".into()),
                image: Some("agile-sim:0.1.0".into()),
                env: Some(vec!["TEAM_ID=team-product".into()]),
                labels: Some(HashMap::from([
                    (COMPOSE_NUMBER.to_string(), "1".to_string()),
                    ("team".to_string(), "product".to_string()),
                ])),
                stop_timeout: Some(20),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("agile-execution".into()),
                nano_cpus: Some(250_000_000),
                memory: Some(64 << 20),
                port_bindings: Some(HashMap::from([(
                    "8080/tcp".to_string(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some("32768".into()),
                    }]),
                )])),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    (
                        "agile-execution".to_string(),
                        EndpointSettings {
                            aliases: Some(vec![
                                "abcdef012345".into(),
                                "agile-agent-product-pm-001".into(),
                                "product-agents".into(),
                            ]),
                            ip_address: Some("172.23.0.5".into()),
                            mac_address: Some("02:42:ac:17:00:05".into()),
                            ..Default::default()
                        },
                    ),
                    ("agile-monitoring".to_string(), EndpointSettings::default()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (body, more) = clone_body(&source, 6);
        assert_eq!(body.hostname, None);
        assert_eq!(body.image.as_deref(), Some("agile-sim:0.1.0"));
        assert_eq!(body.env, Some(vec!["TEAM_ID=team-product".into()]));
        let labels = body.labels.unwrap();
        assert_eq!(labels[COMPOSE_NUMBER], "6");
        assert_eq!(labels["team"], "product");
        assert_eq!(body.stop_timeout, Some(20));
        let host = body.host_config.unwrap();
        assert_eq!(
            (host.nano_cpus, host.memory),
            (Some(250_000_000), Some(64 << 20))
        );
        let binding = &host.port_bindings.unwrap()["8080/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            binding.host_port.as_deref(),
            Some(""),
            "a free port, not the source's"
        );
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        let e = &endpoints["agile-execution"];
        assert_eq!(e.aliases, Some(vec!["product-agents".to_string()]));
        assert_eq!((e.ip_address.clone(), e.mac_address.clone()), (None, None));
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].0, "agile-monitoring");
    }
}
