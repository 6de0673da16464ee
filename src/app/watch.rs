//! What to watch: the containers to take figures of (on screen first) and
//! the Prometheus questions for the rows that can be on screen.

use super::*;

impl App {
    /// What the lister may skip: the state and health we already have.
    pub fn known(&self, host: HostId) -> HashMap<String, (crate::model::State, Health)> {
        self.fleet
            .replicas
            .values()
            .filter(|r| r.host == host)
            // `docker ps` shows no health for a stopped container, while
            // inspect keeps the last one: compare like with like.
            .map(|r| {
                let health = if r.is_running() {
                    r.health
                } else {
                    Health::NoCheck
                };
                (r.id.clone(), (r.state.clone(), health))
            })
            .collect()
    }

    /// Running replicas to take figures of: what is on screen first, then
    /// the rest the aggregates need, up to the cap; sorted by id.
    pub(super) fn stats_targets(&self) -> Vec<Target> {
        let target = |r: &Replica| Target {
            host: r.host,
            id: r.id.clone(),
            pid: r.pid,
        };
        let running = self.fleet.replicas.values().filter(|r| r.is_running());
        if self.stats_cap >= self.fleet.replicas.len() {
            let mut out: Vec<Target> = running.map(target).collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            return out;
        }
        let mut by_name: Vec<&Replica> = running.collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let on_screen: Vec<&Replica> = match &self.frame().level {
            Level::Replicas { .. } | Level::Replica { .. } => self.replicas(),
            _ => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Target> = on_screen
            .into_iter()
            .filter(|r| r.is_running())
            .chain(by_name)
            .filter(|r| seen.insert(r.id.as_str()))
            .take(self.stats_cap)
            .map(target)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub(super) fn stats_targets_if_changed(&mut self) -> Option<Vec<Target>> {
        let t = self.stats_targets();
        (t != self.watched).then(|| {
            self.watched = t.clone();
            t
        })
    }

    /// Ask at once about cells and charts on screen that have no answer
    /// yet (after a move, a drill-down, the first listing), rather than at
    /// the next interval.
    pub(super) fn ask_prometheus_about_new_rows(&self, cmds: &mut Vec<Cmd>) {
        let Some(prom) = &self.prom else { return };
        let missing: Vec<Request> = self
            .prom_requests()
            .into_iter()
            .filter(|r| {
                if r.chart {
                    !prom.store.charts.contains_key(&r.key)
                } else {
                    !prom.store.cells.contains_key(&r.key)
                }
            })
            .collect();
        if !missing.is_empty() {
            cmds.push(Cmd::Prom(missing));
        }
    }

    /// What to ask Prometheus: every metric cell of the rows that can be on
    /// screen, and the charts of the selected row.
    pub fn prom_requests(&self) -> Vec<Request> {
        let metrics = &self.fleet.topology.metrics;
        if self.prom.is_none() || metrics.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (scope, row, vars, selected) in self.prom_rows() {
            // "ungrouped" is no layer or team a target could be labelled with.
            if matches!(scope, Scope::Layer | Scope::Team) && row == crate::fleet::UNGROUPED {
                continue;
            }
            for (i, m) in metrics.iter().enumerate() {
                if !m.applies_to(scope, &row) {
                    continue;
                }
                let Some(expr) = m.expand(&vars) else {
                    continue;
                };
                let key = CellKey {
                    scope,
                    row: row.clone(),
                    metric: i,
                };
                if selected {
                    out.push(Request::chart(key.clone(), expr.clone()));
                }
                out.push(Request::cell(key, expr));
            }
        }
        out
    }

    /// The scope of the rows at the current level.
    pub fn prom_scope(&self) -> Scope {
        match (&self.frame().level, self.pane) {
            (Level::Groups, Pane::Layers) => Scope::Layer,
            (Level::Groups, Pane::Teams) => Scope::Team,
            (Level::Services { .. }, _) => Scope::Service,
            _ => Scope::Replica,
        }
    }

    /// Rows that can be on screen (the table keeps the selection visible,
    /// so at most a page either side of it), with their placeholder values
    /// and whether each is the selected one. The reach is the terminal's
    /// height, which bounds any page: after a scroll or a larger window
    /// the rows shown already have their figures.
    pub(super) fn prom_rows(&self) -> Vec<(Scope, String, Vars, bool)> {
        let sel = self.frame().selected;
        let page = (self.viewport.1 as usize).max(1);
        let window = |n: usize| (sel + 1).saturating_sub(page)..(sel + page).min(n);
        let scope = self.prom_scope();
        match &self.frame().level {
            Level::Groups => {
                let rows = self.rows();
                window(rows.len())
                    .map(|i| {
                        let name = rows[i].name.clone();
                        let vars = if scope == Scope::Layer {
                            Vars {
                                layer: Some(name.clone()),
                                ..Default::default()
                            }
                        } else {
                            Vars {
                                team: Some(name.clone()),
                                ..Default::default()
                            }
                        };
                        (scope, name, vars, i == sel)
                    })
                    .collect()
            }
            Level::Services { group } => {
                let rows = self.rows();
                window(rows.len())
                    .map(|i| {
                        let r = &rows[i];
                        let first = r
                            .replicas
                            .first()
                            .and_then(|id| self.fleet.replicas.get(id));
                        let mut vars = first.map(replica_vars).unwrap_or_default();
                        vars.container = None;
                        vars.instance = None;
                        vars.service = Some(r.name.clone());
                        match self.pane {
                            Pane::Layers => vars.layer = Some(group.clone()),
                            Pane::Teams => vars.team = Some(group.clone()),
                        }
                        (scope, r.name.clone(), vars, i == sel)
                    })
                    .collect()
            }
            Level::Replicas { .. } => {
                let reps = self.replicas();
                window(reps.len())
                    .map(|i| (scope, reps[i].name.clone(), replica_vars(reps[i]), i == sel))
                    .collect()
            }
            Level::Replica { .. } => self
                .replicas()
                .first()
                .map(|r| vec![(scope, r.name.clone(), replica_vars(r), true)])
                .unwrap_or_default(),
        }
    }
}

/// What a replica fills placeholders with. `$instance` is its first
/// published port as Prometheus scrapes it from the host (`0.0.0.0` and
/// `::` listen on 127.0.0.1 too).
fn replica_vars(r: &Replica) -> Vars {
    let instance = r.ports.iter().find(|p| !p.host_port.is_empty()).map(|p| {
        let ip = match p.host_ip.as_str() {
            "" | "0.0.0.0" | "::" => "127.0.0.1",
            ip => ip,
        };
        format!("{ip}:{}", p.host_port)
    });
    Vars {
        layer: r.placement.layer.clone(),
        team: r.placement.team.clone(),
        service: Some(r.placement.service.name.clone()),
        container: Some(r.name.clone()),
        instance,
    }
}
