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
use crate::ops::exec::{self, COMPOSE_NUMBER, clone_body, create_and_start};
use crate::ops::{Action, StepError};
use crate::prometheus::{Client, Data, Query};
use crate::rollout::health_deadline;
use crate::rollout::{
    Change, Decision, Mode, Phase, Resume, SlotState, Stage, batches, canary_count, decide,
};

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

/// A container found by name, as it is now.
#[derive(Clone, Debug)]
struct Held {
    id: String,
    name: String,
    image: String,
    /// Docker's state word: created, running, exited, dead…
    status: String,
    /// healthy, unhealthy, starting; None without a health check.
    health: Option<String>,
}

impl Held {
    fn running(&self) -> bool {
        self.status == "running"
    }

    /// Running, and healthy if it has a health check.
    fn serving(&self) -> bool {
        self.running() && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    fn describe(&self) -> String {
        let health = self
            .health
            .as_deref()
            .map(|h| format!(", {h}"))
            .unwrap_or_default();
        format!("{} on {} ({}{health})", self.name, self.image, self.status)
    }
}

/// What holds a replica's name now: the container called `name`, and the
/// ones a start-first replacement renamed aside (`name-old-…`).
#[derive(Debug, Default)]
struct Holders {
    named: Option<Held>,
    aside: Vec<Held>,
}

/// The name a start-first replacement gives the old replica meanwhile.
fn aside_name(name: &str, id: &str) -> String {
    format!("{name}-old-{}", &id[..6.min(id.len())])
}

impl Holders {
    async fn find(docker: &Docker, name: &str) -> Result<Holders, StepError> {
        use bollard::query_parameters::ListContainersOptions;
        // Docker's name filter matches a pattern anywhere in the name;
        // the exact choice is made here.
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(std::collections::HashMap::from([(
                    "name".to_string(),
                    vec![name.to_string()],
                )])),
                ..Default::default()
            }))
            .await
            .map_err(exec::step_error)?;
        let prefix = format!("{name}-old-");
        let mut found = Holders::default();
        for c in listed {
            let Some(own) = c
                .names
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.trim_start_matches('/').to_string())
                .find(|n| n == name || n.starts_with(&prefix))
            else {
                continue;
            };
            // Gone between the listing and now: nothing holds it.
            let Ok(i) = docker
                .inspect_container(c.id.as_deref().unwrap_or_default(), None)
                .await
            else {
                continue;
            };
            let state = i.state.unwrap_or_default();
            let held = Held {
                id: i.id.unwrap_or_default(),
                name: own.clone(),
                image: i.config.and_then(|c| c.image).unwrap_or_default(),
                status: state.status.map(|s| s.to_string()).unwrap_or_default(),
                health: state
                    .health
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .filter(|s| s != "none" && !s.is_empty()),
            };
            if own == name {
                found.named = Some(held);
            } else {
                found.aside.push(held);
            }
        }
        Ok(found)
    }
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

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn image_of(body: &Body) -> String {
    body.0.image.clone().unwrap_or_default()
}

/// The health check's interval and timeout (Docker's 30 s defaults).
fn check_of(c: &ContainerInspectResponse) -> Option<(Duration, Duration)> {
    let h = c.config.as_ref()?.healthcheck.as_ref()?;
    let test = h.test.as_deref().unwrap_or_default();
    if test.is_empty() || test[0] == "NONE" {
        return None;
    }
    let ns = |v: Option<i64>| match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => Duration::from_secs(30),
    };
    Some((ns(h.interval), ns(h.timeout)))
}

/// What one look at a new replica found.
struct Look {
    status: String,
    health: Option<String>,
    exit_code: i64,
    restarts: i64,
    last_probe: Option<String>,
    check: Option<(Duration, Duration)>,
}

async fn look(docker: &Docker, id: &str) -> Result<Look, String> {
    let c = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| exec::step_error(e).message)?;
    let state = c.state.clone().unwrap_or_default();
    let health = state.health.as_ref();
    Ok(Look {
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        health: health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        exit_code: state.exit_code.unwrap_or(0),
        restarts: c.restart_count.unwrap_or(0),
        last_probe: health
            .and_then(|h| h.log.as_ref())
            .and_then(|l| l.last())
            .and_then(|p| p.output.clone())
            .map(|o| o.trim().chars().take(80).collect::<String>())
            .filter(|o| !o.is_empty()),
        check: check_of(&c),
    })
}

