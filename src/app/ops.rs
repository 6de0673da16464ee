//! What the app does with operations: the keys and commands that plan
//! them, the confirmation dialog, running and finished operations, undo,
//! and the journal's recent lines. State lives in `App::ops`; these
//! are `App` methods so they can read the fleet and the selection.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::app::{App, Cmd};
use crate::journal::Entry;
use crate::model::HostId;
use crate::ops::exec::Progress;
use crate::ops::plan;
use crate::ops::{Kind, Plan, Status, StepState, UndoSpec};
use crate::units;

/// How many journal lines the journal pane keeps.
const JOURNAL_LINES: usize = 200;

/// An operation the app started, and how it goes.
#[derive(Clone, Debug)]
pub struct OpView {
    pub id: u64,
    pub plan: Plan,
    pub steps: Vec<StepState>,
    pub status: Status,
    pub summary: String,
    pub started: DateTime<Utc>,
}

/// The plan waiting for a yes or no, and the work a yes starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub plan: Plan,
    pub job: Job,
    /// The host it acts on (`App::propose` decides).
    pub host: HostId,
    /// First line shown, for plans longer than the screen.
    pub scroll: usize,
}

/// Who carries out a confirmed plan.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// The executor, step by step.
    Steps,
    /// A rollout driver, from its request.
    Rollout(Box<crate::rollout::Request>),
}

/// What a key in the plan dialog asks of the app.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Run it (`y`, or `Y` over warnings).
    Confirm,
    /// Drop it.
    Cancel,
    /// `y` on a plan with warnings: say which key runs it anyway.
    Warned,
    /// The dialog took it (scrolled) or ignores it.
    Nothing,
}

