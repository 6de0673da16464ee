//! Whether a new replica came up: its health, exit, restarts and OOM
//! read from inspect, waited for with Swarm's monitor semantics.

use super::*;
use crate::model::State;

/// The health check's interval and timeout (Docker's 30 s defaults).
pub(super) fn check_of(c: &ContainerInspectResponse) -> Option<(Duration, Duration)> {
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
pub(super) struct Look {
    pub(super) status: State,
    pub(super) health: Option<String>,
    pub(super) exit_code: i64,
    pub(super) restarts: i64,
    pub(super) last_probe: Option<String>,
    pub(super) check: Option<(Duration, Duration)>,
}

pub(super) async fn look(docker: &Docker, id: &str) -> Result<Look, String> {
    let c = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| steps::step_error(e).message)?;
    let state = c.state.clone().unwrap_or_default();
    let health = state.health.as_ref();
    Ok(Look {
        status: state
            .status
            .map(|s| State::from(s.to_string()))
            .unwrap_or_default(),
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
    pub(super) fn failure(&self, restarts_at_start: i64, took: f64) -> Option<String> {
        if matches!(self.status, State::Exited | State::Dead) {
            return Some(format!(
                "{} with code {} after {took:.1} s",
                self.status, self.exit_code
            ));
        }
        if self.restarts > restarts_at_start || self.status == State::Restarting {
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
pub(super) async fn wait_healthy(
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
            None if now.status == State::Running => break took,
            _ => {}
        }
        if started.elapsed() >= deadline {
            return Err(format!(
                "not healthy within {} (still {}{})",
                crate::rollout::duration_text(deadline),
                now.health.as_deref().unwrap_or(now.status.as_str()),
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