impl Look {
    /// Why this replica has failed, if it has: it stopped, restarted
    /// (a crash loop under a restart policy), or turned unhealthy.
    fn failure(&self, restarts_at_start: i64, took: f64) -> Option<String> {
        if matches!(self.status.as_str(), "exited" | "dead") {
            return Some(format!(
                "{} with code {} after {took:.1} s",
                self.status, self.exit_code
            ));
        }
        if self.restarts > restarts_at_start || self.status == "restarting" {
            return Some(format!(
                "restarted {} time(s) in {took:.1} s (exit code {})",
                (self.restarts - restarts_at_start).max(1),
                self.exit_code
            ));
        }
        if self.health.as_deref() == Some("unhealthy") {
            return Some(format!(
                "unhealthy after {took:.1} s{}",
                self.last_probe
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ));
        }
        None
    }
}

/// Wait until `id` is up — healthy within `healthy_within` (at least one
/// health-check cycle), or running if it has no health check — then watch
/// it for `monitor` as Swarm does: dying, restarting or turning unhealthy
/// within that window is a failure. Err says what it was.
async fn wait_healthy(
    docker: &Docker,
    id: &str,
    healthy_within: Duration,
    monitor: Duration,
) -> Result<String, String> {
    let started = Instant::now();
    let first = look(docker, id).await?;
    let restarts = first.restarts;
    let deadline = health_deadline(healthy_within, first.check);
    let poll = Duration::from_millis(250);
    // Up: healthy, or running without a health check.
    let mut now = first;
    let up_after = loop {
        let took = started.elapsed().as_secs_f64();
        if let Some(why) = now.failure(restarts, took) {
            return Err(why);
        }
        match now.health.as_deref() {
            Some("healthy") => break took,
            None if now.status == "running" => break took,
            _ => {}
        }
        if started.elapsed() >= deadline {
            return Err(format!(
                "not healthy within {} (still {}{})",
                crate::rollout::duration_text(deadline),
                now.health.as_deref().unwrap_or(&now.status),
                now.last_probe
                    .as_ref()
                    .map(|p| format!(", last probe: {p}"))
                    .unwrap_or_default()
            ));
        }
        tokio::time::sleep(poll).await;
        now = look(docker, id).await?;
    };
    // The monitor window.
    let window = Instant::now();
    while window.elapsed() < monitor {
        tokio::time::sleep(poll.min(monitor.saturating_sub(window.elapsed()))).await;
        let now = look(docker, id).await?;
        if let Some(why) = now.failure(restarts, started.elapsed().as_secs_f64()) {
            return Err(format!(
                "{why}: failed within the monitor window ({} after it was up)",
                crate::rollout::duration_text(monitor)
            ));
        }
    }
    let what = if now.health.is_some() {
        "healthy"
    } else {
        "running (no health check)"
    };
    Ok(format!(
        "{what} after {up_after:.1} s, still {what} {} later",
        crate::rollout::duration_text(monitor)
    ))
}

