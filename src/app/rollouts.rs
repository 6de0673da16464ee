//! What the app does with rollouts: plans from `:rollout`, `:canary`,
//! `:rollback`, `:switch` and `:retire`; the user's controls (pause,
//! resume, roll back, abort); the drivers' reports; and the Rollouts view's
//! rows and keys. State lives in `App::ops`.

use serde_json::json;

use crate::app::{App, Cmd};
use crate::keymap::Action as Key;
use crate::model::{ServiceId, ServiceKind};
use crate::ops::pair::{self, Colour, Pair};
use crate::ops::plan::{lock_of, replicas_of_service};
use crate::ops::{Action, Kind, Plan, Step};
use crate::rollout::{
    self, Change, Control, Mode, Order, Phase, Request, Spec, View, batches, config,
};

/// A row of the Rollouts view.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    /// Index into `ops.interrupted`: left unfinished by an earlier run.
    Interrupted(usize),
    Pair(Pair),
    /// Index into `ops.rollouts`.
    Rollout(usize),
}

pub(super) fn batch_step(what: String, cli: String) -> Step {
    Step {
        what,
        cli,
        action: Action::Batch,
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
    }
}

impl App {
    /// The service a typed name means (one service, not a team or layer).
    fn rollout_service(&self, name: &str) -> Result<ServiceId, String> {
        let spec = if name.contains(':') {
            name.to_string()
        } else {
            format!("service:{name}")
        };
        self.resolve_target(&spec)
            .and_then(|t| self.one_service(&t, "roll out"))
    }

    /// The rollout of `service` that is under way, if any.
    fn running_rollout(&self, service: &ServiceId) -> Option<&View> {
        self.ops
            .rollouts
            .iter()
            .rev()
            .find(|r| &r.service == service && !r.phase.finished())
    }

