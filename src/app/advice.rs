//! Scaling advice for a row (from the topology's `[[policy]]`), and `a`,
//! which turns it into a scale plan.

use crate::app::{App, Level, Pane};
use crate::model::{Replica, ServiceId};
use crate::ops::plan;
use crate::policy::{self, Advice, LastChange, Load};

impl App {
    /// Advice for a row at the current level: team rows (when the team
    /// has one service) and service rows, under the first matching policy.
    /// None while looking at the past: advice is about acting now.
    pub fn advice(&self, row: &crate::fleet::Row) -> Option<(ServiceId, Advice)> {
        if self.past.is_some() {
            return None;
        }
        let service = match (&self.frame().level, self.pane) {
            (Level::Services { .. }, _) => row.service.clone()?,
            (Level::Groups, Pane::Teams) => {
                let t = self.group_target(true, &row.name)?;
                match t.services.as_slice() {
                    [one] => one.clone(),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let policy = self.fleet.topology.policy_for(&service.name)?;
        let replicas: Vec<&Replica> = plan::replicas_of_service(&self.fleet, &service)
            .into_iter()
            .filter(|r| r.is_running())
            .collect();
        let ids: Vec<String> = replicas.iter().map(|r| r.id.clone()).collect();
        // History only since the newest replica started: before that the
        // service was smaller and its figures say nothing of now.
        let newest = replicas
            .iter()
            .filter_map(|r| r.started_at.or(r.created))
            .max();
        let since = newest.map(|t| (self.now - t).num_seconds().max(0) as u64);
        let watched = self
            .watching_since
            .map(|t| (self.now - t).num_seconds().max(0) as u64)
            .unwrap_or(0);
        let slot = crate::stats::SLOT_SECS as u64;
        let slots = (since.unwrap_or(0).min(watched) / slot) as usize;
        let slots = slots.min(crate::stats::HISTORY_SLOTS - 1);
        let mut cpu = self.fleet.cpu_history(&ids, slots + 1, self.now);
        cpu.pop(); // the slot under way is not complete
        let cores = row
            .cpu_limit
            .filter(|c| *c > 0.0)
            .unwrap_or(replicas.len().max(1) as f64);
        let cpu: Vec<f64> = cpu.iter().map(|v| v / cores).collect();
        let memory = if row.figures.mem_limit > 0 {
            row.figures.mem_used as f64 * 100.0 / row.figures.mem_limit as f64
        } else {
            0.0
        };
        // Started by a rollout of this service (while it ran): replaced,
        // not scaled.
        let by_rollout = newest.and_then(|t| {
            self.ops.rollouts.iter().rev().find(|r| {
                r.service == service
                    && r.started <= t
                    && t <= r.finished.unwrap_or(self.now) + chrono::Duration::seconds(5)
            })
        });
        let last_change = since.map(|secs| match by_rollout {
            Some(r) => LastChange::Replaced {
                secs,
                by: format!("{} #{}", r.what, r.id),
            },
            None => LastChange::Scaled { secs },
        });
        let load = Load {
            replicas: replicas.len() as u64,
            cpu,
            memory,
            last_change,
        };
        Some((service, policy::advise(policy, &load, slot)))
    }

    /// `a`: turn the selected row's advice into a scale plan.
    pub fn apply_advice(&mut self) {
        let row = self.rows().get(self.frame().selected).cloned();
        let plan = match row.as_ref().and_then(|r| self.advice(r)) {
            Some((service, Advice { to: Some(n), why })) => plan::scale(&self.fleet, &service, n)
                .map(|mut p| {
                    p.notes.push(format!("advice: {why}"));
                    p
                }),
            Some((_, Advice { to: None, why })) => Err(format!("no scaling advised: {why}")),
            None => {
                Err("no scaling policy covers this row (see [[policy]] in the topology)".into())
            }
        };
        self.propose(plan);
    }
}
