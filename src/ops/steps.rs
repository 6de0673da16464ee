//! What each step of an operation does to Docker (`execute`), Docker's
//! errors in plain words, and a Swarm spec updated at its version.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerUpdateBody, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    ListTasksOptions, RemoveContainerOptions, RestartContainerOptions, StopContainerOptions,
    UpdateServiceOptions,
};

use super::clone::{clone_body, create_and_start, running_sibling};
use super::{Action, Failure, StepError};
use crate::units::Resources;

/// Docker's error in plain words, and what kind it is.
pub fn step_error(e: bollard::errors::Error) -> StepError {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => StepError {
            failure: match status_code {
                404 => Failure::Gone,
                409 => Failure::Conflict,
                400 => Failure::Invalid,
                _ => Failure::Other,
            },
            message: format!("Docker refused: {message} (HTTP {status_code})"),
        },
        other => StepError {
            failure: Failure::Unreachable,
            message: format!("the Docker daemon did not answer: {other}"),
        },
    }
}

fn not_modified(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304,
            ..
        }
    )
}

/// A disconnect refused because the container is not on the network:
/// 403 on newer daemons, 500 "is not connected to network" on 20.10.
fn not_connected(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => *status_code == 403 || message.contains("is not connected"),
        _ => false,
    }
}

/// The limits a container has now, for "after" values.
async fn limits_of(docker: &Docker, id: &str) -> Result<Resources, StepError> {
    let c = docker
        .inspect_container(id, None)
        .await
        .map_err(step_error)?;
    let h = c.host_config.unwrap_or_default();
    Ok(Resources {
        nano_cpus: Some(h.nano_cpus.unwrap_or(0)),
        memory: Some(h.memory.unwrap_or(0)),
        memory_reservation: Some(h.memory_reservation.unwrap_or(0)),
        memory_swap: Some(h.memory_swap.unwrap_or(0)),
        pids_limit: Some(h.pids_limit.unwrap_or(0)),
    })
}

/// A graceful stop (SIGTERM, then SIGKILL after `timeout` seconds); a
/// container that was stopped already is fine.
async fn stop(docker: &Docker, id: &str, timeout: i64) -> Result<&'static str, StepError> {
    let options = StopContainerOptions {
        t: Some(timeout as i32),
        signal: None,
    };
    match docker.stop_container(id, Some(options)).await {
        Ok(()) => Ok("stopped"),
        Err(e) if not_modified(&e) => Ok("was stopped already"),
        Err(e) => Err(step_error(e)),
    }
}

