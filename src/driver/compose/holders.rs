//! What holds a replica's name now: the container named so and any
//! renamed aside (`NAME-old-…`), found afresh at every step, and the
//! Docker calls that tolerate someone else having got there first.

use super::*;
use crate::model::State;

/// A container found by name, as it is now.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) image: String,
    /// Docker's state word: created, running, exited, dead…
    pub(super) status: State,
    /// healthy, unhealthy, starting; None without a health check.
    pub(super) health: Option<String>,
}

impl Held {
    pub(super) fn running(&self) -> bool {
        self.status == State::Running
    }

    /// Running, and healthy if it has a health check.
    pub(super) fn serving(&self) -> bool {
        self.running() && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    pub(super) fn describe(&self) -> String {
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
pub(super) struct Holders {
    pub(super) named: Option<Held>,
    pub(super) aside: Vec<Held>,
}

/// The name a start-first replacement gives the old replica meanwhile.
pub(super) fn aside_name(name: &str, id: &str) -> String {
    format!("{name}-old-{}", &id[..6.min(id.len())])
}

impl Holders {
    pub(super) async fn find(docker: &Docker, name: &str) -> Result<Holders, StepError> {
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
            .map_err(steps::step_error)?;
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
                status: state
                    .status
                    .map(|s| State::from(s.to_string()))
                    .unwrap_or_default(),
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

/// `docker rm -f`: whatever state it is in. One already gone is fine, and
/// so is one someone else is removing right now (it is waited for).
pub(super) async fn remove_now(docker: &Docker, id: &str) -> Result<String, StepError> {
    let removed = docker
        .remove_container(
            id,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(steps::step_error)
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
pub(super) fn gone_is_done(result: Result<String, StepError>) -> Result<String, StepError> {
    match result {
        Err(e) if e.failure == crate::ops::Failure::Gone => {
            Ok("already gone (removed by someone else)".into())
        }
        other => other,
    }
}

pub(super) async fn rename(docker: &Docker, id: &str, name: &str) -> Result<String, StepError> {
    docker
        .rename_container(
            id,
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await
        .map_err(steps::step_error)?;
    Ok(format!("now called {name}"))
}

pub(super) fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}
