//! The `:` line: what was typed, run as a command (the read-only gate
//! for commands that change the deployment is here too).

use super::*;

impl App {
    /// The one read-only gate: what changes the deployment (an action or
    /// command declared so) is refused, with the reason in the footer.
    pub(super) fn refused_read_only(&mut self) -> bool {
        if let Some(p) = &self.past {
            self.flash = Some(format!(
                "refused: looking at the past ({}); :at now returns",
                p.at.with_timezone(&self.local_offset).format("%H:%M:%S")
            ));
            return true;
        }
        if self.ops.read_only {
            self.flash = Some(crate::app::ops::READ_ONLY.into());
        }
        self.ops.read_only
    }

    /// `:exec REPLICA [COMMAND…]` (default `sh`).
    pub(super) fn exec(&mut self, rest: &str, cmds: &mut Vec<Cmd>) {
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else {
            self.flash = Some("usage: :exec REPLICA [COMMAND]".into());
            return;
        };
        let mut command: Vec<String> = words.map(String::from).collect();
        if command.is_empty() {
            command.push("sh".into());
        }
        // `HOST/NAME` where a name runs on several hosts.
        let (host, name) = match name.split_once('/') {
            Some((h, n)) => match self.hosts.by_name(h) {
                Some(id) => (Some(id), n),
                None => {
                    self.flash = Some(format!("no host is called {h:?}"));
                    return;
                }
            },
            None => (None, name),
        };
        let named: Vec<&Replica> = self
            .fleet
            .replicas
            .values()
            .filter(|r| r.name == name && host.is_none_or(|h| h == r.host))
            .collect();
        if let [a, b, ..] = named[..] {
            let (a, b) = (self.hosts.name(a.host), self.hosts.name(b.host));
            self.flash = Some(format!(
                "{name} runs on {a} and {b}: say which, e.g. :exec {a}/{name}"
            ));
            return;
        }
        match named.first() {
            Some(r) if r.is_running() => cmds.push(Cmd::Exec {
                host: r.host,
                id: r.id.clone(),
                name: r.name.clone(),
                command,
            }),
            Some(r) => {
                self.flash = Some(format!(
                    "{} is {}: nothing to run a command in",
                    r.name, r.state
                ))
            }
            None => self.flash = Some(format!("no replica is called {name:?}")),
        }
    }

    pub(super) fn start_adhoc(&mut self, query: Query, cmds: &mut Vec<Cmd>) {
        if self.prom.is_none() {
            self.flash =
                Some("Prometheus is not configured: start agile-deck with --prometheus URL".into());
            return;
        }
        cmds.push(Cmd::PromAdhoc(query.clone()));
        self.adhoc = Some(Adhoc {
            query,
            result: None,
            scroll: 0,
        });
    }

    /// Run what was typed on the command line.
    pub(super) fn run_command(&mut self, line: &str, cmds: &mut Vec<Cmd>) {
        let line = line.trim();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        if crate::commands::find(word).is_some_and(|c| c.changes) && self.refused_read_only() {
            return;
        }
        match word {
            "" => {}
            "q" | "q!" | "quit" => self.quit(cmds),
            "at" => self.at_command(rest, cmds),
            "promql" if rest.trim().is_empty() => {
                self.flash = Some("usage: :promql EXPR".into());
            }
            "promql" => self.start_adhoc(
                Query::Instant {
                    expr: rest.trim().to_string(),
                },
                cmds,
            ),
            "theme" => match crate::theme::Theme::named(rest.trim()) {
                Some(t) => {
                    self.theme = if crate::theme::no_color_requested() {
                        t.without_colour()
                    } else {
                        t
                    };
                    self.flash = Some(format!("theme {}", rest.trim()));
                }
                None => {
                    self.flash = Some(format!(
                        "no theme {:?}; the themes are {}",
                        rest.trim(),
                        crate::theme::Theme::names().join(", ")
                    ))
                }
            },
            _ if self.operation_command(word, rest) => {}
            _ if self.rollout_command(word, rest, cmds) => {}
            _ if self.view_command(word, rest) => {}
            _ if self.views.view == views::View::Logs && self.logs_command(word, rest) => {}
            "sort" => {
                let mut words = rest.split_whitespace();
                match (words.next().and_then(SortBy::parse), words.next()) {
                    (Some(by), None | Some("asc")) => self.sort = (by, false),
                    (Some(by), Some("desc")) => self.sort = (by, true),
                    _ => {
                        self.flash = Some(format!(
                            "usage: :sort COLUMN [asc|desc]; columns: {}",
                            SortBy::ALL.map(SortBy::word).join(", ")
                        ))
                    }
                }
            }
            "filter" => match Filter::parse_on(rest, &self.hosts.names()) {
                Ok(f) if f.text.is_empty() => self.filter = None,
                Ok(f) => {
                    self.filter = Some(f);
                    self.frame_mut().selected = 0;
                }
                Err(e) => self.flash = Some(e),
            },
            "logs" if rest.trim().is_empty() => self.logs_key(cmds),
            "exec" => self.exec(rest, cmds),
            "logs" => self.open_logs(rest.trim(), cmds),
            "search" => {
                self.flash =
                    Some(":search TEXT searches the logs: open them first (:logs TARGET)".into())
            }
            other => {
                self.flash = Some(format!(
                    "unknown command {other:?}; the commands: {} (? lists them with what they take)",
                    crate::commands::COMMANDS.map(|c| c.name).join(", ")
                ))
            }
        }
    }
}