    /// The plan (and what its driver gets) for rolling `change` over
    /// `service`.
    pub fn rollout_plan(
        &self,
        service: &ServiceId,
        change: Change,
        spec: Spec,
        mode: Mode,
    ) -> Result<(Plan, Request), String> {
        let word = match &mode {
            Mode::Canary(_) => "canary",
            Mode::SwarmRollback => "rollback",
            Mode::Rolling => "rollout",
        };
        let new_image = match &change {
            Change::Image(i) => i.clone(),
            Change::Restart => "restart (same image)".to_string(),
        };
        let mut notes = vec![spec.summary()];
        let mut warnings = Vec::new();
        let (steps, replicas, swarm_id, from) = if service.kind == ServiceKind::Swarm {
            let s = self
                .fleet
                .swarm_services()
                .iter()
                .find(|s| s.name == service.name)
                .ok_or_else(|| format!("Swarm service {} is not known here", service.name))?;
            if matches!(mode, Mode::Canary(_)) {
                return Err(format!(
                    "{}: a canary needs Compose-style replicas; Swarm services roll with :rollout",
                    service.name
                ));
            }
            let step = match &mode {
                Mode::SwarmRollback => batch_step(
                    format!("Swarm puts back the previous spec of {}", s.name),
                    format!("docker service rollback {}", s.name),
                ),
                _ => batch_step(
                    format!(
                        "Swarm replaces the tasks of {}, {} at a time",
                        s.name, spec.parallelism
                    ),
                    crate::driver::swarm::update_cli(&s.name, &change, &spec),
                ),
            };
            notes.push(
                "Swarm runs it: progress comes from the service's UpdateStatus and its tasks"
                    .into(),
            );
            notes.push(
                "Swarm pauses only by its failure action; b rolls back, r resumes a paused update"
                    .into(),
            );
            notes.push(format!(
                "monitor {}: a task that fails within it after it started counts as failed (Swarm waits for health by its own rules; healthy-within applies to Compose-style rollouts only)",
                crate::rollout::duration_text(spec.monitor)
            ));
            (vec![step], Vec::new(), Some(s.id.clone()), s.image.clone())
        } else {
            let rs = replicas_of_service(&self.fleet, service);
            if rs.is_empty() {
                return Err(format!("{} has no replica to roll", service.name));
            }
            let from = rs[0].image.clone();
            if let Change::Image(i) = &change
                && rs.iter().all(|r| &r.image == i)
            {
                return Err(format!(
                    "every replica of {} runs {i} already (:rollout {} restart makes new containers)",
                    service.name, service.name
                ));
            }
            for r in &rs {
                if !r.is_running() || r.health == crate::model::Health::Unhealthy {
                    warnings.push(format!(
                        "{} is {} ({}) now: it is replaced too, and its failure would count against the new version",
                        r.name,
                        r.state,
                        r.health.word()
                    ));
                }
            }
            let n = rs.len();
            let to = new_image.clone();
            let groups: Vec<Vec<&str>> = match &mode {
                Mode::Canary(stages) => {
                    let mut done = 0;
                    stages
                        .iter()
                        .map(|st| {
                            let want = crate::rollout::canary_count(n, st.weight);
                            let g = rs[done..want].iter().map(|r| r.name.as_str()).collect();
                            done = want;
                            g
                        })
                        .collect()
                }
                _ => batches(n, spec.parallelism)
                    .into_iter()
                    .map(|b| rs[b].iter().map(|r| r.name.as_str()).collect())
                    .collect(),
            };
            let steps = groups
                .iter()
                .enumerate()
                .map(|(k, names)| {
                    let how = match spec.order {
                        Order::StopFirst => "stop, create on the new image, wait healthy",
                        Order::StartFirst => "create next to the old, wait healthy, remove the old",
                    };
                    let what = match &mode {
                        Mode::Canary(stages) => {
                            let st = &stages[k];
                            let gates: Vec<String> = st
                                .gates
                                .iter()
                                .map(|g| format!("{} < {}", g.metric, g.below))
                                .collect();
                            format!(
                                "stage {}: {} of {n} on {to} ({}); watch {}{}",
                                k + 1,
                                crate::rollout::canary_count(n, st.weight),
                                if names.is_empty() { "no new replica".to_string() } else { names.join(", ") },
                                crate::rollout::duration_text(st.duration),
                                if gates.is_empty() { String::new() } else { format!(", gates {}", gates.join(", ")) }
                            )
                        }
                        _ => format!("batch {}: {} — {how}", k + 1, names.join(", ")),
                    };
                    let cli = names
                        .iter()
                        .map(|nm| match spec.order {
                            Order::StopFirst => format!("docker stop {nm} && docker rm {nm} && docker run -d --name {nm} … {to}"),
                            Order::StartFirst => format!("docker rename {nm} {nm}-old-… && docker run -d --name {nm} … {to} && docker rm -f {nm}-old-…"),
                        })
                        .collect::<Vec<_>>()
                        .join(" ; ");
                    batch_step(what, cli)
                })
                .collect();
            notes.push(format!(
                "a new replica counts once healthy within {} (at least one health-check cycle) and still up {} later (monitor, as Swarm's --update-monitor); otherwise it failed",
                crate::rollout::duration_text(spec.healthy_within),
                crate::rollout::duration_text(spec.monitor)
            ));
            notes.push(match spec.order {
                Order::StopFirst => format!(
                    "capacity never below {} healthy of {n} (replicas − parallelism)",
                    n.saturating_sub(spec.parallelism)
                ),
                Order::StartFirst => format!("capacity never below {n} healthy: the old replica runs until the new one is healthy"),
            });
            notes.push(match &mode {
                Mode::Canary(_) => "a failed replica or gate rolls every new replica back to the old image".into(),
                _ => format!(
                    "on failure beyond ratio {}: {}; a failed replica is put back on the old image before the next batch",
                    spec.max_ratio,
                    spec.on_failure.word()
                ),
            });
            (steps, rs.iter().map(|r| r.id.clone()).collect(), None, from)
        };
        notes.push(
            "Rollouts tab: p pause · r resume · b roll back · x abort (also :pause, :resume, :rollback, :abort)"
                .into(),
        );
        let to = match &mode {
            Mode::SwarmRollback => "previous spec".to_string(),
            _ => new_image,
        };
        let plan = Plan {
            kind: Kind::Rollout,
            title: format!("{word} {} {from} → {to}", service.name),
            target: format!("service {} ({})", service.name, service.kind_word()),
            locks: vec![lock_of(service)],
            params: json!({ "from": from, "to": to, "spec": spec.summary() }),
            steps,
            notes,
            warnings,
            undo: None,
        };
        let request = Request {
            service: service.clone(),
            swarm_id,
            change,
            mode,
            spec,
            replicas,
            resume: None,
        };
        Ok((plan, request))
    }

