//! Operations: every change agile-deck makes to a deployment. An action on
//! a selection becomes a `Plan` (the target, each step, the docker CLI
//! equivalent), shown and confirmed before anything runs; a `Machine` then
//! walks the steps, deciding from what each step observed whether to go
//! on, skip or stop, so it always stops in a known state; `exec` runs the
//! steps against Docker and journals each one.

pub mod clone;
pub mod exec;
pub mod node;
pub mod pair;
pub mod plan;
pub mod steps;

use crate::journal::Outcome;
use bollard::models::RestartPolicyNameEnum;
use serde_json::Value;

use crate::units::Resources;

/// What an operation does, for the journal, undo and conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Scale,
    Resize,
    Profile,
    Restart,
    Stop,
    Start,
    Undo,
    /// Blue-green: move the alias to the other colour.
    Switch,
    /// Blue-green: stop the colour that is not live.
    Retire,
    /// A rolling update or canary (run by `rollout`, journalled the same way).
    Rollout,
    /// A Swarm node's availability, role or labels.
    Node,
    /// Take a container off a network (a zone it must not join).
    Disconnect,
    /// Set a container's restart policy.
    RestartPolicy,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Scale => "scale",
            Kind::Resize => "resize",
            Kind::Profile => "profile",
            Kind::Restart => "restart",
            Kind::Stop => "stop",
            Kind::Start => "start",
            Kind::Undo => "undo",
            Kind::Switch => "switch",
            Kind::Retire => "retire",
            Kind::Rollout => "rollout",
            Kind::Node => "node",
            Kind::Disconnect => "disconnect",
            Kind::RestartPolicy => "restart-policy",
        }
    }
}

/// One Docker change.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create `name` from `source`'s configuration (image, command, env,
    /// labels, health check, limits, restart policy, networks and their
    /// aliases; not hostname, IPs or MACs), numbered `number`, and start it.
    Clone {
        source: String,
        name: String,
        number: u64,
        /// Label filters (`key=value`) that find the service's replicas
        /// now: if `source` is gone by then, another running one is
        /// copied instead of failing on the remembered id.
        siblings: Vec<String>,
    },
    /// Stop gracefully (`timeout` seconds), then remove.
    StopRemove {
        id: String,
        name: String,
        timeout: i64,
    },
    Update {
        id: String,
        name: String,
        change: Resources,
    },
    Restart {
        id: String,
        name: String,
        timeout: i64,
    },
    Stop {
        id: String,
        name: String,
        timeout: i64,
    },
    Start {
        id: String,
        name: String,
    },
    /// Set a Swarm service's `Replicas` (with its current version index).
    SwarmScale {
        service: String,
        replicas: u64,
    },
    /// Set a Swarm service's task resources (rolls its tasks).
    SwarmResources {
        service: String,
        change: Resources,
    },
    /// Wait until the service runs `replicas` tasks (or give up).
    WaitTasks {
        service: String,
        replicas: u64,
    },
    /// A batch of a rollout, shown in its plan; carried out by the
    /// rollout's driver (`rollout::compose`, `rollout::swarm`), never here.
    Batch,
    /// Change a Swarm node (found again by id, else hostname).
    NodeUpdate {
        node: String,
        hostname: String,
        change: node::NodeChange,
    },
    /// Set a container's restart policy (`docker update --restart`).
    SetRestart {
        id: String,
        name: String,
        policy: RestartPolicyNameEnum,
    },
    /// Take a container off `network`.
    Disconnect {
        id: String,
        name: String,
        network: String,
    },
    /// Reconnect a container to `network` with exactly these aliases.
    Alias {
        id: String,
        name: String,
        network: String,
        aliases: Vec<String>,
    },
}

impl Action {
    /// The container it acts on (a clone: the one it copies), if any.
    pub fn container(&self) -> Option<&str> {
        match self {
            Action::Clone { source, .. } => Some(source),
            Action::StopRemove { id, .. }
            | Action::Update { id, .. }
            | Action::Restart { id, .. }
            | Action::Stop { id, .. }
            | Action::Start { id, .. }
            | Action::Alias { id, .. }
            | Action::Disconnect { id, .. }
            | Action::SetRestart { id, .. } => Some(id),
            Action::SwarmScale { .. }
            | Action::SwarmResources { .. }
            | Action::WaitTasks { .. }
            | Action::NodeUpdate { .. }
            | Action::Batch => None,
        }
    }

    /// It goes to a Swarm manager.
    pub fn is_swarm(&self) -> bool {
        matches!(
            self,
            Action::SwarmScale { .. }
                | Action::SwarmResources { .. }
                | Action::WaitTasks { .. }
                | Action::NodeUpdate { .. }
        )
    }
}

/// A step: what it does in words, the docker CLI equivalent, the action,
/// and the values before and after (journalled).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub what: String,
    pub cli: String,
    pub action: Action,
    pub before: Value,
    pub after: Value,
}

