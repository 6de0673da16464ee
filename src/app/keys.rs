//! Keys and the mouse: a key press found in the keymap for the context
//! it was pressed in, and routed to what owns it.

use super::*;

/// Ctrl-c quits from anywhere, overlays included.
fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.code == crossterm::event::KeyCode::Char('c')
        && key
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL)
}

impl App {
    /// A click: on the tabs, switch; on a table row, select it (a second
    /// click on the selected row drills down).
    pub(super) fn click(&mut self, column: u16, row: u16, cmds: &mut Vec<Cmd>) {
        if self.prompt.is_open() || self.ops.pending.is_some() || self.adhoc.is_some() {
            return;
        }
        let Some(screen) = self.screen() else {
            return;
        };
        if row == screen.tabs.y {
            let hit = screen
                .tab_titles
                .iter()
                .position(|(_, cols)| cols.contains(&column));
            if let Some(i) = hit {
                while self.tab_index() != i {
                    self.next_tab(true);
                }
            }
            return;
        }
        // The table scrolls only past a page, so within the first page the
        // row on screen is the index.
        let first = screen.first_table_row();
        if self.views.view != views::View::Fleet || row < first {
            return;
        }
        let i = (row - first) as usize;
        if i >= screen.table_rows() || i >= self.row_count() {
            return;
        }
        if matches!(self.frame().level, Level::Replica { .. }) {
            return;
        }
        if self.frame().selected == i {
            self.drill_down();
            self.ask_prometheus_about_new_rows(cmds);
        } else {
            self.frame_mut().selected = i;
        }
    }

    /// Keys while an ad-hoc answer is shown: what it answers.
    pub(super) fn on_adhoc_key(
        &mut self,
        key: KeyEvent,
        action: Option<Action>,
        cmds: &mut Vec<Cmd>,
    ) {
        let Some(a) = self.adhoc.as_mut() else {
            return;
        };
        match a.on_key(&key, action) {
            AdhocKey::Ask(query) => self.start_adhoc(query, cmds),
            AdhocKey::Edit(text) => self.prompt.open(text),
            AdhocKey::Close => self.adhoc = None,
            AdhocKey::Nothing => {}
        }
    }

    /// The action the keys pressed so far make in `context`. While a
    /// sequence (`g g`) is under way it says so and waits (Err); a key
    /// that continues no sequence starts afresh.
    pub(super) fn press(&mut self, context: Context, key: &KeyEvent) -> Result<Option<Action>, ()> {
        let Some(k) = crate::keymap::Key::from_event(key) else {
            self.pending_keys.clear();
            return Ok(None);
        };
        self.pending_keys.push(k);
        let mut found = self.keymap.lookup(context, &self.pending_keys);
        if found == Lookup::None && self.pending_keys.len() > 1 {
            self.pending_keys = vec![k];
            found = self.keymap.lookup(context, &self.pending_keys);
        }
        match found {
            Lookup::Prefix => {
                self.flash = Some(format!(
                    "{} …",
                    crate::keymap::Keys(self.pending_keys.clone())
                ));
                Err(())
            }
            Lookup::Action(a) => {
                self.pending_keys.clear();
                Ok(Some(a))
            }
            Lookup::None => {
                self.pending_keys.clear();
                Ok(None)
            }
        }
    }