impl<M: From<super::Report> + Send + 'static> Driver<M> {
    /// Inspect every replica and build its old and new bodies. Nothing is
    /// changed yet: a missing image or replica stops here.
    async fn prepare(&mut self, docker: &Docker) -> Result<Vec<Slot>, String> {
        if let Change::Image(image) = &self.request.change {
            docker.inspect_image(image).await.map_err(|e| {
                format!(
                    "image {image} is not on this host ({}); build or tag it here first",
                    exec::step_error(e).message
                )
            })?;
        }
        let mut slots = Vec::new();
        for (i, id) in self.request.replicas.iter().enumerate() {
            let c = docker
                .inspect_container(id, None)
                .await
                .map_err(|e| format!("replica {}: {}", short(id), exec::step_error(e).message))?;
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
                    gone_is_done(exec::execute(docker, &stop).await),
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
                        gone_is_done(exec::execute(docker, &stop).await),
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

    /// Take over a rollout an earlier agile-deck left unfinished: its
    /// replicas as they are now, by name (`prepare_recovered`); replicas
    /// half-way (gone, not serving, an old one renamed aside) are first
    /// put back on the old version; then on to the new version, or every
    /// replica back to the old one.
    async fn run_recovery(&mut self, docker: &Docker, r: Resume) {
        let how = if r.back { "rolled back" } else { "resumed" };
        let mut e = self.entry("result");
        (e.run, e.op) = (r.run.clone(), r.op);
        e.outcome = "interrupted".into();
        e.detail = format!("agile-deck stopped mid-way; {how} by #{}", self.view.id);
        self.journaled(e).await;
        let (slots, states) = match self.prepare_recovered(docker, &r).await {
            Ok(p) => p,
            Err(e) => {
                self.finish(Phase::Failed(e)).await;
                return;
            }
        };
        self.view.slots = slots
            .iter()
            .zip(states)
            .map(|(s, (state, note))| crate::rollout::SlotView {
                name: s.name.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                state,
                health: String::new(),
                took: None,
                note,
            })
            .collect();
        self.send().await;
        if r.back {
            self.roll_back(
                docker,
                &slots,
                "rolled back: agile-deck had stopped mid-way".into(),
            )
            .await;
            return;
        }
        if !self.restore_failed(docker, &slots).await {
            return;
        }
        let left: Vec<usize> = (0..slots.len())
            .filter(|&i| self.view.slots[i].state != SlotState::Replaced)
            .collect();
        if self.roll_forward(docker, &slots, left, false).await {
            self.view.message = format!("every replica on {} (resumed)", r.to);
            self.finish(Phase::Done).await;
        }
    }

    /// The slots of an interrupted rollout, from what holds each name now:
    /// the holder (or the old one renamed aside, or — for a name nothing
    /// holds — a sibling) gives the configuration; both bodies drop what
    /// its image gave. A slot serving on the new image is replaced, one
    /// serving on the old is waiting; anything else failed (to restore).
    async fn prepare_recovered(
        &self,
        docker: &Docker,
        r: &Resume,
    ) -> Result<(Vec<Slot>, Vec<(SlotState, String)>), String> {
        let image_config = |image: String| async move {
            docker
                .inspect_image(&image)
                .await
                .map(|i| i.config.unwrap_or_default())
                .map_err(|e| {
                    format!(
                        "image {image} is not on this host ({})",
                        exec::step_error(e).message
                    )
                })
        };
        let from_config = image_config(r.from.clone()).await?;
        let to_config = image_config(r.to.clone()).await?;
        let mut found = Vec::new();
        for name in &r.names {
            found.push(
                Holders::find(docker, name)
                    .await
                    .map_err(|e| format!("{name}: {}", e.message))?,
            );
        }
        let any = found
            .iter()
            .flat_map(|h| h.named.iter().chain(h.aside.iter()))
            .next()
            .map(|h| h.id.clone())
            .ok_or_else(|| {
                format!(
                    "no container of {} is left to take a configuration from",
                    r.names.join(", ")
                )
            })?;
        let mut slots = Vec::new();
        let mut states = Vec::new();
        for (i, (name, h)) in r.names.iter().zip(&found).enumerate() {
            let source = h
                .named
                .as_ref()
                .or(h.aside.first())
                .map(|x| x.id.clone())
                .unwrap_or_else(|| any.clone());
            let c = docker
                .inspect_container(&source, None)
                .await
                .map_err(|e| format!("{name}: {}", exec::step_error(e).message))?;
            let number = name
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(i as u64 + 1);
            let (body, more) = clone_body(&c, number);
            let image = c
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let current = if image == r.to {
                to_config.clone()
            } else if image == r.from {
                from_config.clone()
            } else {
                image_config(image.clone()).await.unwrap_or_default()
            };
            slots.push(Slot {
                name: name.clone(),
                old: (rebase(body.clone(), &current, &r.from), more.clone()),
                new: (rebase(body, &current, &r.to), more),
            });
            states.push(match (&h.named, h.aside.is_empty()) {
                (Some(n), true) if n.image == r.to && n.serving() => {
                    (SlotState::Replaced, "on the new version already".into())
                }
                (Some(n), true) if n.image == r.from && n.serving() => {
                    (SlotState::Waiting, String::new())
                }
                (None, _) if h.aside.is_empty() => (
                    SlotState::Failed,
                    "stopped and not replaced: nothing held its name".into(),
                ),
                (named, _) => (
                    SlotState::Failed,
                    format!(
                        "left half-way: {}{}",
                        named
                            .as_ref()
                            .map(|n| n.describe())
                            .unwrap_or_else(|| "nothing under its name".into()),
                        if h.aside.is_empty() {
                            String::new()
                        } else {
                            format!(", {} renamed aside", h.aside.len())
                        }
                    ),
                ),
            });
        }
        Ok((slots, states))
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

    async fn canary(
        &mut self,
        docker: &Docker,
        slots: &[Slot],
        stages: &[Stage],
        prom: Option<(Arc<Client>, Vec<Metric>)>,
    ) {
        let Some((client, metrics)) = prom else {
            self.finish(Phase::Failed(
                "a canary needs Prometheus (--prometheus URL)".into(),
            ))
            .await;
            return;
        };
        let n = slots.len();
        for (k, stage) in stages.iter().enumerate() {
            self.view.stage = Some((k + 1, stages.len()));
            let want = canary_count(n, stage.weight);
            let have = self
                .view
                .slots
                .iter()
                .filter(|s| s.state == SlotState::Replaced)
                .count();
            let next: Vec<usize> = (have..want).collect();
            self.view.message = format!(
                "stage {} of {}: {want} of {n} on the new version",
                k + 1,
                stages.len()
            );
            self.send().await;
            if !self.roll_forward(docker, slots, next, true).await {
                return;
            }
            if stage.duration > Duration::ZERO {
                self.view.message = format!(
                    "stage {} of {}: {want} of {n} on the new version, watching for {}",
                    k + 1,
                    stages.len(),
                    crate::rollout::duration_text(stage.duration)
                );
                self.send().await;
                if !self.between(docker, slots, stage.duration).await {
                    return;
                }
            }
            let canaries: Vec<String> = (0..want).map(|i| slots[i].name.clone()).collect();
            let verdict = gates(&client, &metrics, &stage.gates, &canaries).await;
            let passed = verdict.is_ok();
            let what = match &verdict {
                Ok(v) | Err(v) => v.clone(),
            };
            let _ = self
                .step(
                    format!("stage {} gates: {what}", k + 1),
                    "curl $PROMETHEUS/api/v1/query …".into(),
                    if passed {
                        Ok(what.clone())
                    } else {
                        Err(StepError {
                            failure: crate::ops::Failure::Other,
                            message: what.clone(),
                        })
                    },
                )
                .await;
            if !passed {
                self.roll_back(
                    docker,
                    slots,
                    format!("stage {} gate failed: {what}", k + 1),
                )
                .await;
                return;
            }
            self.view.message = format!("stage {} passed: {what}", k + 1);
            self.send().await;
        }
        self.view.message = format!("every replica on {}; every gate passed", self.view.to);
        self.finish(Phase::Done).await;
    }
}

/// `docker rm -f`: whatever state it is in. One already gone is fine, and
/// so is one someone else is removing right now (it is waited for).
async fn remove_now(docker: &Docker, id: &str) -> Result<String, StepError> {
    let removed = docker
        .remove_container(
            id,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(exec::step_error)
        .map(|()| "removed".to_string());
    match removed {
        Err(e)
            if e.failure == crate::ops::Failure::Conflict
                && e.message.contains("already in progress") =>
        {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if docker.inspect_container(id, None).await.is_err() {
                    return Ok("removed by someone else meanwhile".into());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e)
        }
        other => gone_is_done(other),
    }
}

/// A container someone else removed first is as good as removed.
fn gone_is_done(result: Result<String, StepError>) -> Result<String, StepError> {
    match result {
        Err(e) if e.failure == crate::ops::Failure::Gone => {
            Ok("already gone (removed by someone else)".into())
        }
        other => other,
    }
}

async fn rename(docker: &Docker, id: &str, name: &str) -> Result<String, StepError> {
    docker
        .rename_container(
            id,
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await
        .map_err(exec::step_error)?;
    Ok(format!("now called {name}"))
}

/// Every gate on every canary replica: Ok with the figures, Err with the
/// first that is not below its bound (no data counts as failing).
async fn gates(
    client: &Client,
    metrics: &[Metric],
    gates: &[crate::rollout::Gate],
    canaries: &[String],
) -> Result<String, String> {
    let mut seen = Vec::new();
    for g in gates {
        let Some(m) = metrics
            .iter()
            .find(|m| m.name == g.metric && m.scope == crate::metrics::Scope::Replica)
        else {
            return Err(format!("no replica metric {}", g.metric));
        };
        let mut worst = f64::NEG_INFINITY;
        for c in canaries {
            let vars = Vars {
                container: Some(c.clone()),
                ..Default::default()
            };
            let Some(expr) = m.expand(&vars) else {
                return Err(format!("{} cannot be asked about {c}", g.metric));
            };
            let value = match client.run(&Query::Instant { expr }).await {
                Ok(Data::Vector(v)) if !v.is_empty() => v[0].value,
                Ok(Data::Scalar { value, .. }) => value,
                Ok(_) => return Err(format!("{} {c}: no data yet", g.metric)),
                Err(e) => return Err(format!("{} {c}: {}", g.metric, e.short())),
            };
            if value.is_nan() || value >= g.below {
                return Err(format!(
                    "{} of {c} is {} (must stay below {})",
                    g.metric,
                    m.format(value),
                    m.format(g.below)
                ));
            }
            worst = worst.max(value);
        }
        seen.push(format!(
            "{} ≤ {} < {}",
            g.metric,
            m.format(worst),
            m.format(g.below)
        ));
    }
    Ok(if seen.is_empty() {
        "no gates".into()
    } else {
        seen.join(", ")
    })
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
