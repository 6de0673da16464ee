//! Every action of the program and the contexts keys are bound in.

/// Every action of the program: its name in keymap files (snake case of
/// the variant unless `serialize` says otherwise) and what the help says
/// of it (`message`), in one place.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::EnumIter,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumMessage,
)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    #[strum(message = "quit agile-deck")]
    Quit,
    #[strum(message = "show or hide this help")]
    Help,
    #[strum(message = "next tab")]
    NextPane,
    #[strum(message = "previous tab")]
    PrevPane,
    #[strum(message = "show or hide the program's own log")]
    ToggleLog,
    #[strum(message = "show or hide the stats engine and its cost")]
    ToggleEngine,
    #[strum(message = "command line (the commands are listed below)")]
    Command,
    #[strum(serialize = "promql", message = "ad-hoc PromQL query")]
    PromQL,
    #[strum(message = "scale the selected service (plan, then confirm)")]
    Scale,
    #[strum(message = "resize: cpus, memory, swap, pids (plan, then confirm)")]
    Resize,
    #[strum(message = "restart the selection's replicas (plan, then confirm)")]
    Restart,
    #[strum(
        serialize = "stop",
        message = "stop the selection's replicas (plan, then confirm)"
    )]
    StopOp,
    #[strum(
        serialize = "start",
        message = "start the selection's stopped replicas"
    )]
    StartOp,
    #[strum(message = "undo the last scale or resize of the selection")]
    Undo,
    #[strum(message = "cancel the running operation (between steps)")]
    CancelOp,
    #[strum(message = "show or hide the audit journal")]
    ToggleJournal,
    #[strum(
        serialize = "apply_advice",
        message = "scale as advised by the scaling policy (plan, then confirm)"
    )]
    Advise,
    #[strum(message = "acknowledge the alerts in the header")]
    AckAlerts,
    #[strum(message = "look one minute further back in the recorded history (:at)")]
    StepBack,
    #[strum(message = "one minute forward in the recorded history; reaching now returns")]
    StepForward,
    #[strum(message = "follow the logs of the selection (its keys: in the logs pane, below)")]
    FollowLogs,
    #[strum(message = "a shell in the selected replica (:exec REPLICA [COMMAND])")]
    Exec,
    #[strum(message = "filter rows: name regex, layer=data, team!=qa, host=NAME, unhealthy")]
    Filter,
    #[strum(
        serialize = "sort",
        message = "order by the next column: name, services, running, health, cpu, memory, net, block, pids (:sort COLUMN)"
    )]
    SortNext,
    #[strum(message = "reverse the order")]
    SortReverse,
    #[strum(message = "move up")]
    Up,
    #[strum(message = "move down")]
    Down,
    #[strum(message = "page up")]
    PageUp,
    #[strum(message = "page down")]
    PageDown,
    #[strum(message = "first row")]
    Top,
    #[strum(message = "last row")]
    Bottom,
    #[strum(message = "drill down: layer → services → replicas")]
    Enter,
    #[strum(message = "go back up / close overlay")]
    Back,
    #[strum(message = "roll a new image over the selected service (:rollout, plan, then confirm)")]
    Rollout,
    #[strum(
        serialize = "pause_rollout",
        message = "pause the selected rollout after its batch"
    )]
    RolloutPause,
    #[strum(
        serialize = "resume_rollout",
        message = "resume the selected paused rollout"
    )]
    RolloutResume,
    #[strum(
        serialize = "rollback",
        message = "roll the selected rollout back to the old image"
    )]
    RolloutBack,
    #[strum(
        serialize = "abort_rollout",
        message = "abort the selected rollout: failed replicas go back, the rest stay"
    )]
    RolloutAbort,
    #[strum(
        serialize = "switch_colour",
        message = "blue-green: make the other colour live (plan, then confirm)"
    )]
    Switch,
    #[strum(
        serialize = "retire_colour",
        message = "blue-green: stop the colour that is not live"
    )]
    Retire,
    #[strum(message = "show or hide timestamps")]
    LogTimestamps,
    #[strum(message = "wrap long lines or cut them")]
    LogWrap,
    #[strum(message = "pause (lines keep coming in) or follow again")]
    LogPause,
    #[strum(message = "keep only lines matching a regex")]
    LogFilter,
    #[strum(message = "search (regex)")]
    LogSearch,
    #[strum(message = "next match")]
    LogNext,
    #[strum(message = "previous match")]
    LogPrev,
    #[strum(message = "save the lines shown to a file")]
    LogSave,
    #[strum(
        serialize = "fix_finding",
        message = "turn the selected finding's fix into a plan (preview, confirm, journal, undo)"
    )]
    FixFinding,
    #[strum(message = "run the plan")]
    Confirm,
    #[strum(message = "run a plan that has warnings")]
    ConfirmAnyway,
    #[strum(message = "drop the plan: nothing changes")]
    Cancel,
}

