//! A Swarm service's rolling update is Swarm's own: agile-deck sets the
//! image (or bumps `ForceUpdate`) and the `UpdateConfig` at the service's
//! version index, then follows `UpdateStatus` and the tasks. Rollback is
//! `rollback=previous`; a paused update resumes with a new update.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum as FailureEnum,
    ServiceSpecUpdateConfigOrderEnum as OrderEnum, ServiceUpdateStatusStateEnum as State,
};
use bollard::query_parameters::{InspectServiceOptions, ListTasksOptions, UpdateServiceOptions};

use super::{Driver, Got};
use crate::ops::StepError;
use crate::ops::steps::{step_error, update_spec};
use crate::rollout::{Change, Mode, OnFailure, Order, Phase, SlotState, SlotView, Spec};

/// How long a Swarm update may show no progress at all before we say so.
const SILENT: Duration = Duration::from_secs(60);
/// How long after Swarm says it is over its tasks may take to run.
const SETTLE: Duration = Duration::from_secs(60);

fn update_config(spec: &Spec) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: Some(spec.parallelism as i64),
        delay: Some(spec.delay.as_nanos() as i64),
        monitor: Some(spec.monitor.as_nanos() as i64),
        max_failure_ratio: Some(spec.max_ratio),
        failure_action: Some(match spec.on_failure {
            OnFailure::Pause => FailureEnum::PAUSE,
            OnFailure::Continue => FailureEnum::CONTINUE,
            OnFailure::Rollback => FailureEnum::ROLLBACK,
        }),
        order: Some(match spec.order {
            Order::StopFirst => OrderEnum::STOP_FIRST,
            Order::StartFirst => OrderEnum::START_FIRST,
        }),
    }
}

/// The `docker service update` that does what agile-deck asks Swarm: the
/// change and every update setting it applies.
pub fn update_cli(name: &str, change: &Change, spec: &Spec) -> String {
    let flag = match change {
        Change::Image(i) => format!("--image {i}"),
        Change::Restart => "--force".to_string(),
    };
    format!(
        "docker service update {flag} --update-parallelism {} --update-delay {} --update-monitor {} --update-failure-action {} --update-max-failure-ratio {} --update-order {} {name}",
        spec.parallelism,
        crate::rollout::duration_text(spec.delay),
        crate::rollout::duration_text(spec.monitor),
        spec.on_failure.word(),
        spec.max_ratio,
        spec.order.word()
    )
}

