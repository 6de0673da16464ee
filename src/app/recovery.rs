//! What an earlier agile-deck left unfinished, on the app's side: what
//! each replica holds now, the plan that resumes or rolls back an
//! interrupted rollout, and dismissing one.

use serde_json::json;

use super::rollouts::batch_step;
use crate::app::{App, Cmd};
use crate::model::ServiceKind;
use crate::ops::plan::lock_of;
use crate::ops::{Kind, Plan};
use crate::rollout::{Change, Mode, Request, Spec};

impl App {
    /// `x` on an interrupted row: it is closed in the journal (so it is not
    /// shown again) and left as it is.
    pub(super) fn dismiss_interrupted(&mut self, i: usize, cmds: &mut Vec<Cmd>) {
        let it = self.ops.interrupted.remove(i);
        self.flash = Some(format!(
            "interrupted {} of {} dismissed: the containers are left as they are",
            it.operation,
            it.service()
        ));
        cmds.push(Cmd::CloseInterrupted {
            host: it.host,
            run: it.run,
            op: it.op,
            operation: it.operation,
            target: it.target,
            detail: "dismissed by the operator; left as it was".into(),
        });
    }

    /// What a replica of an interrupted rollout is now, in words, and
    /// whether it is on `image` and serving.
    pub fn replica_now(&self, name: &str, image: &str) -> (String, bool) {
        let aside = self
            .fleet
            .replicas
            .values()
            .filter(|r| r.name.starts_with(&format!("{name}-old-")))
            .count();
        let aside = if aside > 0 {
            format!(", {aside} renamed aside")
        } else {
            String::new()
        };
        match self.fleet.replicas.values().find(|r| r.name == name) {
            None => (format!("missing: stopped and not replaced{aside}"), false),
            Some(r) => {
                let ok = r.is_running()
                    && matches!(
                        r.health,
                        crate::model::Health::Healthy | crate::model::Health::NoCheck
                    );
                (
                    format!("{} on {} ({}){aside}", r.state, r.image, r.health.word()),
                    ok && r.image == image && aside.is_empty(),
                )
            }
        }
    }

    /// Resume (`back` false) or roll back an interrupted rollout: a plan
    /// whose steps say what each replica is now and what will be done;
    /// the driver looks at them again when it runs.
    pub fn recovery_plan(
        &self,
        it: &crate::recovery::Interrupted,
        back: bool,
    ) -> Result<(Plan, Request), String> {
        it.resumable()?;
        // Going on with a recovery roll back is rolling back.
        let back = back != it.was_rolling_back();
        let names = it.replicas();
        let (from, to) = (it.from().to_string(), it.to().to_string());
        // The service, from any of its replicas still here.
        let service = self
            .fleet
            .replicas
            .values()
            .filter(|r| matches!(r.placement.service.kind, ServiceKind::Compose { .. }))
            .find(|r| {
                names
                    .iter()
                    .any(|n| r.name == *n || r.name.starts_with(&format!("{n}-old-")))
                    || r.placement.service.name == it.service()
            })
            .map(|r| r.placement.service.clone())
            .ok_or_else(|| format!("no replica of {} is left here", it.service()))?;
        let mut spec = Spec::default();
        for key in [
            "parallelism",
            "delay",
            "monitor",
            "healthy_within",
            "failure",
            "ratio",
            "order",
        ] {
            let v = &it.params[key];
            let text = v
                .as_str()
                .map(String::from)
                .or_else(|| (v.is_number()).then(|| v.to_string()));
            if let Some(text) = text {
                spec.set(key, &text)?;
            }
        }
        let goal = if back { &from } else { &to };
        let steps = names
            .iter()
            .map(|n| {
                let (now, done) = self.replica_now(n, goal);
                let action = if done {
                    "kept"
                } else if back {
                    "put back on the old version"
                } else {
                    "replaced with the new version"
                };
                batch_step(
                    format!("{n}: {now} → {action}"),
                    format!("docker inspect {n}"),
                )
            })
            .collect();
        let word = if back { "roll back" } else { "resume" };
        let plan = Plan {
            kind: Kind::Rollout,
            title: format!("{word} the interrupted rollout of {} ({from} → {to})", service.name),
            target: format!("service {} ({})", service.name, service.kind_word()),
            locks: vec![lock_of(&service)],
            params: json!({ "from": from, "to": to, "spec": spec.summary() }),
            steps,
            notes: vec![
                format!(
                    "interrupted: {} by {} ({})",
                    it.operation,
                    it.user,
                    it.summary()
                ),
                "each replica is looked at again when this runs: what holds its name then is what is acted on".into(),
                if back {
                    format!("every replica goes back to {from}; one renamed aside takes its name back")
                } else {
                    format!("half-way replicas are put back first, then every replica goes to {to}")
                },
                spec.summary(),
            ],
            warnings: Vec::new(),
            undo: None,
        };
        let request = Request {
            service,
            swarm_id: None,
            change: Change::Image(goal.clone()),
            mode: Mode::Rolling,
            spec,
            replicas: Vec::new(),
            resume: Some(crate::rollout::Resume {
                run: it.run.clone(),
                op: it.op,
                names,
                from,
                to,
                back,
            }),
        };
        Ok((plan, request))
    }
}
