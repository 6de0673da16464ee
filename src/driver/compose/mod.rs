//! The rolling update of a Compose-style service, done by agile-deck
//! itself: each replica is replaced by one made from its own configuration
//! with the new image, in batches of `parallelism`, stop-first or
//! start-first, and only counts once healthy. A failed replica is put back
//! on the old image before the next batch, so capacity never drops below
//! `replicas − parallelism` (stop-first) or `replicas` (start-first).
//! Canaries use the same replacement, stage by stage, gated by Prometheus.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageConfig,
};
use bollard::query_parameters::RenameContainerOptions;
use futures_util::future::join_all;

use super::{Driver, Got};
use crate::metrics::{Metric, Vars};
use crate::ops::clone::{COMPOSE_NUMBER, clone_body, create_and_start};
use crate::ops::steps;
use crate::ops::{Action, StepError};
use crate::prometheus::{Client, Data, Query};
use crate::rollout::health_deadline;
use crate::rollout::{
    Change, Decision, Mode, Phase, Resume, SlotState, Stage, batches, canary_count, decide,
};

mod canary;
mod health;
mod holders;
mod recovery;

use health::wait_healthy;
use holders::{Holders, aside_name, gone_is_done, remove_now, rename, short};

type Body = (ContainerCreateBody, Vec<(String, EndpointSettings)>);

/// One replica through the rollout. No container id is kept: every step
/// finds what holds the replica's name now (`Holders::find`), so a
/// container removed, replaced or left half-created since is seen as it is.
struct Slot {
    name: String,
    /// The replica as it was: restored from this on rollback.
    old: Body,
    /// The same with the new image.
    new: Body,
}

/// Drop what a container only has because its old image said so (env,
/// command, health check, labels…), so the new image's own values apply;
/// keep what the operator set. Then point it at `image`.
pub fn rebase(
    mut body: ContainerCreateBody,
    old_image: &ImageConfig,
    image: &str,
) -> ContainerCreateBody {
    fn inherited<T: PartialEq>(v: &mut Option<T>, image: &Option<T>) {
        if v.is_some() && v == image {
            *v = None;
        }
    }
    body.image = Some(image.to_string());
    if let Some(env) = body.env.as_mut() {
        let from_image = old_image.env.clone().unwrap_or_default();
        env.retain(|e| !from_image.contains(e));
    }
    if let Some(labels) = body.labels.as_mut() {
        let from_image = old_image.labels.clone().unwrap_or_default();
        labels.retain(|k, v| from_image.get(k) != Some(v));
    }
    inherited(&mut body.cmd, &old_image.cmd);
    inherited(&mut body.entrypoint, &old_image.entrypoint);
    inherited(&mut body.healthcheck, &old_image.healthcheck);
    inherited(&mut body.working_dir, &old_image.working_dir);
    inherited(&mut body.user, &old_image.user);
    inherited(&mut body.stop_signal, &old_image.stop_signal);
    body
}

fn image_of(body: &Body) -> String {
    body.0.image.clone().unwrap_or_default()
}

