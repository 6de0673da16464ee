//! Where each part of the screen goes, from the terminal's size and the
//! state: one pure function (`App::layout`) that drawing, the mouse and
//! paging all use, so none of them guesses the others' geometry.

use ratatui::layout::{Constraint, Layout, Rect};

/// Columns between two tab titles: " │ ".
pub const TAB_GAP: u16 = 3;

use super::*;
use crate::app::views::{TABS, View};

/// The smallest terminal agile-deck draws in; below it, it says so.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// Steps of a running operation the progress panel shows at most.
pub const STEP_LINES: usize = 6;

/// The screen's parts. A part not shown has no height.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Screen {
    pub header: Rect,
    pub tabs: Rect,
    pub main: Rect,
    pub detail: Rect,
    pub log: Rect,
    pub journal: Rect,
    pub engine: Rect,
    pub progress: Rect,
    pub footer: Rect,
    /// Each tab's title as drawn and the columns it takes on the tab line.
    pub tab_titles: Vec<(String, std::ops::Range<u16>)>,
    /// Alerts not acknowledged (the header and the Events tab say them).
    pub alerts: u32,
}

impl Screen {
    /// Rows of the fleet table a page holds (inside its borders, under its
    /// header).
    pub fn table_rows(&self) -> usize {
        (self.main.height as usize).saturating_sub(3).max(1)
    }

    /// The screen row of the table's first data row.
    pub fn first_table_row(&self) -> u16 {
        self.main.y + 2
    }
}

impl App {
    /// The screen for a terminal of `area` (None: too small to draw in).
    pub fn layout(&self, area: Rect) -> Option<Screen> {
        let rows = if self.views.view == View::Fleet {
            self.rows()
        } else {
            Vec::new()
        };
        self.layout_for(area, &rows)
    }

    /// The same, for the fleet `rows` the caller has already computed (a
    /// frame needs them anyway; summing them twice would double its cost).
    pub fn layout_for(&self, area: Rect, rows: &[Row]) -> Option<Screen> {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            return None;
        }
        // Height goes first to the table's rows (up to six, so a few stay
        // in view at 80×24), then to the panes the user opened (log,
        // journal), then to the detail box, which shrinks or goes.
        let fleet_view = self.views.view == View::Fleet;
        let engine_height = u16::from(self.show_engine);
        let progress_height = self.progress_lines().min(area.height / 4);
        let body = area
            .height
            .saturating_sub(3 + engine_height + progress_height);
        let table_min = if fleet_view {
            rows.len().clamp(1, 6) as u16 + 3
        } else {
            8
        };
        let mut spare = body.saturating_sub(table_min);
        let mut take = |want: u16| {
            let got = want.min(spare);
            spare -= got;
            got
        };
        let log_height = take(if self.show_log { area.height / 3 } else { 0 });
        let journal_height = take(if self.ops.show_journal {
            area.height / 3
        } else {
            0
        });
        let detail_want = match self.frame().level {
            _ if !fleet_view => 0,
            Level::Replica { .. } => 0,
            _ => 7 + self.metric_line_count(rows),
        };
        // Less than its first two lines and borders is no detail at all.
        let detail_height = match take(detail_want) {
            h if h < 4 => 0,
            h => h,
        };
        let alerts = self.alert_total();
        let [
            header,
            tabs,
            main,
            detail,
            log,
            journal,
            engine,
            progress,
            footer,
        ] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(detail_height),
            Constraint::Length(log_height),
            Constraint::Length(journal_height),
            Constraint::Length(engine_height),
            Constraint::Length(progress_height),
            Constraint::Length(1),
        ])
        .areas(area);
        Some(Screen {
            header,
            tabs,
            main,
            detail,
            log,
            journal,
            engine,
            progress,
            footer,
            tab_titles: self.tab_titles(tabs.x, tabs.width, alerts),
            alerts,
        })
    }

    /// " Layers │ Teams │ Events 3! │ …": each title and its columns,
    /// from column `x`; without the spaces around each title when they
    /// would not all fit in `width` (so every tab shows at 80 columns).
    fn tab_titles(&self, x: u16, width: u16, alerts: u32) -> Vec<(String, std::ops::Range<u16>)> {
        let words: Vec<String> = TABS
            .iter()
            .map(|(_, _, title)| {
                if *title == "Events" && alerts > 0 {
                    format!("{title} {alerts}!")
                } else {
                    title.to_string()
                }
            })
            .collect();
        let roomy: u16 = words
            .iter()
            .map(|w| crate::text::width(w) as u16 + 2 + TAB_GAP)
            .sum();
        let pad = if roomy < width { " " } else { "" };
        let mut at = x + 1;
        words
            .into_iter()
            .map(|word| {
                let title = format!("{pad}{word}{pad}");
                let w = crate::text::width(&title) as u16;
                let cols = at..at + w;
                at += w + TAB_GAP;
                (title, cols)
            })
            .collect()
    }

    /// The screen of the terminal as last resized.
    pub(super) fn screen(&self) -> Option<Screen> {
        self.layout(Rect::new(0, 0, self.viewport.0, self.viewport.1))
    }

    /// Rollouts under way shown in the progress panel (not on the
    /// Rollouts tab, which shows them itself): two at most.
    pub fn rollouts_under_way(&self) -> Vec<&crate::rollout::View> {
        if self.views.view == View::Rollouts {
            return Vec::new();
        }
        self.ops
            .rollouts
            .iter()
            .filter(|r| !r.phase.finished())
            .take(2)
            .collect()
    }

    /// Lines of the progress panel: the running operation's steps, or one
    /// line for a finished one, and a line per rollout under way.
    pub fn progress_lines(&self) -> u16 {
        let op = match self.ops.current() {
            Some(o) if !o.status.finished() => 1 + o.steps.len().min(STEP_LINES) as u16,
            Some(_) => 1,
            None => 0,
        };
        op + self.rollouts_under_way().len() as u16
    }

    /// Prometheus lines of the detail box: one per metric of the selected
    /// row's scope.
    pub fn metric_line_count(&self, rows: &[Row]) -> u16 {
        let row = match &self.frame().level {
            Level::Groups | Level::Services { .. } => {
                rows.get(self.frame().selected).map(|r| r.name.clone())
            }
            Level::Replicas { .. } => self.selected_replica().map(|r| r.name.clone()),
            Level::Replica { .. } => None,
        };
        match (&self.prom, row) {
            (Some(_), Some(row)) => {
                let scope = self.prom_scope();
                self.fleet
                    .topology
                    .metrics
                    .iter()
                    .filter(|m| m.applies_to(scope, &row))
                    .count() as u16
            }
            _ => 0,
        }
    }
}