/// Run one action; Ok carries what it did, for the progress line.
pub async fn execute(docker: &Docker, action: &Action) -> Result<String, StepError> {
    match action {
        Action::Clone {
            source,
            name,
            number,
            siblings,
        } => {
            let (src, instead) = match docker.inspect_container(source, None).await {
                Ok(c) => (c, None),
                Err(e) => {
                    let e = step_error(e);
                    // Gone since the plan: copy a running sibling as it is now.
                    let other = match e.failure {
                        Failure::Gone if !siblings.is_empty() => {
                            running_sibling(docker, siblings).await?
                        }
                        _ => None,
                    };
                    match other {
                        Some(c) => {
                            let n = c.name.clone().unwrap_or_default();
                            (c, Some(n.trim_start_matches('/').to_string()))
                        }
                        None => return Err(e),
                    }
                }
            };
            let (body, more) = clone_body(&src, *number);
            let id = create_and_start(docker, name, body, more).await?;
            Ok(format!(
                "created and started ({}){}",
                &id[..12.min(id.len())],
                instead
                    .map(|n| format!(", copied from {n}: the planned model was removed"))
                    .unwrap_or_default()
            ))
        }
        Action::StopRemove { id, timeout, .. } => {
            stop(docker, id, *timeout).await?;
            docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        force: false,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(step_error)?;
            Ok("stopped and removed".into())
        }
        Action::Update { id, change, .. } => {
            docker
                .update_container(
                    id,
                    ContainerUpdateBody {
                        nano_cpus: change.nano_cpus,
                        memory: change.memory,
                        memory_reservation: change.memory_reservation,
                        memory_swap: change.memory_swap,
                        pids_limit: change.pids_limit,
                        ..Default::default()
                    },
                )
                .await
                .map_err(step_error)?;
            let now = limits_of(docker, id).await?;
            Ok(format!("now {}", now.restricted_to(change).cli_flags()))
        }
        Action::SetRestart { id, policy, .. } => {
            docker
                .update_container(
                    id,
                    ContainerUpdateBody {
                        restart_policy: Some(bollard::models::RestartPolicy {
                            name: Some(*policy),
                            maximum_retry_count: None,
                        }),
                        ..Default::default()
                    },
                )
                .await
                .map_err(step_error)?;
            Ok(format!("restart policy {policy}"))
        }
        Action::Restart { id, timeout, .. } => {
            docker
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(*timeout as i32),
                        signal: None,
                    }),
                )
                .await
                .map_err(step_error)?;
            Ok("restarted".into())
        }
        Action::Stop { id, timeout, .. } => stop(docker, id, *timeout).await.map(String::from),
        Action::Start { id, .. } => match docker.start_container(id, None).await {
            Ok(()) => Ok("started".into()),
            Err(e) if not_modified(&e) => Ok("was running already".into()),
            Err(e) => Err(step_error(e)),
        },
        Action::SwarmScale { service, replicas } => {
            let version = update_spec(docker, service, |spec| {
                let mode = spec.mode.get_or_insert_with(Default::default);
                let replicated = mode.replicated.get_or_insert_with(Default::default);
                replicated.replicas = Some(*replicas as i64);
            })
            .await?;
            Ok(format!("replicas set to {replicas} (version {version})"))
        }
        Action::SwarmResources { service, change } => {
            update_spec(docker, service, |spec| {
                let task = spec.task_template.get_or_insert_with(Default::default);
                let resources = task.resources.get_or_insert_with(Default::default);
                let limits = resources.limits.get_or_insert_with(Default::default);
                if let Some(n) = change.nano_cpus {
                    limits.nano_cpus = Some(n);
                }
                if let Some(m) = change.memory {
                    limits.memory_bytes = Some(m);
                }
                if let Some(p) = change.pids_limit {
                    limits.pids = Some(p.max(0));
                }
                if let Some(r) = change.memory_reservation {
                    resources
                        .reservations
                        .get_or_insert_with(Default::default)
                        .memory_bytes = Some(r);
                }
            })
            .await?;
            Ok(format!(
                "task resources set ({}); tasks roll",
                change.cli_flags()
            ))
        }
        Action::WaitTasks { service, replicas } => wait_tasks(docker, service, *replicas).await,
        Action::NodeUpdate {
            node,
            hostname,
            change,
        } => super::node::update(docker, node, hostname, change).await,
        Action::Batch => Err(StepError {
            failure: Failure::Invalid,
            message: "a rollout batch runs in its rollout, not as a step".into(),
        }),
        Action::Disconnect { id, network, .. } => {
            match docker
                .disconnect_network(
                    network,
                    NetworkDisconnectRequest {
                        container: id.clone(),
                        force: Some(false),
                    },
                )
                .await
            {
                Ok(()) => Ok(format!("off {network}")),
                // Not connected any more: the end state is there.
                Err(e) if not_connected(&e) => Ok(format!("was not on {network}")),
                Err(e) => Err(step_error(e)),
            }
        }
        Action::Alias {
            id,
            network,
            aliases,
            ..
        } => {
            // An endpoint's aliases are fixed when it connects: reconnect.
            match docker
                .disconnect_network(
                    network,
                    NetworkDisconnectRequest {
                        container: id.clone(),
                        force: Some(false),
                    },
                )
                .await
            {
                // Not connected: connecting is all there is to do.
                Ok(()) => {}
                Err(e) if not_connected(&e) => {}
                Err(e) => return Err(step_error(e)),
            }
            docker
                .connect_network(
                    network,
                    NetworkConnectRequest {
                        container: id.clone(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: (!aliases.is_empty()).then(|| aliases.clone()),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(step_error)?;
            Ok(if aliases.is_empty() {
                format!("on {network} with no alias")
            } else {
                format!("on {network} as {}", aliases.join(", "))
            })
        }
    }
}

/// Change a Swarm service's spec at its current version (Swarm refuses
/// an update made against an older one); returns that version. Only what
/// `edit` changes changes: the spec is read as the daemon sent it.
pub async fn update_spec(
    docker: &Docker,
    service: &str,
    edit: impl FnOnce(&mut bollard::models::ServiceSpec),
) -> Result<u64, StepError> {
    let raw = service_json(docker, service).await?;
    let version = raw["Version"]["Index"].as_u64().unwrap_or(0);
    let mut spec = spec_of(&raw["Spec"]).map_err(|e| StepError {
        failure: Failure::Other,
        message: format!("the service's spec could not be read: {e}"),
    })?;
    edit(&mut spec);
    docker
        .update_service(
            service,
            spec,
            UpdateServiceOptions {
                version: version as i32,
                ..Default::default()
            },
            None,
        )
        .await
        .map_err(step_error)?;
    Ok(version)
}

/// A service spec from the daemon's JSON, its health check kept. bollard's
/// model reads a container spec's health check under the key `HealthCheck`,
/// but the daemon sends `Healthcheck`: read through it, the spec loses the
/// check, and sent back it would take the check away and restart every
/// task (a scale from 4 to 6 replaced all four; seen using it).
fn spec_of(json: &serde_json::Value) -> serde_json::Result<bollard::models::ServiceSpec> {
    let mut spec: bollard::models::ServiceSpec = serde_json::from_value(json.clone())?;
    let check = &json["TaskTemplate"]["ContainerSpec"]["Healthcheck"];
    if !check.is_null()
        && let Some(c) = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
    {
        c.health_check = Some(serde_json::from_value(check.clone())?);
    }
    Ok(spec)
}

/// `GET /services/{service}` as JSON. bollard makes no GET of a path of
/// ours, so its one request that answers raw bytes (a container export)
/// is sent to the service's path instead, over whatever transport the
/// client has (unix, TLS, an ssh relay).
async fn service_json(docker: &Docker, service: &str) -> Result<serde_json::Value, StepError> {
    use futures_util::TryStreamExt;
    const STAND_IN: &str = "/containers/agile-deck-raw-get/export";
    let path = format!("/services/{service}");
    let raw = docker.clone().with_request_modifier(move |mut req| {
        let uri = req.uri().to_string();
        if let Some(Ok(to)) = uri
            .strip_suffix(STAND_IN)
            .map(|base| format!("{base}{path}").parse())
        {
            *req.uri_mut() = to;
        }
        req
    });
    let bytes: Vec<u8> = raw
        .export_container("agile-deck-raw-get")
        .map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .map_err(step_error)?;
    serde_json::from_slice(&bytes).map_err(|e| StepError {
        failure: Failure::Other,
        message: format!("the daemon's answer for service {service} is not JSON: {e}"),
    })
}

/// How long a Swarm service may take to converge before the step fails.
const CONVERGE: Duration = Duration::from_secs(90);

async fn wait_tasks(docker: &Docker, service: &str, replicas: u64) -> Result<String, StepError> {
    let started = Instant::now();
    // All its tasks: those told to stop count until they have stopped.
    let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
    loop {
        let tasks = docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(step_error)?;
        let running = tasks
            .iter()
            .filter(|t| {
                t.status
                    .as_ref()
                    .and_then(|s| s.state)
                    .is_some_and(|s| s.to_string() == "running")
            })
            .count() as u64;
        let wanted = tasks
            .iter()
            .filter(|t| t.desired_state.is_some_and(|s| s.to_string() == "running"))
            .count() as u64;
        if running == replicas && wanted == replicas {
            return Ok(format!(
                "{running} of {replicas} tasks running after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
        if started.elapsed() > CONVERGE {
            return Err(StepError {
                failure: Failure::Other,
                message: format!(
                    "{running} of {replicas} tasks running after {} s",
                    CONVERGE.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_errors_read_plainly() {
        let e = step_error(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".into(),
        });
        assert_eq!(e.failure, Failure::Gone);
        assert_eq!(e.message, "Docker refused: No such container: x (HTTP 404)");
        let e = step_error(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "Conflict. The container name \"/a\" is already in use".into(),
        });
        assert_eq!(e.failure, Failure::Conflict);
    }
}