impl<M: From<super::Report> + Send + 'static> Driver<M> {
    /// Inspect every replica and build its old and new bodies. Nothing is
    /// changed yet: a missing image or replica stops here.
    async fn prepare(&mut self, docker: &Docker) -> Result<Vec<Slot>, String> {
        if let Change::Image(image) = &self.request.change {
            docker.inspect_image(image).await.map_err(|e| {
                format!(
                    "image {image} is not on this host ({}); build or tag it here first",
                    steps::step_error(e).message
                )
            })?;
        }
        let mut slots = Vec::new();
        for (i, id) in self.request.replicas.iter().enumerate() {
            let c = docker
                .inspect_container(id, None)
                .await
                .map_err(|e| format!("replica {}: {}", short(id), steps::step_error(e).message))?;
            let name = c
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let number = c
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(COMPOSE_NUMBER))
                .and_then(|n| n.parse().ok())
                .unwrap_or(i as u64 + 1);
            let old = clone_body(&c, number);
            let new = match &self.request.change {
                Change::Restart => old.clone(),
                Change::Image(image) => {
                    let image_config = docker
                        .inspect_image(c.image.as_deref().unwrap_or_default())
                        .await
                        .ok()
                        .and_then(|i| i.config)
                        .unwrap_or_default();
                    (rebase(old.0.clone(), &image_config, image), old.1.clone())
                }
            };
            slots.push(Slot { name, old, new });
        }
        Ok(slots)
    }

    /// Put `slot` on the new version in the rollout's order, waiting for
    /// health. Acts on whatever holds the name now.
    async fn replace(&self, docker: &Docker, slot: &Slot) -> Result<String, String> {
        let body = &slot.new;
        let image = image_of(body);
        let timeout = body.0.stop_timeout.unwrap_or(10);
        let now = Holders::find(docker, &slot.name)
            .await
            .map_err(|e| e.message)?;
        let order = self.request.spec.order;
        match (order, now.named) {
            (crate::rollout::Order::StartFirst, Some(old)) => {
                let aside = aside_name(&slot.name, &old.id);
                self.step(
                    format!("rename {} to {aside}", slot.name),
                    format!("docker rename {} {aside}", slot.name),
                    rename(docker, &old.id, &aside).await,
                )
                .await
                .map_err(|e| e.message)?;
                let created = self
                    .step(
                        format!("create {} on {image} next to the old one", slot.name),
                        format!("docker run -d --name {} … {image}", slot.name),
                        create_and_start(docker, &slot.name, body.0.clone(), body.1.clone()).await,
                    )
                    .await;
                // On failure the old one keeps running aside: `restore`
                // gives it its name back.
                let healthy = match created {
                    Ok(id) => self.wait(docker, &slot.name, &id).await?,
                    Err(e) => return Err(e.message),
                };
                let stop = Action::StopRemove {
                    id: old.id.clone(),
                    name: aside.clone(),
                    timeout,
                };
                self.step(
                    format!("stop and remove {aside}"),
                    format!("docker stop -t {timeout} {aside} && docker rm {aside}"),
                    gone_is_done(steps::execute(docker, &stop).await),
                )
                .await
                .map_err(|e| e.message)?;
                Ok(healthy)
            }
            (_, named) => {
                if let Some(old) = named {
                    let stop = Action::StopRemove {
                        id: old.id.clone(),
                        name: slot.name.clone(),
                        timeout,
                    };
                    self.step(
                        format!("stop and remove {} ({})", slot.name, short(&old.id)),
                        format!(
                            "docker stop -t {timeout} {n} && docker rm {n}",
                            n = slot.name
                        ),
                        gone_is_done(steps::execute(docker, &stop).await),
                    )
                    .await
                    .map_err(|e| e.message)?;
                }
                let id = self
                    .step(
                        format!("create {} on {image}", slot.name),
                        format!("docker run -d --name {} … {image}", slot.name),
                        create_and_start(docker, &slot.name, body.0.clone(), body.1.clone()).await,
                    )
                    .await
                    .map_err(|e| e.message)?;
                self.wait(docker, &slot.name, &id).await
            }
        }
    }

    /// `wait_healthy`, journalled.
    async fn wait(&self, docker: &Docker, name: &str, id: &str) -> Result<String, String> {
        let spec = &self.request.spec;
        let result = wait_healthy(docker, id, spec.healthy_within, spec.monitor)
            .await
            .map_err(|message| StepError {
                failure: crate::ops::Failure::Other,
                message,
            });
        self.step(
            format!("wait until {name} is healthy"),
            format!("docker inspect --format '{{{{.State.Health.Status}}}}' {name}"),
            result,
        )
        .await
        .map_err(|e| e.message)
    }

    /// Put a slot back on the old configuration, whatever holds its name
    /// now: a failed replica created but never started, exited,
    /// crash-looping, unhealthy or OOM-killed is removed; an old replica
    /// kept running aside (start-first) takes its name back; otherwise the
    /// old configuration is created again under the name. Idempotent: a
    /// name already held by a serving old replica is left alone.
    async fn restore(&self, docker: &Docker, slot: &Slot) -> Result<String, String> {
        let old_image = image_of(&slot.old);
        let now = Holders::find(docker, &slot.name)
            .await
            .map_err(|e| e.message)?;
        let keep = now
            .aside
            .iter()
            .find(|h| h.serving() && h.image == old_image)
            .cloned();
        let named_is_old = now
            .named
            .as_ref()
            .is_some_and(|h| h.serving() && h.image == old_image && keep.is_none());
        // Everything else that holds the name, or waits aside, goes.
        let doomed = now.named.iter().filter(|_| !named_is_old).chain(
            now.aside
                .iter()
                .filter(|h| Some(&h.id) != keep.as_ref().map(|k| &k.id)),
        );
        for h in doomed {
            self.step(
                format!("remove {}", h.describe()),
                format!("docker rm -f {}", h.name),
                remove_now(docker, &h.id).await,
            )
            .await
            .map_err(|e| e.message)?;
        }
        if named_is_old {
            return Ok("already on the old version".into());
        }
        if let Some(old) = keep {
            self.step(
                format!("rename {} back to {}", old.name, slot.name),
                format!("docker rename {} {}", old.name, slot.name),
                rename(docker, &old.id, &slot.name).await,
            )
            .await
            .map_err(|e| e.message)?;
            return Ok("the old replica kept running".into());
        }
        let image = image_of(&slot.old);
        let id = self
            .step(
                format!("create {} on {image}", slot.name),
                format!("docker run -d --name {} … {image}", slot.name),
                create_and_start(docker, &slot.name, slot.old.0.clone(), slot.old.1.clone()).await,
            )
            .await
            .map_err(|e| e.message)?;
        self.wait(docker, &slot.name, &id).await
    }

    /// Run `indexes` through `replace` (forward) or `restore` at once;
    /// the failed ones.
    async fn run_batch(
        &mut self,
        docker: &Docker,
        slots: &[Slot],
        indexes: &[usize],
        forward: bool,
    ) -> Vec<usize> {
        let moving = if forward {
            SlotState::Replacing
        } else {
            SlotState::Restoring
        };
        let mut before = std::collections::HashMap::new();
        for &i in indexes {
            let v = &mut self.view.slots[i];
            if v.state == SlotState::Failed {
                before.insert(i, std::mem::take(&mut v.note));
            }
            v.state = moving.clone();
            v.note.clear();
        }
        self.view.message = format!(
            "{} {}",
            if forward { "replacing" } else { "restoring" },
            indexes
                .iter()
                .map(|&i| slots[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.send().await;
        let started = Instant::now();
        let this = &*self;
        let results = join_all(indexes.iter().map(|&i| &slots[i]).map(|s| async move {
            if forward {
                this.replace(docker, s).await
            } else {
                this.restore(docker, s).await
            }
        }))
        .await;
        let mut failed = Vec::new();
        for (&i, result) in indexes.iter().zip(results) {
            let v = &mut self.view.slots[i];
            v.took = Some(started.elapsed().as_secs_f64());
            match result {
                Ok(h) => {
                    v.state = if forward {
                        SlotState::Replaced
                    } else {
                        SlotState::Restored
                    };
                    v.health = "healthy".into();
                    // A restored replica keeps why it needed restoring.
                    v.note = match before.get(&i) {
                        Some(why) if !forward => {
                            format!("new version failed ({why}); restored: {h}")
                        }
                        _ => h,
                    };
                }
                Err(e) => {
                    v.state = SlotState::Failed;
                    v.health = "unhealthy".into();
                    // A failed restore keeps why it needed restoring.
                    v.note = match before.get(&i) {
                        Some(why) if !forward => {
                            format!("new version failed ({why}); restore failed: {e}")
                        }
                        _ => e,
                    };
                    failed.push(i);
                }
            }
        }
        self.send().await;
        failed
    }

    /// Every slot on the new image back on the old one: failed ones first
    /// (they are down already), then the replaced ones in batches.
    async fn roll_back(&mut self, docker: &Docker, slots: &[Slot], why: String) {
        self.view.phase = Phase::RollingBack;
        self.view.message = why.clone();
        self.send().await;
        let failed: Vec<usize> = (0..slots.len())
            .filter(|&i| self.view.slots[i].state == SlotState::Failed)
            .collect();
        let mut lost = self.run_batch(docker, slots, &failed, false).await;
        let replaced: Vec<usize> = (0..slots.len())
            .filter(|&i| self.view.slots[i].state == SlotState::Replaced)
            .collect();
        for batch in batches(replaced.len(), self.request.spec.parallelism) {
            let ids: Vec<usize> = replaced[batch].to_vec();
            lost.extend(self.run_batch(docker, slots, &ids, false).await);
        }
        let phase = if lost.is_empty() {
            self.view.message = why;
            Phase::RolledBack
        } else {
            Phase::Failed(format!(
                "rolled back, but {} could not be restored: see the journal",
                lost.iter()
                    .map(|&i| slots[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        self.finish(phase).await;
    }

    /// After failures: put the failed slots back (the rollout goes on
    /// without them).
    async fn restore_failed(&mut self, docker: &Docker, slots: &[Slot]) -> bool {
        let failed: Vec<usize> = (0..slots.len())
            .filter(|&i| self.view.slots[i].state == SlotState::Failed)
            .collect();
        if failed.is_empty() {
            return true;
        }
        let lost = self.run_batch(docker, slots, &failed, false).await;
        if lost.is_empty() {
            return true;
        }
        self.finish(Phase::Failed(format!(
            "{} could not be restored",
            lost.iter()
                .map(|&i| slots[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .await;
        false
    }

    /// Between batches: the user's word, then the delay. Returns false when
    /// the rollout ended here.
    async fn between(&mut self, docker: &Docker, slots: &[Slot], wait: Duration) -> bool {
        match self.control(wait).await {
            Got::Nothing | Got::Resume => true,
            Got::Abort => {
                let ok = self.restore_failed(docker, slots).await;
                if ok {
                    self.finish(Phase::Aborted).await;
                }
                false
            }
            Got::Rollback => {
                self.roll_back(docker, slots, "rolled back on request".into())
                    .await;
                false
            }
            Got::Pause => {
                let why = match self.take_unjournaled() {
                    Some(e) => {
                        format!("the journal cannot be written ({e}): nothing runs unrecorded")
                    }
                    None => "paused on request".into(),
                };
                self.paused(docker, slots, why).await
            }
        }
    }

    /// Wait for resume, rollback or abort. Returns false when it ended.
    async fn paused(&mut self, docker: &Docker, slots: &[Slot], why: String) -> bool {
        self.view.phase = Phase::Paused(why);
        self.view.message = "resume, roll back or abort".into();
        self.send().await;
        loop {
            match self.wait_control().await {
                Got::Resume => {
                    self.view.phase = Phase::Rolling;
                    self.view.message = "resumed".into();
                    return self.restore_failed(docker, slots).await;
                }
                Got::Pause | Got::Nothing => continue,
                Got::Abort => {
                    if self.restore_failed(docker, slots).await {
                        self.finish(Phase::Aborted).await;
                    }
                    return false;
                }
                Got::Rollback => {
                    self.roll_back(docker, slots, "rolled back on request".into())
                        .await;
                    return false;
                }
            }
        }
    }

    /// Replace `indexes` in batches, applying the failure rule after each.
    /// Returns false when the rollout ended.
    async fn roll_forward(
        &mut self,
        docker: &Docker,
        slots: &[Slot],
        indexes: Vec<usize>,
        canary: bool,
    ) -> bool {
        let n = slots.len();
        for (k, batch) in batches(indexes.len(), self.request.spec.parallelism)
            .into_iter()
            .enumerate()
        {
            if k > 0 && !self.between(docker, slots, self.request.spec.delay).await {
                return false;
            }
            let ids = indexes[batch].to_vec();
            let failed = self.run_batch(docker, slots, &ids, true).await;
            self.view.failures += failed.len();
            if failed.is_empty() {
                continue;
            }
            let first = &self.view.slots[failed[0]];
            let why = format!("{} failed: {}", first.name, first.note);
            // A canary has no failure budget: a bad version goes back.
            let decision = if canary {
                Decision::Rollback
            } else {
                decide(self.view.failures, n, &self.request.spec)
            };
            match decision {
                Decision::Go | Decision::Continue => {
                    if !self.restore_failed(docker, slots).await {
                        return false;
                    }
                }
                Decision::Pause => {
                    if !self.paused(docker, slots, why).await {
                        return false;
                    }
                }
                Decision::Rollback => {
                    self.roll_back(docker, slots, why).await;
                    return false;
                }
            }
        }
        true
    }

    pub async fn run_compose(
        mut self,
        docker: Arc<Docker>,
        prom: Option<(Arc<Client>, Vec<Metric>)>,
    ) {
        if let Some(r) = self.request.resume.clone() {
            self.run_recovery(&docker, r).await;
            return;
        }
        let slots = match self.prepare(&docker).await {
            Ok(s) => s,
            Err(e) => {
                self.finish(Phase::Failed(e)).await;
                return;
            }
        };
        self.view.slots = slots
            .iter()
            .map(|s| crate::rollout::SlotView {
                name: s.name.clone(),
                from: image_of(&s.old),
                to: image_of(&s.new),
                state: SlotState::Waiting,
                health: String::new(),
                took: None,
                note: String::new(),
            })
            .collect();
        self.send().await;
        match self.request.mode.clone() {
            Mode::Canary(stages) => self.canary(&docker, &slots, &stages, prom).await,
            _ => {
                let all = (0..slots.len()).collect();
                if self.roll_forward(&docker, &slots, all, false).await {
                    let done = self.view.failures;
                    self.view.message = if done == 0 {
                        format!("every replica on {}", self.view.to)
                    } else {
                        format!("done; {done} replica(s) failed and were put back on the old image")
                    };
                    self.finish(Phase::Done).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::HealthConfig;
    use std::collections::HashMap;

    #[test]
    fn a_new_image_brings_its_own_defaults_and_keeps_the_operators() {
        let image = ImageConfig {
            env: Some(vec!["PATH=/bin".into(), "VERSION=1".into()]),
            cmd: Some(vec!["serve".into()]),
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "probe".into()]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([(
                "org.version".to_string(),
                "1".to_string(),
            )])),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some("agile-sim:1".into()),
            env: Some(vec![
                "PATH=/bin".into(),
                "VERSION=1".into(),
                "TEAM=qa".into(),
            ]),
            cmd: Some(vec!["serve".into()]),
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "probe".into()]),
                interval: Some(1_000_000_000),
                ..Default::default()
            }),
            labels: Some(HashMap::from([
                ("org.version".to_string(), "1".to_string()),
                ("team".to_string(), "qa".to_string()),
            ])),
            ..Default::default()
        };
        let out = rebase(body, &image, "agile-sim:2");
        assert_eq!(out.image.as_deref(), Some("agile-sim:2"));
        assert_eq!(out.env, Some(vec!["TEAM=qa".to_string()]));
        assert_eq!(out.cmd, None, "the new image's command");
        assert_eq!(
            out.healthcheck.unwrap().interval,
            Some(1_000_000_000),
            "set by the operator"
        );
        assert_eq!(out.labels.unwrap().keys().collect::<Vec<_>>(), vec!["team"]);
    }
}
