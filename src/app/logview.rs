//! The app's side of the logs pane: what to follow (a replica, a service,
//! a team, a layer), picking up replicas that start later, the keys, and
//! closing (which cancels every stream).

use crate::app::views::View;
use crate::app::{App, Cmd};
use crate::keymap::Action;
use crate::logs::{self, LogLine, Logs};
use crate::model::HostId;

/// One stream to open: source index, container, how much history.
#[derive(Clone, Debug, PartialEq)]
pub struct Follow {
    pub source: usize,
    pub host: HostId,
    pub id: String,
    /// Lines of history (None: all since `since`).
    pub tail: Option<usize>,
    /// Unix seconds; 0 for no lower bound.
    pub since: i32,
}

impl App {
    /// Open the logs pane on a target (`service:web`, `team:product`, …).
    pub fn open_logs(&mut self, spec: &str, cmds: &mut Vec<Cmd>) {
        let target = match self.resolve_target(spec) {
            Ok(t) => t,
            Err(e) => {
                self.flash = Some(e);
                return;
            }
        };
        if let Some(old) = self.logs.take() {
            cmds.push(Cmd::StopLogs(old.0));
        }
        self.log_panes += 1;
        let pane = self.log_panes;
        let title = target.label.clone();
        let mut l = Logs::new(title, spec.to_string(), self.log_cap);
        let mut follows = Vec::new();
        let mut reps: Vec<_> = target
            .replicas
            .iter()
            .filter_map(|id| self.fleet.replicas.get(id))
            .collect();
        reps.sort_by(|a, b| a.name.cmp(&b.name));
        for r in reps {
            let source = l.source(&r.id, &logs::short_name(&r.name, &r.placement.service.name));
            follows.push(Follow {
                source,
                host: r.host,
                id: r.id.clone(),
                tail: Some(logs::TAIL),
                since: 0,
            });
        }
        if follows.is_empty() {
            self.flash = Some(format!("{} has no replica to read logs from", target.label));
            return;
        }
        self.logs = Some((pane, l));
        self.views.view = View::Logs;
        cmds.push(Cmd::FollowLogs { pane, follows });
    }

    /// `l`: the logs of what is selected, wherever the selection is.
    pub fn logs_key(&mut self, cmds: &mut Vec<Cmd>) {
        let spec = match self.views.view {
            View::Events => self
                .event_lines()
                .get(self.views.events_selected)
                .and_then(|l| l.id.clone())
                .and_then(|id| self.fleet.replicas.get(&id))
                .map(|r| format!("replica:{}", r.name)),
            View::Networks => self.views.network_open.clone().and_then(|net| {
                self.attached(&net)
                    .get(self.views.networks_selected)
                    .map(|r| format!("replica:{}", r.name))
            }),
            View::Logs | View::Nodes => return,
            View::Audit => self.selected_finding().and_then(|f| match &f.object {
                crate::audit::Object::Container { name, .. } => Some(format!("replica:{name}")),
                crate::audit::Object::Service { name } => Some(format!("service:{name}")),
                _ => None,
            }),
            View::Rollouts => match self.rollout_rows().get(self.ops.rollouts_selected) {
                Some(crate::app::rollouts::Row::Pair(p)) => Some(format!("service:{}", p.name)),
                Some(crate::app::rollouts::Row::Interrupted(i)) => self
                    .ops
                    .interrupted
                    .get(*i)
                    .map(|r| format!("service:{}", r.service())),
                Some(crate::app::rollouts::Row::Rollout(i)) => self
                    .ops
                    .rollouts
                    .get(*i)
                    .map(|r| format!("service:{}", r.service.name)),
                None => None,
            },
            View::Fleet => self
                .selection_target()
                .map(|t| t.label.replacen(' ', ":", 1)),
        };
        match spec {
            Some(spec) => self.open_logs(&spec, cmds),
            None => self.flash = Some("select a replica, service, team or layer first".into()),
        }
    }

