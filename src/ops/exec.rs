//! Running an operation against Docker: each step's action, the machine's
//! decision on what it observed, a journal line (fsync'd) per step and one
//! for the result, and a progress message per change.

use crate::journal::Outcome;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, EndpointSettings,
    NetworkConnectRequest, NetworkDisconnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectServiceOptions, ListTasksOptions, RemoveContainerOptions,
    RestartContainerOptions, StopContainerOptions, UpdateServiceOptions,
};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Action, Failure, Machine, Status, StepError, StepState};
use crate::journal::{Entry, Journal};
use crate::units::Resources;

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
async fn running_sibling(
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
        Action::Batch => Err(StepError {
            failure: Failure::Invalid,
            message: "a rollout batch runs in its rollout, not as a step".into(),
        }),
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
                Ok(()) => {}
                // Not connected: connecting is all there is to do.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 403, ..
                }) => {}
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
/// an update made against an older one); returns that version.
pub async fn update_spec(
    docker: &Docker,
    service: &str,
    edit: impl FnOnce(&mut bollard::models::ServiceSpec),
) -> Result<u64, StepError> {
    let s = docker
        .inspect_service(service, None::<InspectServiceOptions>)
        .await
        .map_err(step_error)?;
    let version = s.version.and_then(|v| v.index).unwrap_or(0);
    let mut spec = s.spec.unwrap_or_default();
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

/// Who and where, for every journal line of a run.
#[derive(Clone, Debug)]
pub struct Context {
    pub run: String,
    pub user: String,
    pub host: String,
}

/// Progress of operation `op`, for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    Step { index: usize, state: StepState },
    Finished { status: Status, summary: String },
}

fn entry(ctx: &Context, op: u64, m: &Machine, kind: &str) -> Entry {
    entry_for(ctx, op, m.plan.kind, &m.plan.target, &m.plan.params, kind)
}

/// A journal line of operation `op` ("step" or "result"), to fill in.
pub fn entry_for(
    ctx: &Context,
    op: u64,
    operation: super::Kind,
    target: &str,
    params: &serde_json::Value,
    kind: &str,
) -> Entry {
    Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        run: ctx.run.clone(),
        op,
        kind: kind.into(),
        user: ctx.user.clone(),
        host: ctx.host.clone(),
        operation: operation.word().into(),
        target: target.to_string(),
        params: params.clone(),
        step: None,
        what: String::new(),
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        cli: String::new(),
        outcome: Outcome::Running,
        detail: String::new(),
        error: String::new(),
    }
}

/// What a running operation tells whoever listens (the app's `Msg` is
/// `From` it): its own message, so the executor does not depend on the app.
#[derive(Debug)]
pub enum Report {
    /// How operation `op` goes.
    Op { op: u64, progress: Progress },
    /// A line the journal just took.
    Journaled(Box<crate::journal::Entry>),
}

/// Drive `m` to its end: run each step, journal it (fsync) and only then
/// report it. `cancel` is looked at between steps.
pub async fn run<M: From<Report>>(
    docker: Arc<Docker>,
    mut m: Machine,
    op: u64,
    ctx: Context,
    journal: Arc<Journal>,
    cancel: Arc<AtomicBool>,
    tx: mpsc::Sender<M>,
) {
    let send = |p: Progress| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Report::Op { op, progress: p }.into()).await;
        }
    };
    loop {
        if cancel.load(Ordering::Relaxed) {
            m.cancel();
        }
        let Some((i, action)) = m.next_step() else {
            break;
        };
        send(Progress::Step {
            index: i,
            state: StepState::Running,
        })
        .await;
        let result = execute(&docker, &action).await;
        m.observe(i, result);
        let step = &m.plan.steps[i];
        let state = m.steps[i].clone();
        let mut e = entry(&ctx, op, &m, "step");
        e.step = Some(i + 1);
        e.what = step.what.clone();
        e.before = step.before.clone();
        e.cli = step.cli.clone();
        (e.outcome, e.detail, e.error) = match &state {
            StepState::Done(d) => (Outcome::Done, d.clone(), String::new()),
            StepState::Skipped(d) => (Outcome::Skipped, d.clone(), String::new()),
            StepState::Failed(err) => (Outcome::Failed, String::new(), err.clone()),
            other => (
                Outcome::Other(format!("{other:?}")),
                String::new(),
                String::new(),
            ),
        };
        if state.took_effect() {
            e.after = step.after.clone();
        }
        match journal.append(&e) {
            Ok(()) => {
                let _ = tx.send(Report::Journaled(Box::new(e)).into()).await;
            }
            Err(err) => {
                // A journal that cannot be written stops the operation:
                // nothing happens that is not on record.
                log::error!("{err}");
                m.cancel();
            }
        }
        send(Progress::Step { index: i, state }).await;
    }
    let summary = m.summary();
    let mut e = entry(&ctx, op, &m, "result");
    (e.outcome, e.error) = m.status.outcome();
    e.detail = summary.clone();
    e.after = json!({ "steps": m.steps.iter().map(|s| s.symbol()).collect::<String>() });
    match journal.append(&e) {
        Ok(()) => {
            let _ = tx.send(Report::Journaled(Box::new(e)).into()).await;
        }
        Err(err) => log::error!("{err}"),
    }
    send(Progress::Finished {
        status: m.status.clone(),
        summary,
    })
    .await;
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