    /// Confirmed: hand the request to a driver.
    pub(crate) fn start_rollout(
        &mut self,
        id: u64,
        host: crate::model::HostId,
        plan: &Plan,
        request: Request,
        cmds: &mut Vec<Cmd>,
    ) {
        if let Some(r) = &request.resume {
            self.ops
                .interrupted
                .retain(|i| (i.run.as_str(), i.op) != (r.run.as_str(), r.op));
        }
        let what = match &request.mode {
            _ if request.resume.as_ref().is_some_and(|r| r.back) => rollout::Kind::RecoveryRollBack,
            _ if request.resume.is_some() => rollout::Kind::ResumedRollingUpdate,
            Mode::Canary(_) => rollout::Kind::Canary,
            Mode::SwarmRollback => rollout::Kind::SwarmRollback,
            Mode::Rolling if request.swarm_id.is_some() => rollout::Kind::SwarmUpdate,
            Mode::Rolling => rollout::Kind::RollingUpdate,
        };
        let view = View {
            id,
            service: request.service.clone(),
            what,
            from: plan.params["from"].as_str().unwrap_or_default().to_string(),
            to: plan.params["to"].as_str().unwrap_or_default().to_string(),
            spec: request.spec.clone(),
            phase: Phase::Rolling,
            slots: Vec::new(),
            failures: 0,
            stage: None,
            message: "starting".into(),
            started: self.now,
            finished: None,
        };
        log::info!("#{id} {}: confirmed", plan.title);
        self.ops.rollouts.push(view.clone());
        // The Rollouts view lists pairs first, then rollouts newest first.
        self.ops.rollouts_selected = pair::pairs(&self.fleet).len();
        self.flash = Some(format!(
            "#{id} {} started: Rollouts tab to follow it",
            plan.title
        ));
        cmds.push(Cmd::StartRollout {
            host,
            request: Box::new(request),
            view: Box::new(view),
        });
    }

    /// A driver's report.
    pub fn rollout_report(&mut self, view: View, cmds: &mut Vec<Cmd>) {
        let Some(i) = self.ops.rollouts.iter().position(|r| r.id == view.id) else {
            return;
        };
        if !self.ops.rollouts[i].phase.finished() && view.phase.finished() {
            log::info!(
                "#{} {} of {}: {} — {}",
                view.id,
                view.what,
                view.service.name,
                view.phase.word(),
                view.message
            );
            self.relist_after_work(cmds);
        }
        self.ops.rollouts[i] = view;
        self.dirty = true;
    }

    /// Tell the rollout of `service` (or the selected one) what to do.
    fn control_rollout(
        &mut self,
        service: Option<&ServiceId>,
        control: Control,
        cmds: &mut Vec<Cmd>,
    ) {
        let found = match service {
            Some(s) => self.running_rollout(s),
            None => match self.rollout_rows().get(self.ops.rollouts_selected) {
                Some(Row::Rollout(i)) => self.ops.rollouts.get(*i).filter(|r| !r.phase.finished()),
                _ => None,
            },
        };
        let Some(r) = found.cloned() else {
            self.flash = Some(format!(
                "no rollout under way {}to {}",
                service
                    .map(|s| format!("on {} ", s.name))
                    .unwrap_or_default(),
                control.word()
            ));
            return;
        };
        let swarm = r.what.is_swarm();
        if swarm && matches!(control, Control::Pause | Control::Abort) {
            self.flash = Some(format!(
                "Swarm cannot {} an update on request: roll it back (b) or let it finish",
                control.word()
            ));
            return;
        }
        if control == Control::Resume && !matches!(r.phase, Phase::Paused(_)) {
            self.flash = Some(format!("#{} is not paused", r.id));
            return;
        }
        self.flash = Some(format!(
            "#{} {}: {} asked (after the batch under way)",
            r.id,
            r.service.name,
            control.word()
        ));
        cmds.push(Cmd::RolloutControl { id: r.id, control });
    }