/// What restores the before-values of a finished scale or resize.
#[derive(Clone, Debug, PartialEq)]
pub enum UndoSpec {
    /// Scale this service back to `replicas`.
    Scale { service: String, replicas: u64 },
    /// Put these containers' limits back.
    Resize {
        containers: Vec<(String, String, Resources)>,
    },
    /// Put a node's availability, role or label back.
    Node {
        node: String,
        change: node::NodeChange,
    },
    /// Give a container (found again by name) its restart policy back.
    RestartPolicy {
        name: String,
        policy: RestartPolicyNameEnum,
    },
    /// Connect a container (found again by name) to `network` again,
    /// with the aliases it had.
    Reconnect {
        name: String,
        network: String,
        aliases: Vec<String>,
    },
}

/// An operation as shown before it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub kind: Kind,
    /// e.g. "scale development-team 8 → 10".
    pub title: String,
    /// e.g. "service development-team (compose)".
    pub target: String,
    /// Services it changes: two operations sharing one are refused.
    pub locks: Vec<String>,
    /// What was asked, for the journal.
    pub params: Value,
    pub steps: Vec<Step>,
    /// How Docker's rules were handled, said in the plan.
    pub notes: Vec<String>,
    /// Risks the user must override (Y) to run.
    pub warnings: Vec<String>,
    /// Recorded when it finishes: how to undo it.
    pub undo: Option<UndoSpec>,
}

/// Why a step failed, in the terms the machine decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The container or service is not there (removed by someone else).
    Gone,
    /// A name or state conflict.
    Conflict,
    /// Docker refused the values.
    Invalid,
    /// The daemon did not answer.
    Unreachable,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub failure: Failure,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done(String),
    /// Nothing to do any more (say why): counts as done.
    Skipped(String),
    Failed(String),
    /// Not run: the operation stopped before it.
    NotRun,
}