/// `docker service rollback`: Swarm puts the previous spec back.
async fn rollback(docker: &Docker, service: &str) -> Result<String, StepError> {
    let s = docker
        .inspect_service(service, None::<InspectServiceOptions>)
        .await
        .map_err(step_error)?;
    let version = s.version.and_then(|v| v.index).unwrap_or(0);
    docker
        .update_service(
            service,
            s.spec.unwrap_or_default(),
            UpdateServiceOptions {
                version: version as i32,
                rollback: Some("previous".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .map_err(step_error)?;
    Ok(format!("rollback asked (version {version})"))
}

fn image_in(spec: &bollard::models::ServiceSpec) -> String {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

impl<M: From<super::Report> + Send + 'static> Driver<M> {
    pub async fn run_swarm(mut self, docker: Arc<Docker>) {
        let Some(service) = self.request.swarm_id.clone() else {
            self.finish(Phase::Failed("not a Swarm service".into()))
                .await;
            return;
        };
        let name = self.request.service.name.clone();
        let started = match self.request.mode {
            Mode::SwarmRollback => {
                self.step(
                    format!("roll back {name} to its previous spec"),
                    format!("docker service rollback {name}"),
                    rollback(&docker, &service).await,
                )
                .await
            }
            _ => {
                let spec = self.request.spec.clone();
                let change = self.request.change.clone();
                let result = update_spec(&docker, &service, |s| {
                    let task = s.task_template.get_or_insert_with(Default::default);
                    match &change {
                        Change::Image(image) => {
                            task.container_spec
                                .get_or_insert_with(Default::default)
                                .image = Some(image.clone())
                        }
                        Change::Restart => {
                            task.force_update = Some(task.force_update.unwrap_or(0) + 1)
                        }
                    }
                    s.update_config = Some(update_config(&spec));
                })
                .await
                .map(|v| format!("update started (version {v})"));
                let what = match &change {
                    Change::Image(i) => format!("to {i}"),
                    Change::Restart => "restart".to_string(),
                };
                self.step(
                    format!("update {name} {what} ({})", spec.summary()),
                    update_cli(&name, &change, &spec),
                    result,
                )
                .await
            }
        };
        if let Err(e) = started {
            self.finish(Phase::Failed(e.message)).await;
            return;
        }
        self.follow(&docker, &service).await;
    }

    /// Follow `UpdateStatus` and the tasks until Swarm says it is over.
    async fn follow(&mut self, docker: &Docker, service: &str) {
        let since = Instant::now();
        let mut current = self.view.from.clone();
        let mut previous = current.clone();
        let mut settling: Option<Instant> = None;
        loop {
            let s = match docker
                .inspect_service(service, None::<InspectServiceOptions>)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    self.finish(Phase::Failed(step_error(e).message)).await;
                    return;
                }
            };
            let target = s.spec.as_ref().map(image_in).unwrap_or_default();
            // The image the service is moving away from: the one before
            // the update, or during a rollback the one rolled back.
            if target != current {
                previous = std::mem::replace(&mut current, target.clone());
            }
            self.view.to = target.clone();
            self.tasks(docker, service, &target, &previous).await;
            let status = s.update_status.clone().unwrap_or_default();
            let message = status.message.clone().unwrap_or_default();
            if !message.is_empty() {
                self.view.message = message.clone();
            }
            // Swarm says "completed" when the last task is started, not
            // running: the end waits (a while) for every slot to run on
            // the target, so it never reports a state Docker does not show.
            let running = self
                .view
                .slots
                .iter()
                .filter(|v| v.state == SlotState::Replaced)
                .count();
            let settled = running > 0 && running == self.view.slots.len();
            let over = |done: Phase, settling: &mut Option<Instant>| {
                let since = *settling.get_or_insert_with(Instant::now);
                (settled || since.elapsed() > SETTLE).then_some(done)
            };
            let phase = match status.state {
                Some(State::COMPLETED) => over(Phase::Done, &mut settling),
                Some(State::ROLLBACK_COMPLETED) => over(Phase::RolledBack, &mut settling),
                Some(State::PAUSED) | Some(State::ROLLBACK_PAUSED) => {
                    self.view.phase = Phase::Paused(message.clone());
                    None
                }
                Some(State::ROLLBACK_STARTED) => {
                    self.view.phase = Phase::RollingBack;
                    None
                }
                Some(State::UPDATING) => {
                    self.view.phase = Phase::Rolling;
                    None
                }
                // No status: Swarm found nothing to change, or has not
                // started; every task on the target image means done.
                _ if settled => Some(Phase::Done),
                _ if since.elapsed() > SILENT => Some(Phase::Failed(format!(
                    "Swarm reports no update after {} s",
                    SILENT.as_secs()
                ))),
                _ => None,
            };
            if let Some(p) = phase {
                if settling.is_some() && !settled {
                    self.view.message = format!(
                        "Swarm says it is over, but {running} of {} tasks run on {target}",
                        self.view.slots.len()
                    );
                }
                self.finish(p).await;
                return;
            }
            self.send().await;
            let name = self.request.service.name.clone();
            match self.control(Duration::from_millis(500)).await {
                Got::Rollback => {
                    let r = rollback(docker, service).await;
                    let _ = self
                        .step(
                            format!("roll back {name} to its previous spec"),
                            format!("docker service rollback {name}"),
                            r,
                        )
                        .await;
                }
                Got::Resume => {
                    // Any update of a paused service sets it going again.
                    let r = update_spec(docker, service, |_| {})
                        .await
                        .map(|v| format!("resumed (version {v})"));
                    let _ = self
                        .step(
                            format!("resume the update of {name}"),
                            format!("docker service update {name}"),
                            r,
                        )
                        .await;
                }
                // Swarm runs the update, not agile-deck: a journal that
                // refuses lines is said, and the watching goes on.
                Got::Pause => {
                    if let Some(e) = self.take_unjournaled() {
                        self.view.message = format!("the journal cannot be written: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Got::Abort | Got::Nothing => {}
            }
        }
    }

    /// One line per slot: the newest task that should run there, and where
    /// it is going — a task not yet replaced goes from its own image to
    /// the target; a replaced one came from the previous spec's.
    async fn tasks(&mut self, docker: &Docker, service: &str, target: &str, previous: &str) {
        let filters =
            std::collections::HashMap::from([("service".to_string(), vec![service.to_string()])]);
        let Ok(tasks) = docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters),
            }))
            .await
        else {
            return;
        };
        let mut newest: BTreeMap<i64, bollard::models::Task> = BTreeMap::new();
        for t in tasks {
            let slot = t.slot.unwrap_or(0);
            let index = |t: &bollard::models::Task| t.version.as_ref().and_then(|v| v.index);
            if newest.get(&slot).is_none_or(|n| index(&t) > index(n)) {
                newest.insert(slot, t);
            }
        }
        self.view.slots = newest
            .into_iter()
            .map(|(slot, t)| {
                let image = t
                    .spec
                    .as_ref()
                    .and_then(|s| s.container_spec.as_ref())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let st = t.status.clone().unwrap_or_default();
                let state = st.state.map(|s| s.to_string()).unwrap_or_default();
                let on_target = image == target;
                SlotView {
                    name: format!("{}.{slot}", self.request.service.name),
                    from: if on_target {
                        previous.to_string()
                    } else {
                        image
                    },
                    to: target.to_string(),
                    state: match (on_target, state.as_str()) {
                        (true, "running") => SlotState::Replaced,
                        (true, "failed" | "rejected" | "shutdown") => SlotState::Failed,
                        (true, _) => SlotState::Replacing,
                        (false, _) => SlotState::Waiting,
                    },
                    health: state,
                    took: None,
                    note: st.err.or(st.message).unwrap_or_default(),
                }
            })
            .collect();
    }
}