    /// `:rollout`, `:canary`, `:rollback`, `:pause`, `:resume`, `:abort`,
    /// `:switch`, `:retire`. False if `word` is none of them.
    pub fn rollout_command(&mut self, word: &str, rest: &str, cmds: &mut Vec<Cmd>) -> bool {
        let args: Vec<&str> = rest.split_whitespace().collect();
        match word {
            "rollout" | "canary" => {
                let Some((name, opts)) = args.split_first() else {
                    self.flash = Some(if word == "rollout" {
                        "usage: :rollout SERVICE image=REF|restart [parallelism=N] [delay=D] [monitor=D] [failure=pause|continue|rollback] [ratio=R] [order=stop-first|start-first]".into()
                    } else {
                        "usage: :canary SERVICE image=REF".into()
                    });
                    return true;
                };
                let planned = self.rollout_service(name).and_then(|service| {
                    let mut spec = config::spec_for(&self.fleet.topology.rollouts, &service.name);
                    let change = crate::rollout::parse_args(opts, &mut spec)?;
                    let mode = if word == "canary" {
                        if self.prom.is_none() {
                            return Err("refused: a canary is gated by Prometheus, and none is configured (--prometheus URL)".into());
                        }
                        let canary = self
                            .fleet
                            .topology
                            .canaries
                            .iter()
                            .find(|c| c.applies_to(&service.name))
                            .ok_or_else(|| format!("no [[canary]] in the topology matches {}", service.name))?;
                        Mode::Canary(canary.stages.clone())
                    } else {
                        Mode::Rolling
                    };
                    self.rollout_plan(&service, change, spec, mode)
                });
                self.propose(planned);
            }
            "rollback" => match args.as_slice() {
                [name] => match self.rollout_service(name) {
                    Ok(s) if self.running_rollout(&s).is_some() => {
                        self.control_rollout(Some(&s), Control::Rollback, cmds)
                    }
                    Ok(s) if s.kind == ServiceKind::Swarm => {
                        let spec = config::spec_for(&self.fleet.topology.rollouts, &s.name);
                        let p = self.rollout_plan(&s, Change::Restart, spec, Mode::SwarmRollback);
                        self.propose(p);
                    }
                    Ok(s) => {
                        // Finished: roll the previous image back over it.
                        let last = self
                            .ops
                            .rollouts
                            .iter()
                            .rev()
                            .find(|r| r.service == s && r.phase == Phase::Done)
                            .map(|r| (r.from.clone(), r.spec.clone()));
                        let p = match last {
                            Some((from, spec)) => {
                                self.rollout_plan(&s, Change::Image(from), spec, Mode::Rolling)
                            }
                            None => Err(format!(
                                "no rollout of {} to roll back in this session",
                                s.name
                            )),
                        };
                        self.propose(p);
                    }
                    Err(e) => self.flash = Some(e),
                },
                _ => self.flash = Some("usage: :rollback SERVICE".into()),
            },
            "pause" | "resume" | "abort" => {
                let control = match word {
                    "pause" => Control::Pause,
                    "resume" => Control::Resume,
                    _ => Control::Abort,
                };
                match args.as_slice() {
                    [name] => match self.rollout_service(name) {
                        Ok(s) => self.control_rollout(Some(&s), control, cmds),
                        Err(e) => self.flash = Some(e),
                    },
                    _ => self.flash = Some(format!("usage: :{word} SERVICE")),
                }
            }
            "switch" | "retire" => match args.as_slice() {
                [name, colour] => {
                    let plan = Colour::parse(colour).and_then(|c| {
                        if word == "switch" {
                            pair::switch(&self.fleet, name, c)
                        } else {
                            pair::retire(&self.fleet, name, c)
                        }
                    });
                    self.propose(plan);
                }
                _ => self.flash = Some(format!("usage: :{word} PAIR blue|green")),
            },
            _ => return false,
        }
        true
    }