impl Pending {
    /// The dialog's keys (`[dialog]` in the keymap): confirm (confirm
    /// anyway when the plan carries warnings), cancel, and the table's
    /// moves scroll it.
    pub fn on_action(&mut self, action: Option<crate::keymap::Action>) -> Answer {
        use crate::keymap::Action as A;
        let warned = !self.plan.warnings.is_empty();
        match action {
            Some(A::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(A::Down) => self.scroll += 1,
            Some(A::PageUp) => self.scroll = self.scroll.saturating_sub(10),
            Some(A::PageDown) => self.scroll += 10,
            Some(A::Cancel) => return Answer::Cancel,
            Some(A::ConfirmAnyway) => return Answer::Confirm,
            Some(A::Confirm) if !warned => return Answer::Confirm,
            Some(A::Confirm) => return Answer::Warned,
            _ => {}
        }
        Answer::Nothing
    }
}

impl From<Plan> for Pending {
    fn from(plan: Plan) -> Pending {
        Pending {
            plan,
            job: Job::Steps,
            host: HostId::default(),
            scroll: 0,
        }
    }
}

impl From<(Plan, crate::rollout::Request)> for Pending {
    fn from((plan, request): (Plan, crate::rollout::Request)) -> Pending {
        Pending {
            plan,
            job: Job::Rollout(Box::new(request)),
            host: HostId::default(),
            scroll: 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct Ops {
    /// `--read-only`: no operation can start.
    pub read_only: bool,
    pub pending: Option<Pending>,
    /// Started this session, oldest first.
    pub list: Vec<OpView>,
    next_id: u64,
    /// What undoes the last scale or resize of each target.
    pub undo: HashMap<String, UndoSpec>,
    pub last_undo: Option<String>,
    pub show_journal: bool,
    pub journal: VecDeque<Entry>,
    /// Rollouts started this session, oldest first, as their drivers report.
    pub rollouts: Vec<crate::rollout::View>,
    /// The selected row of the Rollouts view (pairs first, then rollouts).
    pub rollouts_selected: usize,
    /// What an earlier agile-deck left unfinished (found in the journal at
    /// start), until resumed, rolled back or dismissed.
    pub interrupted: Vec<crate::recovery::Interrupted>,
}

pub const READ_ONLY: &str =
    "read-only: agile-deck was started with --read-only, so nothing can be changed";

impl Ops {
    pub fn running(&self) -> impl Iterator<Item = &OpView> {
        self.list.iter().filter(|o| !o.status.finished())
    }

    /// The operation the progress panel shows: the running one, else the
    /// last one.
    pub fn current(&self) -> Option<&OpView> {
        self.running().last().or(self.list.last())
    }

    /// Why work holding one of `locks` cannot start now: an operation or
    /// a rollout is changing the same thing.
    pub fn busy_with(&self, locks: &[String]) -> Option<String> {
        if let Some(o) = self
            .running()
            .find(|o| o.plan.locks.iter().any(|l| locks.contains(l)))
        {
            return Some(format!(
                "#{} ({}) is still changing it; wait for it or cancel it (C)",
                o.id, o.plan.title
            ));
        }
        self.rollouts
            .iter()
            .find(|r| !r.phase.finished() && locks.contains(&plan::lock_of(&r.service)))
            .map(|r| {
                format!(
                    "rollout #{} of {} is under way; let it finish, roll it back or abort it",
                    r.id, r.service.name
                )
            })
    }

    pub fn journaled(&mut self, e: Entry) {
        if self.journal.len() == JOURNAL_LINES {
            self.journal.pop_front();
        }
        self.journal.push_back(e);
    }
}

impl App {
    /// Show a plan (an operation's, or a rollout's with its request) for
    /// confirmation, or say why there is none.
    pub fn propose(&mut self, planned: Result<impl Into<Pending>, String>) {
        match planned.and_then(|p| self.on_one_host(p.into())) {
            Ok(p) => self.ops.pending = Some(p),
            Err(e) => self.flash = Some(e),
        }
    }

    /// Decide the host a plan acts on: where its containers run, or for a
    /// Swarm service a manager that is up. One plan acts on one host (its
    /// steps go to one daemon and its journal lines name one), so a target
    /// running on several is refused with the way to narrow it.
    fn on_one_host(&self, mut p: Pending) -> Result<Pending, String> {
        let mut ids: Vec<&str> = p
            .plan
            .steps
            .iter()
            .filter_map(|s| s.action.container())
            .collect();
        let mut swarm = p.plan.steps.iter().any(|s| s.action.is_swarm());
        if let Job::Rollout(r) = &p.job {
            ids.extend(r.replicas.iter().map(String::as_str));
            swarm |= r.swarm_id.is_some();
        }
        if swarm {
            p.host = self.hosts.manager().ok_or_else(|| {
                format!(
                    "{}: no Swarm manager among the hosts answers now",
                    p.plan.title
                )
            })?;
            return Ok(p);
        }
        let hosts: std::collections::BTreeSet<HostId> = ids
            .iter()
            .filter_map(|id| self.fleet.replicas.get(*id))
            .map(|r| r.host)
            .collect();
        match hosts.iter().collect::<Vec<_>>()[..] {
            [] => {}
            [one] => p.host = *one,
            [..] => {
                let names: Vec<&str> = hosts.iter().map(|h| self.hosts.name(*h)).collect();
                return Err(format!(
                    "{} runs on hosts {}: an operation acts on one host; focus one with :host NAME",
                    p.plan.target,
                    names.join(", ")
                ));
            }
        }
        if self.hosts.get(p.host).read_only {
            return Err(format!(
                "read-only: {} is read-only in the config, so nothing can be changed there",
                self.hosts.name(p.host)
            ));
        }
        Ok(p)
    }

    /// The keys that start an operation on the selection: scale and
    /// resize open the command line with the current values to edit;
    /// restart, stop and start go straight to the plan.
    pub fn operation_key(&mut self, kind: Kind) {
        if self.views.view == super::views::View::Nodes {
            return self.node_key(kind);
        }
        if self.views.view != super::views::View::Fleet {
            self.flash =
                Some("pick a target in Layers or Teams (Tab), or type :scale, :update …".into());
            return;
        }
        let Some(target) = self.selection_target() else {
            self.flash = Some("nothing selected".into());
            return;
        };
        match kind {
            Kind::Scale => match self.one_service(&target, "scale") {
                Ok(s) => {
                    let now = self
                        .fleet
                        .swarm_services()
                        .iter()
                        .find(|x| x.name == s.name)
                        .and_then(|x| x.replicas)
                        .unwrap_or(plan::replicas_of_service(&self.fleet, &s).len() as u64);
                    self.prompt.open(format!("scale service:{} {now}", s.name));
                }
                Err(e) => self.flash = Some(format!("{e} (Enter, then s on the service)")),
            },
            Kind::Resize => {
                let first = target
                    .replicas
                    .first()
                    .and_then(|id| self.fleet.replicas.get(id));
                let current = first
                    .map(|r| {
                        format!(
                            " cpus={} memory={}",
                            units::cpus_text(r.limits.nano_cpus.unwrap_or(0)),
                            units::bytes_text(r.limits.memory.unwrap_or(0))
                        )
                    })
                    .unwrap_or_default();
                let spec = target.label.replacen(' ', ":", 1);
                self.prompt.open(format!("update {spec}{current}"));
            }
            Kind::Undo => {
                let key = self
                    .ops
                    .undo
                    .contains_key(&target.label)
                    .then(|| target.label.clone())
                    .or_else(|| self.ops.last_undo.clone());
                let plan = key
                    .and_then(|k| self.ops.undo.get(&k))
                    .ok_or_else(|| "nothing to undo: no scale or resize finished here".to_string())
                    .and_then(|spec| plan::undo(&self.fleet, spec));
                self.propose(plan);
            }
            other => {
                let plan = plan::lifecycle(&self.fleet, &target, other);
                self.propose(plan);
            }
        }
    }

    /// `:scale`, `:update`, `:restart`, `:stop`, `:start`, `:undo`.
    /// Returns false if `word` is not an operation command.
    pub fn operation_command(&mut self, word: &str, rest: &str) -> bool {
        let args: Vec<&str> = rest.split_whitespace().collect();
        let plan = match word {
            "scale" => match args.as_slice() {
                [target, n] => match n.parse::<u64>() {
                    Ok(n) if n <= 1000 => self
                        .resolve_target(target)
                        .and_then(|t| self.one_service(&t, "scale"))
                        .and_then(|s| plan::scale(&self.fleet, &s, n)),
                    _ => Err(format!("{n:?}: give a number of replicas from 0 to 1000")),
                },
                _ => Err("usage: :scale SERVICE|TEAM N".into()),
            },
            "update" | "resize" => match args.split_first() {
                Some((target, limits)) if !limits.is_empty() => {
                    self.resolve_target(target).and_then(|t| {
                        let change = units::parse_change(
                            limits,
                            self.daemon().ncpu,
                            self.daemon().mem_total,
                        )?;
                        plan::resize(&self.fleet, &t, &change, Kind::Resize)
                    })
                }
                _ => Err(
                    "usage: :update TARGET cpus=C memory=M [swap=S] [reservation=R] [pids=P]"
                        .into(),
                ),
            },
            "restart" | "stop" | "start" => {
                let kind = match word {
                    "restart" => Kind::Restart,
                    "stop" => Kind::Stop,
                    _ => Kind::Start,
                };
                match args.as_slice() {
                    [target] => self
                        .resolve_target(target)
                        .and_then(|t| plan::lifecycle(&self.fleet, &t, kind)),
                    _ => Err(format!("usage: :{word} TARGET")),
                }
            }
            "profile" => match args.as_slice() {
                [name] => self.profile_plan(name),
                _ => Err(format!(
                    "usage: :profile NAME ({})",
                    self.fleet
                        .topology
                        .profiles
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            "drain" | "pause-node" | "activate" | "label-node" | "unlabel-node" | "promote"
            | "demote" => self.node_plan(word, &args),
            "undo" => {
                let key = match args.as_slice() {
                    [] => self.ops.last_undo.clone(),
                    [node] if self.ops.undo.contains_key(&crate::ops::node::target(node)) => {
                        Some(crate::ops::node::target(node))
                    }
                    [target] => self.resolve_target(target).ok().map(|t| t.label),
                    _ => None,
                };
                key.and_then(|k| self.ops.undo.get(&k))
                    .ok_or_else(|| "nothing to undo there".to_string())
                    .and_then(|spec| plan::undo(&self.fleet, spec))
            }
            _ => return false,
        };
        self.propose(plan);
        true
    }

    /// `:drain NODE` and the other node commands: the plan of one change.
    fn node_plan(&self, word: &str, args: &[&str]) -> Result<Plan, String> {
        use crate::ops::node::{self, NodeChange};
        let usage = || {
            let c = crate::commands::COMMANDS
                .iter()
                .find(|c| c.name == word)
                .map_or("NODE", |c| c.args);
            format!("usage: :{word} {c}")
        };
        let (name, rest) = args.split_first().ok_or_else(usage)?;
        let change = match (word, rest) {
            ("drain", []) => NodeChange::Availability("drain".into()),
            ("pause-node", []) => NodeChange::Availability("pause".into()),
            ("activate", []) => NodeChange::Availability("active".into()),
            ("promote", []) => NodeChange::Role(crate::model::SwarmRole::Manager),
            ("demote", []) => NodeChange::Role(crate::model::SwarmRole::Worker),
            ("label-node", [kv]) => match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => NodeChange::Label {
                    key: k.into(),
                    value: Some(v.into()),
                },
                _ => return Err(usage()),
            },
            ("unlabel-node", [k]) => NodeChange::Label {
                key: k.to_string(),
                value: None,
            },
            _ => return Err(usage()),
        };
        node::plan(&self.fleet, node::find(&self.fleet, name)?, change)
    }

    /// X, T and U in the Nodes view: drain, activate or undo the selected node.
    pub(super) fn node_key(&mut self, kind: Kind) {
        let Some(node) = self.fleet.nodes.get(self.views.nodes_selected) else {
            self.flash = Some("no node selected".into());
            return;
        };
        let name = node.hostname.clone();
        // The same commands as typed: `:drain NODE`, `:activate NODE`, `:undo NODE`.
        let word = match kind {
            Kind::Stop => "drain",
            Kind::Start => "activate",
            Kind::Undo => "undo",
            _ => {
                self.flash = Some(
                    "on a node: X drains, T activates, U undoes; :pause-node, :label-node, :promote, :demote"
                        .into(),
                );
                return;
            }
        };
        self.operation_command(word, &name);
    }

    /// `:profile NAME`: every set of the profile, in one operation.
    fn profile_plan(&self, name: &str) -> Result<Plan, String> {
        let profile = self
            .fleet
            .topology
            .profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .fleet
                    .topology
                    .profiles
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                format!("no profile {name:?}; the profiles are {}", names.join(", "))
            })?;
        let mut merged: Option<Plan> = None;
        for (target, words) in &profile.sets {
            let t = self.resolve_target(target)?;
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let change = units::parse_change(&refs, self.daemon().ncpu, self.daemon().mem_total)
                .map_err(|e| format!("profile {name}, {target}: {e}"))?;
            let p = match plan::resize(&self.fleet, &t, &change, Kind::Profile) {
                Ok(p) => p,
                // Already at those limits: nothing for this set.
                Err(e) if e.contains("nothing to change") => continue,
                Err(e) => return Err(e),
            };
            merged = Some(match merged {
                None => p,
                Some(mut m) => {
                    m.steps.extend(p.steps);
                    m.notes.extend(p.notes);
                    m.warnings.extend(p.warnings);
                    m.locks.extend(p.locks);
                    if let (
                        Some(UndoSpec::Resize { containers: a }),
                        Some(UndoSpec::Resize { containers: b }),
                    ) = (&mut m.undo, p.undo)
                    {
                        a.extend(b);
                    }
                    m
                }
            });
        }
        let mut plan =
            merged.ok_or_else(|| format!("profile {name}: every target already has its limits"))?;
        plan.locks.sort();
        plan.locks.dedup();
        plan.title = format!("profile {name}");
        plan.target = format!("profile {name}");
        plan.params = serde_json::json!({ "profile": name, "sets": profile.sets });
        if !profile.description.is_empty() {
            plan.notes.insert(0, profile.description.clone());
        }
        Ok(plan)
    }

    /// A key while the plan dialog is open: what the dialog answers.
    pub fn on_dialog_key(&mut self, action: Option<crate::keymap::Action>, cmds: &mut Vec<Cmd>) {
        use crate::keymap::Action as A;
        let Some(p) = &mut self.ops.pending else {
            return;
        };
        match p.on_action(action) {
            Answer::Confirm => self.confirm(cmds),
            Answer::Cancel => {
                self.ops.pending = None;
                self.flash = Some("cancelled: nothing was changed".into());
            }
            Answer::Warned => {
                self.flash = Some(format!(
                    "this plan has warnings: {} runs it anyway, {} cancels",
                    self.keymap.hint(A::ConfirmAnyway),
                    self.keymap.hint(A::Cancel)
                ))
            }
            Answer::Nothing => {}
        }
    }

    fn confirm(&mut self, cmds: &mut Vec<Cmd>) {
        let Some(Pending {
            plan, job, host, ..
        }) = self.ops.pending.take()
        else {
            return;
        };
        if let Some(why) = self.ops.busy_with(&plan.locks) {
            self.flash = Some(format!("refused: {why}"));
            return;
        }
        self.ops.next_id += 1;
        let id = self.ops.next_id;
        match job {
            Job::Rollout(request) => self.start_rollout(id, host, &plan, *request, cmds),
            Job::Steps => {
                self.ops.list.push(OpView {
                    id,
                    steps: vec![StepState::Pending; plan.steps.len()],
                    plan: plan.clone(),
                    status: Status::Running,
                    summary: String::new(),
                    started: self.now,
                });
                cmds.push(Cmd::RunOp { op: id, host, plan });
            }
        }
    }

    /// Work just ended that changed the deployment: what changed shows up
    /// from events, but ask at once anyway.
    pub(super) fn relist_after_work(&self, cmds: &mut Vec<Cmd>) {
        for host in self.hosts.ids() {
            cmds.push(Cmd::Resync {
                host,
                known: self.known(host),
            });
        }
        cmds.push(Cmd::ListSwarm);
    }

    /// C: cancel the running operation (between steps).
    pub fn cancel_operation(&mut self, cmds: &mut Vec<Cmd>) {
        match self.ops.running().last() {
            Some(o) => {
                self.flash = Some(format!(
                    "cancelling #{}: the step under way finishes first",
                    o.id
                ));
                cmds.push(Cmd::CancelOp(o.id));
            }
            None => self.flash = Some("no operation is running".into()),
        }
    }

    /// Progress from the executor.
    pub fn op_progress(&mut self, op: u64, progress: Progress, cmds: &mut Vec<Cmd>) {
        let Some(o) = self.ops.list.iter_mut().find(|o| o.id == op) else {
            return;
        };
        match progress {
            Progress::Step { index, state } => {
                if let Some(s) = o.steps.get_mut(index) {
                    *s = state;
                }
            }
            Progress::Finished { status, summary } => {
                log::info!("#{op} {}: {status:?}: {summary}", o.plan.title);
                o.status = status;
                o.summary = summary;
                if o.steps.iter().any(StepState::took_effect)
                    && let Some(spec) = o.plan.undo.clone()
                {
                    self.ops.undo.insert(o.plan.target.clone(), spec);
                    self.ops.last_undo = Some(o.plan.target.clone());
                }
                self.relist_after_work(cmds);
            }
        }
        self.dirty = true;
    }
}
