//! Where the user is: the drill-down stacks, the rows and replicas a
//! level shows (filtered and ordered), the selection and paging.

use super::*;

/// Rows a page moves in the lists beside the fleet (events, networks,
/// rollouts) and in the help.
pub const LIST_PAGE: usize = 10;

impl App {
    pub(super) fn pane_index(&self) -> usize {
        Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0)
    }

    pub fn frame(&self) -> &Frame {
        self.stacks[self.pane_index()]
            .last()
            .expect("stack is never empty")
    }

    pub(super) fn frame_mut(&mut self) -> &mut Frame {
        let i = self.pane_index();
        self.stacks[i].last_mut().expect("stack is never empty")
    }

    pub fn stack(&self) -> &[Frame] {
        &self.stacks[self.pane_index()]
    }

    /// Replace the current pane's drill-down (jumps from other views).
    pub fn set_stack(&mut self, stack: Vec<Frame>) {
        if !stack.is_empty() {
            let i = self.pane_index();
            self.stacks[i] = stack;
            self.clamp_selection();
        }
    }

    /// Rows of the current level (empty for a single replica's detail).
    pub fn rows(&self) -> Vec<Row> {
        let by = self.pane.group_by();
        let mut rows = match &self.frame().level {
            Level::Groups => self.shown_fleet().group_rows(by),
            Level::Services { group } => self.shown_fleet().service_rows(by, group),
            Level::Replicas { .. } | Level::Replica { .. } => Vec::new(),
        };
        if let Some(f) = &self.filter {
            rows.retain(|r| {
                f.row(
                    &r.name,
                    r.replicas
                        .iter()
                        .filter_map(|id| self.shown_fleet().replicas.get(id)),
                )
            });
        }
        let (by, desc) = self.sort;
        // Rows come in name order; a sort by figures keeps it among equals.
        if by != SortBy::Name {
            sort_by_key_once(&mut rows, |r| r.sort_key(by));
        }
        if desc {
            rows.reverse();
        }
        rows
    }

    /// Replicas listed at the current level (replica levels only).
    pub fn replicas(&self) -> Vec<&Replica> {
        let by = self.pane.group_by();
        let mut reps = match &self.frame().level {
            Level::Replicas { group, service } => {
                self.shown_fleet().replicas_of(by, group, service)
            }
            Level::Replica { id, .. } => {
                return self.shown_fleet().replicas.get(id).into_iter().collect();
            }
            _ => Vec::new(),
        };
        if let Some(f) = &self.filter {
            reps.retain(|r| f.replica(r));
        }
        let (by, desc) = self.sort;
        if !matches!(by, SortBy::Name | SortBy::Services) {
            sort_by_key_once(&mut reps, |r| self.shown_fleet().sort_key(r, by));
        }
        if desc {
            reps.reverse();
        }
        reps
    }

    pub(super) fn row_count(&self) -> usize {
        match &self.frame().level {
            Level::Groups | Level::Services { .. } => self.rows().len(),
            Level::Replicas { .. } => self.replicas().len(),
            // The replica page scrolls by line.
            Level::Replica { .. } => self.drawn.replica_lines.get(),
        }
    }

    /// Rows a page holds: the table's height without header and borders.
    pub(super) fn page(&self) -> usize {
        self.screen().map_or(1, |s| s.table_rows())
    }

    /// The selected replica, at replica levels.
    pub fn selected_replica(&self) -> Option<&Replica> {
        let reps = self.replicas();
        reps.get(self.frame().selected.min(reps.len().saturating_sub(1)))
            .copied()
    }

    pub(super) fn clamp_selection(&mut self) {
        let n = self.row_count();
        let f = self.frame_mut();
        if f.selected >= n {
            f.selected = n.saturating_sub(1);
        }
    }

    pub(super) fn drill_down(&mut self) {
        let selected = self.frame().selected;
        let next = match self.frame().level.clone() {
            Level::Groups => self.rows().get(selected).map(|r| Level::Services {
                group: r.name.clone(),
            }),
            Level::Services { group } => self
                .rows()
                .get(selected)
                .and_then(|r| r.service.clone())
                .map(|service| Level::Replicas { group, service }),
            Level::Replicas { group, service } => self.selected_replica().map(|r| Level::Replica {
                group,
                service,
                id: r.id.clone(),
            }),
            Level::Replica { .. } => None,
        };
        if let Some(level) = next {
            let i = self.pane_index();
            self.stacks[i].push(Frame { level, selected: 0 });
        }
    }
}

/// Sort `items` by `key`, ascending, computing each key once (a figure's
/// key looks the replica's sample up); equal keys keep their order.
fn sort_by_key_once<T>(items: &mut Vec<T>, key: impl Fn(&T) -> f64) {
    let mut keyed: Vec<(f64, T)> = items.drain(..).map(|t| (key(&t), t)).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    items.extend(keyed.into_iter().map(|(_, t)| t));
}