    /// The Rollouts view: what an earlier run left unfinished, pairs, then
    /// rollouts newest first.
    pub fn rollout_rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = (0..self.ops.interrupted.len())
            .map(Row::Interrupted)
            .collect();
        rows.extend(pair::pairs(&self.fleet).into_iter().map(Row::Pair));
        rows.extend((0..self.ops.rollouts.len()).rev().map(Row::Rollout));
        rows
    }

    /// Keys of the Rollouts view; false when the key is not its own.
    pub fn on_rollouts_key(&mut self, action: Key, cmds: &mut Vec<Cmd>) -> bool {
        let rows = self.rollout_rows();
        let n = rows.len();
        if let Some(to) = action.moved(self.ops.rollouts_selected, n, super::nav::LIST_PAGE) {
            self.ops.rollouts_selected = to;
            return true;
        }
        match action {
            Key::RolloutResume | Key::RolloutBack | Key::RolloutAbort
                if matches!(
                    rows.get(self.ops.rollouts_selected),
                    Some(Row::Interrupted(_))
                ) =>
            {
                let Some(Row::Interrupted(i)) = rows.get(self.ops.rollouts_selected) else {
                    return true;
                };
                let i = *i;
                match action {
                    Key::RolloutAbort => self.dismiss_interrupted(i, cmds),
                    _ => {
                        let planned = self
                            .recovery_plan(&self.ops.interrupted[i], action == Key::RolloutBack);
                        self.propose(planned);
                    }
                }
            }
            Key::RolloutPause => self.control_rollout(None, Control::Pause, cmds),
            Key::RolloutResume => self.control_rollout(None, Control::Resume, cmds),
            Key::RolloutAbort => self.control_rollout(None, Control::Abort, cmds),
            Key::RolloutBack => match rows.get(self.ops.rollouts_selected) {
                Some(Row::Rollout(i)) if !self.ops.rollouts[*i].phase.finished() => {
                    self.control_rollout(None, Control::Rollback, cmds)
                }
                Some(Row::Rollout(i)) => {
                    let name = self.ops.rollouts[*i].service.name.clone();
                    self.rollout_command("rollback", &name, cmds);
                }
                _ => self.flash = Some("select a rollout".into()),
            },
            Key::Switch | Key::Retire => match rows.get(self.ops.rollouts_selected) {
                Some(Row::Pair(p)) => {
                    let live = p.live.first().copied().unwrap_or(Colour::Blue);
                    let plan = if action == Key::Switch {
                        pair::switch(&self.fleet, &p.name, live.other())
                    } else {
                        pair::retire(&self.fleet, &p.name, live.other())
                    };
                    self.propose(plan);
                }
                _ => self.flash = Some("select a blue-green pair".into()),
            },
            _ => return false,
        }
        true
    }

    /// `D` on a service: the command line, ready to edit, with its image.
    pub fn rollout_key(&mut self) {
        let service = self
            .selection_target()
            .ok_or_else(|| "nothing selected".to_string())
            .and_then(|t| self.one_service(&t, "roll out"));
        match service {
            Ok(s) => {
                let image = replicas_of_service(&self.fleet, &s)
                    .first()
                    .map(|r| r.image.clone())
                    .or_else(|| {
                        self.fleet
                            .swarm_services()
                            .iter()
                            .find(|x| x.name == s.name)
                            .map(|x| x.image.clone())
                    })
                    .unwrap_or_default();
                self.prompt
                    .open(format!("rollout service:{} image={image}", s.name));
            }
            Err(e) => self.flash = Some(format!("{e} (Enter, then D on the service)")),
        }
    }
}