    pub(super) fn on_key(&mut self, key: KeyEvent, cmds: &mut Vec<Cmd>) {
        self.flash = None;
        if self.prompt.is_open() && self.ops.pending.is_none() {
            return match self.prompt.on_key(key) {
                prompt::Typed::Run(line) => self.run_command(&line, cmds),
                prompt::Typed::Complete => self.complete_prompt(),
                prompt::Typed::Nothing => {}
            };
        }
        let context = if self.ops.pending.is_some() {
            Context::Dialog
        } else if self.views.view == views::View::Logs && self.logs.is_some() {
            Context::Logs
        } else {
            match self.views.view {
                views::View::Rollouts => Context::Rollouts,
                views::View::Audit => Context::Audit,
                views::View::Events => Context::Events,
                views::View::Networks => Context::Networks,
                _ => Context::Table,
            }
        };
        let Ok(action) = self.press(context, &key) else {
            return;
        };
        if self.ops.pending.is_some() {
            return self.on_dialog_key(action, cmds);
        }
        if self.on_logs_key(action, cmds) {
            return;
        }
        if self.adhoc.is_some() && !is_ctrl_c(&key) {
            return self.on_adhoc_key(key, action, cmds);
        }
        let Some(action) = action else {
            return;
        };
        if self.help.shown() {
            let lines =
                self.keymap.help().len() + Context::ALL.len() + crate::commands::COMMANDS.len() + 4;
            if self.help.on_action(action, is_ctrl_c(&key), lines) {
                self.quit(cmds);
            }
            return;
        }
        if action.changes() && self.refused_read_only() {
            return;
        }
        if self.on_view_key(action) {
            return;
        }
        if self.views.view == views::View::Rollouts && self.on_rollouts_key(action, cmds) {
            return;
        }
        match action {
            Action::Quit => self.quit(cmds),
            Action::Help => self.help.open(),
            Action::ToggleLog => self.show_log = !self.show_log,
            Action::ToggleEngine => self.show_engine = !self.show_engine,
            Action::Command => self.prompt.open(""),
            Action::PromQL => self.prompt.open("promql "),
            Action::Scale => self.operation_key(Kind::Scale),
            Action::Resize => self.operation_key(Kind::Resize),
            Action::Restart => self.operation_key(Kind::Restart),
            Action::StopOp => self.operation_key(Kind::Stop),
            Action::StartOp => self.operation_key(Kind::Start),
            Action::Undo => self.operation_key(Kind::Undo),
            Action::CancelOp => self.cancel_operation(cmds),
            Action::ToggleJournal => self.ops.show_journal = !self.ops.show_journal,
            Action::Advise => self.apply_advice(),
            Action::NextPane | Action::PrevPane => self.next_tab(action == Action::NextPane),
            Action::AckAlerts => self.acknowledge_alerts(),
            Action::StepBack | Action::StepForward => {
                self.step_in_time(action == Action::StepForward, cmds)
            }
            Action::FollowLogs => self.logs_key(cmds),
            Action::Exec => match self.selected_replica().map(|r| r.name.clone()) {
                Some(name) => self.exec(&name, cmds),
                None => self.flash = Some("select a replica first (Enter down to one)".into()),
            },
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                // Only a move needs the rows and the page (a layout each).
                let (at, n, page) = (self.frame().selected, self.row_count(), self.page());
                self.frame_mut().selected = action.moved(at, n, page).unwrap_or(at);
            }
            Action::Enter => self.drill_down(),
            // Esc clears a filter before it goes back up.
            Action::Back if self.filter.is_some() => self.filter = None,
            Action::Back => {
                let i = self.pane_index();
                if self.stacks[i].len() > 1 {
                    self.stacks[i].pop();
                }
            }
            Action::Filter => {
                let now = self
                    .filter
                    .as_ref()
                    .map(|f| f.text.clone())
                    .unwrap_or_default();
                self.prompt.open(format!("filter {now}"));
            }
            Action::SortNext => {
                self.sort.0 = self.sort.0.next();
                self.flash = Some(format!("order by {}", self.sort.0.word()));
            }
            Action::SortReverse => self.sort.1 = !self.sort.1,
            Action::Rollout => self.rollout_key(),
            // Their own view's keys (handled above).
            Action::RolloutPause
            | Action::RolloutResume
            | Action::RolloutBack
            | Action::RolloutAbort
            | Action::Switch
            | Action::Retire => {
                self.flash = Some("those keys work in the Rollouts tab (Tab to it)".into())
            }
            Action::FixFinding => {
                self.flash = Some("f fixes a finding in the Audit tab (:audit)".into())
            }
            // The logs pane's and the dialog's own (handled above).
            Action::LogTimestamps
            | Action::LogWrap
            | Action::LogPause
            | Action::LogFilter
            | Action::LogSearch
            | Action::LogNext
            | Action::LogPrev
            | Action::LogSave
            | Action::Confirm
            | Action::ConfirmAnyway
            | Action::Cancel => {}
        }
    }

    pub(super) fn quit(&mut self, cmds: &mut Vec<Cmd>) {
        // A rollout agile-deck drives stops with the program, maybe between
        // a replica's removal and its replacement: say so once.
        let busy = self.ops.running().count()
            + self
                .ops
                .rollouts
                .iter()
                .filter(|r| !r.phase.finished() && !r.what.is_swarm())
                .count();
        if busy > 0 && !self.quit_armed {
            self.quit_armed = true;
            self.flash = Some(format!(
                "{busy} operation(s) or rollout(s) under way stop if agile-deck quits (maybe mid-batch): pause or abort first, or quit again to quit anyway"
            ));
            return;
        }
        self.quitting = true;
        cmds.push(Cmd::Quit);
    }
}
