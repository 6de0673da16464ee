//! Canaries: the same replacement stage by stage, each stage held for
//! its duration and gated by Prometheus.

use super::*;

/// Every gate on every canary replica: Ok with the figures, Err with the
/// first that is not below its bound (no data counts as failing).
pub(super) async fn gates(
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

impl<M: From<crate::driver::Report> + Send + 'static> Driver<M> {
    pub(super) async fn canary(
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