    /// Replicas of the followed target that run but are not followed
    /// (started later, or restarted): follow them from their start.
    pub fn logs_pickup(&mut self, cmds: &mut Vec<Cmd>) {
        let Some((pane, l)) = &self.logs else { return };
        let Ok(target) = self.resolve_target(&l.target) else {
            return;
        };
        let pane = *pane;
        let mut fresh = Vec::new();
        for id in &target.replicas {
            let Some(r) = self.fleet.replicas.get(id).filter(|r| r.is_running()) else {
                continue;
            };
            let known = l.sources.iter().position(|s| &s.id == id);
            if known.is_some_and(|i| l.sources[i].open) {
                continue;
            }
            let since = r.started_at.map(|t| t.timestamp() as i32).unwrap_or(0);
            fresh.push((
                r.host,
                r.id.clone(),
                logs::short_name(&r.name, &r.placement.service.name),
                since,
                known.is_none(),
                r.name.clone(),
            ));
        }
        if fresh.is_empty() {
            return;
        }
        let (_, l) = self.logs.as_mut().expect("checked above");
        let mut follows = Vec::new();
        for (host, id, short, since, new, name) in fresh {
            let source = l.source(&id, &short);
            l.push(LogLine {
                at: self.now,
                source,
                stderr: false,
                text: if new {
                    format!("── {name} joined ──")
                } else {
                    format!("── {name} running again ──")
                },
                marker: true,
            });
            follows.push(Follow {
                source,
                host,
                id,
                tail: None,
                since,
            });
        }
        cmds.push(Cmd::FollowLogs { pane, follows });
    }

    pub fn close_logs(&mut self, cmds: &mut Vec<Cmd>) {
        if let Some((pane, _)) = self.logs.take() {
            cmds.push(Cmd::StopLogs(pane));
        }
        self.views.view = View::Fleet;
    }

    /// `:filter REGEX`, `:search REGEX` in the logs pane.
    pub fn logs_command(&mut self, word: &str, rest: &str) -> bool {
        let Some((_, l)) = self.logs.as_mut() else {
            return false;
        };
        let result = match word {
            "filter" => l.set_filter(rest.trim()),
            "search" => l.set_search(rest.trim()),
            _ => return false,
        };
        if let Err(e) = result {
            self.flash = Some(e);
        }
        true
    }

    /// Keys of the logs pane; false if not its.
    pub fn on_logs_key(&mut self, action: Option<Action>, cmds: &mut Vec<Cmd>) -> bool {
        if self.views.view != View::Logs {
            return false;
        }
        // The lines the view shows: its box inside the borders.
        let page = self
            .screen()
            .map_or(1, |s| (s.main.height as usize).saturating_sub(2).max(1));
        let Some((_, l)) = self.logs.as_mut() else {
            if action == Some(Action::Back) {
                self.views.view = View::Fleet;
                return true;
            }
            return false;
        };
        match action {
            Some(Action::LogTimestamps) => l.timestamps = !l.timestamps,
            Some(Action::LogWrap) => l.wrap = !l.wrap,
            Some(Action::LogPause) => {
                l.paused = !l.paused;
                if !l.paused {
                    l.scroll = 0;
                }
            }
            Some(Action::LogFilter) => {
                let now = l
                    .filter
                    .as_ref()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default();
                self.prompt.open(format!("filter {now}"));
            }
            Some(Action::LogSearch) => self.prompt.open("search "),
            Some(Action::LogNext) => l.jump(false),
            Some(Action::LogPrev) => l.jump(true),
            Some(Action::LogSave) => {
                let name: String = l
                    .target
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let path = crate::dirs::state().join(format!(
                    "logs-{name}-{}.log",
                    self.now.format("%Y%m%dT%H%M%S")
                ));
                // The runtime writes it: `update` does no file I/O.
                let (text, lines) = l.shown_text();
                cmds.push(Cmd::SaveLogs { path, text, lines });
            }
            Some(Action::Up) => {
                l.scroll += 1;
                l.paused = true;
            }
            Some(Action::Down) => l.scroll = l.scroll.saturating_sub(1),
            Some(Action::PageUp) => {
                l.scroll += page;
                l.paused = true;
            }
            Some(Action::PageDown) => l.scroll = l.scroll.saturating_sub(page),
            Some(Action::Top) => {
                l.scroll = l.lines.len();
                l.paused = true;
            }
            Some(Action::Bottom) => {
                l.scroll = 0;
                l.paused = false;
            }
            Some(Action::Back) => self.close_logs(cmds),
            // What works everywhere still does; the table's keys do not.
            Some(
                Action::Quit
                | Action::Help
                | Action::NextPane
                | Action::PrevPane
                | Action::ToggleLog
                | Action::ToggleEngine
                | Action::ToggleJournal
                | Action::Command
                | Action::AckAlerts
                | Action::CancelOp,
            ) => return false,
            _ => {}
        }
        true
    }
}