impl Action {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn describe(self) -> &'static str {
        strum::EnumMessage::get_message(&self).unwrap_or_default()
    }

    /// Whether the action changes the deployment: refused in read-only
    /// mode, marked in the help.
    pub fn changes(self) -> bool {
        matches!(
            self,
            Action::Scale
                | Action::Resize
                | Action::Restart
                | Action::StopOp
                | Action::StartOp
                | Action::Undo
                | Action::Exec
                | Action::RolloutPause
                | Action::RolloutResume
                | Action::RolloutBack
                | Action::Retire
                | Action::Confirm
                | Action::ConfirmAnyway
                | Action::Advise
                | Action::Rollout
                | Action::RolloutAbort
                | Action::Switch
                | Action::FixFinding
        )
    }

    /// Where a move takes a selection among `n` rows, `page` at a time
    /// (None: not a move). Every list moves by this.
    pub fn moved(self, at: usize, n: usize, page: usize) -> Option<usize> {
        let last = n.saturating_sub(1);
        Some(match self {
            Action::Up => at.saturating_sub(1),
            Action::Down => (at + 1).min(last),
            Action::PageUp => at.saturating_sub(page),
            Action::PageDown => (at + page).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => return None,
        })
    }

    pub(super) fn from_name(name: &str) -> Option<Action> {
        name.parse().ok()
    }
}

/// Where a binding applies. A context's own bindings win over those of
/// the contexts it falls back to (`chain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    Global,
    /// Every table: the fleet's panes and every view's list.
    Table,
    /// The Events view (over [table]).
    Events,
    /// The Networks view (over [table]).
    Networks,
    /// The Rollouts view.
    Rollouts,
    /// The Audit view.
    Audit,
    /// The logs pane.
    Logs,
    /// The plan waiting for a yes or no.
    Dialog,
}

impl Context {
    pub const ALL: [Context; 8] = [
        Context::Global,
        Context::Table,
        Context::Events,
        Context::Networks,
        Context::Rollouts,
        Context::Audit,
        Context::Logs,
        Context::Dialog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Table => "table",
            Context::Events => "events",
            Context::Networks => "networks",
            Context::Rollouts => "rollouts",
            Context::Audit => "audit",
            Context::Logs => "logs",
            Context::Dialog => "dialog",
        }
    }

    /// Where a key is looked up, in order. A dialog takes no global key
    /// (q must not quit under a plan), only the table's moves to scroll.
    pub fn chain(self) -> &'static [Context] {
        match self {
            Context::Global => &[Context::Global],
            Context::Table => &[Context::Table, Context::Global],
            Context::Events => &[Context::Events, Context::Table, Context::Global],
            Context::Networks => &[Context::Networks, Context::Table, Context::Global],
            Context::Rollouts => &[Context::Rollouts, Context::Table, Context::Global],
            Context::Audit => &[Context::Audit, Context::Table, Context::Global],
            Context::Logs => &[Context::Logs, Context::Table, Context::Global],
            Context::Dialog => &[Context::Dialog, Context::Table],
        }
    }
}