impl StepState {
    pub fn symbol(&self) -> &'static str {
        match self {
            StepState::Pending | StepState::NotRun => "·",
            StepState::Running => "▶",
            StepState::Done(_) => "✔",
            StepState::Skipped(_) => "↷",
            StepState::Failed(_) => "✖",
        }
    }

    pub fn took_effect(&self) -> bool {
        matches!(self, StepState::Done(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    Done,
    Failed(String),
    Cancelled,
}

impl Status {
    pub fn finished(&self) -> bool {
        *self != Status::Running
    }

    /// The journal's word for it, and the error to record with it.
    pub fn outcome(&self) -> (Outcome, String) {
        match self {
            Status::Done => (Outcome::Done, String::new()),
            Status::Cancelled => (Outcome::Cancelled, String::new()),
            Status::Failed(why) => (Outcome::Failed, why.clone()),
            Status::Running => (Outcome::Running, String::new()),
        }
    }
}

/// Walks a plan's steps. It decides; it does not touch Docker.
#[derive(Clone, Debug)]
pub struct Machine {
    pub plan: Plan,
    pub steps: Vec<StepState>,
    next: usize,
    cancel: bool,
    pub status: Status,
}

impl Machine {
    pub fn new(plan: Plan) -> Machine {
        let n = plan.steps.len();
        Machine {
            plan,
            steps: vec![StepState::Pending; n],
            next: 0,
            cancel: false,
            status: if n == 0 {
                Status::Done
            } else {
                Status::Running
            },
        }
    }

    /// Stop between steps: the one running finishes, no other starts.
    pub fn cancel(&mut self) {
        self.cancel = true;
    }

    /// The next step to run (marked running), or None when finished.
    pub fn next_step(&mut self) -> Option<(usize, Action)> {
        if self.status.finished() {
            return None;
        }
        if self.cancel {
            self.stop(Status::Cancelled);
            return None;
        }
        let i = self.next;
        if i >= self.steps.len() {
            self.status = Status::Done;
            return None;
        }
        self.steps[i] = StepState::Running;
        Some((i, self.plan.steps[i].action.clone()))
    }

    /// What step `i` observed; decides how to go on.
    pub fn observe(&mut self, i: usize, result: Result<String, StepError>) {
        let action = &self.plan.steps[i].action;
        self.steps[i] = match result {
            Ok(detail) => StepState::Done(detail),
            // Someone else removed it: stopping, removing or resizing it is
            // moot, and the others still get theirs.
            Err(StepError {
                failure: Failure::Gone,
                ..
            }) if matches!(
                action,
                Action::StopRemove { .. }
                    | Action::Stop { .. }
                    | Action::Update { .. }
                    | Action::Disconnect { .. }
                    | Action::SetRestart { .. }
            ) =>
            {
                StepState::Skipped("gone already (removed by someone else)".into())
            }
            Err(e) => {
                self.steps[i] = StepState::Failed(e.message.clone());
                let name = &self.plan.steps[i].what;
                self.stop(Status::Failed(format!("{name}: {}", e.message)));
                return;
            }
        };
        self.next = i + 1;
        if self.next >= self.steps.len() {
            self.status = Status::Done;
        }
    }

    fn stop(&mut self, status: Status) {
        for s in &mut self.steps {
            if *s == StepState::Pending {
                *s = StepState::NotRun;
            }
        }
        self.status = status;
    }

    /// "3 of 5 steps took effect; not run: …" for the result line.
    pub fn summary(&self) -> String {
        let took = self.steps.iter().filter(|s| s.took_effect()).count();
        let skipped = self
            .steps
            .iter()
            .filter(|s| matches!(s, StepState::Skipped(_)))
            .count();
        let not_run: Vec<&str> = self
            .steps
            .iter()
            .zip(&self.plan.steps)
            .filter(|(s, _)| matches!(s, StepState::NotRun | StepState::Failed(_)))
            .map(|(_, step)| step.what.as_str())
            .collect();
        let mut out = format!("{took} of {} steps took effect", self.steps.len());
        if skipped > 0 {
            out += &format!(", {skipped} skipped");
        }
        if !not_run.is_empty() {
            out += &format!("; not done: {}", not_run.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: Action) -> Step {
        Step {
            what: format!("{action:?}").chars().take(12).collect(),
            cli: String::new(),
            action,
            before: Value::Null,
            after: Value::Null,
        }
    }

    fn plan(actions: Vec<Action>) -> Plan {
        Plan {
            kind: Kind::Scale,
            title: "t".into(),
            target: "s".into(),
            locks: vec!["s".into()],
            params: Value::Null,
            steps: actions.into_iter().map(step).collect(),
            notes: vec![],
            warnings: vec![],
            undo: None,
        }
    }

    fn remove(n: u32) -> Action {
        Action::StopRemove {
            id: format!("id{n}"),
            name: format!("s-{n}"),
            timeout: 10,
        }
    }

    fn err(failure: Failure) -> Result<String, StepError> {
        Err(StepError {
            failure,
            message: "boom".into(),
        })
    }

    #[test]
    fn steps_run_in_order_to_done() {
        let mut m = Machine::new(plan(vec![remove(3), remove(2)]));
        let (i, a) = m.next_step().unwrap();
        assert_eq!((i, a), (0, remove(3)));
        assert_eq!(m.steps[0], StepState::Running);
        m.observe(0, Ok("removed".into()));
        let (i, _) = m.next_step().unwrap();
        m.observe(i, Ok("removed".into()));
        assert_eq!(m.next_step(), None);
        assert_eq!(m.status, Status::Done);
        assert_eq!(m.summary(), "2 of 2 steps took effect");
    }

    #[test]
    fn a_replica_removed_by_someone_else_is_skipped() {
        let mut m = Machine::new(plan(vec![remove(3), remove(2)]));
        let (i, _) = m.next_step().unwrap();
        m.observe(i, err(Failure::Gone));
        assert!(matches!(m.steps[0], StepState::Skipped(_)));
        let (i, _) = m.next_step().unwrap();
        m.observe(i, Ok("removed".into()));
        assert_eq!(m.status, Status::Done);
        assert_eq!(m.summary(), "1 of 2 steps took effect, 1 skipped");
    }

    #[test]
    fn a_failure_stops_in_a_known_state() {
        let clone = |n: u64| Action::Clone {
            source: "id1".into(),
            name: format!("s-{n}"),
            number: n,
            siblings: Vec::new(),
        };
        let mut m = Machine::new(plan(vec![clone(2), clone(3), clone(4)]));
        let (i, _) = m.next_step().unwrap();
        m.observe(i, Ok("created".into()));
        let (i, _) = m.next_step().unwrap();
        // A gone source is no reason to skip a clone: stop.
        m.observe(i, err(Failure::Gone));
        assert_eq!(m.next_step(), None);
        assert!(matches!(&m.status, Status::Failed(w) if w.contains("boom")));
        assert_eq!(
            m.steps,
            vec![
                StepState::Done("created".into()),
                StepState::Failed("boom".into()),
                StepState::NotRun
            ]
        );
        assert!(
            m.summary()
                .starts_with("1 of 3 steps took effect; not done: ")
        );
        // Daemon down mid-way: the same.
        let mut m = Machine::new(plan(vec![remove(2), remove(1)]));
        let (i, _) = m.next_step().unwrap();
        m.observe(i, err(Failure::Unreachable));
        assert!(matches!(m.status, Status::Failed(_)));
        assert_eq!(m.steps[1], StepState::NotRun);
    }

    #[test]
    fn cancel_stops_between_steps() {
        let mut m = Machine::new(plan(vec![remove(3), remove(2), remove(1)]));
        let (i, _) = m.next_step().unwrap();
        m.cancel();
        // The running step finishes and is recorded.
        m.observe(i, Ok("removed".into()));
        assert_eq!(m.next_step(), None);
        assert_eq!(m.status, Status::Cancelled);
        assert_eq!(m.steps[1], StepState::NotRun);
        assert!(
            m.summary()
                .starts_with("1 of 3 steps took effect; not done")
        );
    }

    #[test]
    fn an_empty_plan_is_done() {
        let mut m = Machine::new(plan(vec![]));
        assert_eq!(m.status, Status::Done);
        assert_eq!(m.next_step(), None);
    }
}
