//! The app's side of the audit: the findings kept current as the fleet
//! changes (the whole audit after a listing, one container and what it
//! touches after an inspect or a removal, services, networks and nodes
//! when they are listed again), and the Audit view's state and keys: the
//! scores, the findings list, Enter to the object, `f` to a plan.

use crate::app::App;
use crate::app::views::View;
use crate::audit::{Finding, Object, Remedy, Score, World, report};
use crate::keymap::Action;
use crate::model::Replica;
use crate::ops::{Kind, plan};

/// The Audit view's own state.
#[derive(Debug, Default)]
pub struct AuditView {
    pub selected: usize,
    /// `/`: a regex on the severity, rule, object or what was seen.
    pub filter: String,
    /// Scores by name instead of worst first (`o`).
    pub scores_by_name: bool,
}

impl App {
    /// Judge the whole deployment again.
    pub fn audit_all(&mut self) {
        let hosts = self.hosts.names();
        self.audit.full(&World::of(&self.fleet, &hosts));
    }

    /// One container changed, came or went (`before` is what it was).
    pub(super) fn audit_container(&mut self, before: Option<&Replica>, id: &str) {
        let hosts = self.hosts.names();
        self.audit
            .container_changed(&World::of(&self.fleet, &hosts), before, id);
    }

    /// Services, networks or nodes were listed again.
    pub(super) fn audit_cluster(&mut self) {
        let hosts = self.hosts.names();
        self.audit.cluster_changed(&World::of(&self.fleet, &hosts));
    }

    /// The findings the view lists, after its filter: worst first,
    /// ignored ones last.
    pub fn audit_findings(&self) -> Vec<&Finding> {
        let all = self.audit.findings();
        if self.audit_view.filter.is_empty() {
            return all;
        }
        let re = crate::filter::lenient(&self.audit_view.filter);
        all.into_iter()
            .filter(|f| {
                re.is_match(f.severity.as_ref())
                    || re.is_match(f.rule.as_ref())
                    || re.is_match(f.object.name())
                    || re.is_match(&f.seen)
            })
            .collect()
    }

    /// The scores, worst corner first (or by name after `o`).
    pub fn audit_scores(&self) -> Vec<Score> {
        let mut scores = report::ranked(&self.audit, &self.fleet.topology);
        if self.audit_view.scores_by_name {
            scores.sort_by(|a, b| (a.group, &a.name).cmp(&(b.group, &b.name)));
        }
        scores
    }

    pub fn selected_finding(&self) -> Option<&Finding> {
        self.audit_findings().get(self.audit_view.selected).copied()
    }

    /// Keys in the Audit view; false if not its own.
    pub(super) fn on_audit_key(&mut self, action: Action) -> bool {
        let n = self.audit_findings().len();
        if let Some(to) = action.moved(self.audit_view.selected, n, super::nav::LIST_PAGE) {
            self.audit_view.selected = to;
            return true;
        }
        match action {
            Action::FixFinding => self.fix_finding(),
            Action::Enter => self.open_finding(),
            Action::Back => {
                self.audit_view.filter.clear();
                self.audit_view.selected = 0;
            }
            Action::Filter => self
                .prompt
                .open(format!("audit {}", self.audit_view.filter)),
            Action::SortNext | Action::SortReverse => {
                self.audit_view.scores_by_name = !self.audit_view.scores_by_name;
                self.flash = Some(
                    if self.audit_view.scores_by_name {
                        "scores by name"
                    } else {
                        "scores worst first"
                    }
                    .into(),
                );
            }
            _ => return false,
        }
        true
    }

    /// `:audit [FILTER]`.
    pub(super) fn audit_command(&mut self, rest: &str) {
        self.views.view = View::Audit;
        self.audit_view.filter = rest.trim().to_string();
        self.audit_view.selected = 0;
    }

    /// Enter: the finding's container on its replica page.
    fn open_finding(&mut self) {
        let Some(f) = self.selected_finding() else {
            return;
        };
        let id = match &f.object {
            Object::Container { host, name } => self
                .fleet
                .replicas
                .values()
                .find(|r| &r.name == name && self.hosts.name(r.host) == host)
                .map(|r| r.id.clone()),
            _ => None,
        };
        match id {
            Some(id) => self.open_replica(&id),
            None => {
                self.flash = Some(format!("{}: the fix is `{}`", f.object, f.fix));
            }
        }
    }

    /// `f`: the selected finding's fix as a plan (preview, confirm,
    /// journal, undo), where agile-deck has the operation; the object is
    /// found again by name now, not remembered.
    fn fix_finding(&mut self) {
        let Some(f) = self.selected_finding() else {
            self.flash = Some("no finding selected".into());
            return;
        };
        let planned = match f.remedy.clone() {
            Some(Remedy::Resize { target, change }) => self
                .resolve_target(&target)
                .and_then(|t| plan::resize(&self.fleet, &t, &change, Kind::Resize)),
            Some(Remedy::Disconnect { container, network }) => {
                plan::disconnect(&self.fleet, &container, &network)
            }
            Some(Remedy::RestartPolicy { container, policy }) => {
                plan::restart_policy(&self.fleet, &container, policy)
            }
            Some(Remedy::Scale { service, replicas }) => self
                .resolve_target(&format!("service:{service}"))
                .and_then(|t| self.one_service(&t, "scale"))
                .and_then(|s| plan::scale(&self.fleet, &s, replicas)),
            None => {
                self.flash = Some(format!(
                    "agile-deck has no operation for {}: {}",
                    f.rule, f.fix
                ));
                return;
            }
        };
        self.propose(planned);
    }
}
