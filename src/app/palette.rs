//! The command line's help: completion of commands and of names.

use crate::app::App;

/// What `:rollout` and `:canary` take after the service.
const ROLLOUT_OPTIONS: [&str; 12] = [
    "image=",
    "restart",
    "parallelism=",
    "delay=",
    "monitor=",
    "healthy-within=",
    "failure=pause",
    "failure=continue",
    "failure=rollback",
    "ratio=",
    "order=stop-first",
    "order=start-first",
];

/// The longest prefix every candidate shares.
fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut end = first.len();
    for w in &words[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .map(|((i, a), _)| i + a.len_utf8())
                .last()
                .unwrap_or(0),
        );
    }
    first[..end].to_string()
}

impl App {
    /// Names a word in this position (1: the first after the command)
    /// could be.
    fn candidates(&self, command: &str, position: usize, word: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        match (command, position) {
            ("switch" | "retire", 1) => names.extend(
                crate::ops::pair::pairs(&self.fleet)
                    .into_iter()
                    .map(|p| p.name),
            ),
            ("switch" | "retire", _) => names.extend(["blue".into(), "green".into()]),
            ("sort", 1) => names.extend(
                crate::filter::SortBy::ALL
                    .iter()
                    .map(|s| s.word().to_string()),
            ),
            ("sort", _) => names.extend(["asc".into(), "desc".into()]),
            ("rollout" | "canary", 2..) => {
                names.extend(ROLLOUT_OPTIONS.iter().map(|o| o.to_string()))
            }
            _ => {}
        }
        if !names.is_empty() {
            names.retain(|n| n.starts_with(word));
            return names;
        }
        match command {
            "theme" => names.extend(crate::theme::Theme::names().into_iter().map(String::from)),
            "profile" => names.extend(self.fleet.topology.profiles.iter().map(|p| p.name.clone())),
            "promql" | "filter" | "search" | "q" | "quit" => {}
            _ => {
                let (kind, _) = word.split_once(':').unwrap_or(("", word));
                let with = |k: &str, n: &str| {
                    if kind.is_empty() {
                        n.to_string()
                    } else {
                        format!("{k}:{n}")
                    }
                };
                let mut add = |k: &str, list: Vec<String>| {
                    if kind.is_empty() || kind == k {
                        names.extend(list.iter().map(|n| with(k, n)));
                    }
                };
                add(
                    "replica",
                    self.fleet
                        .replicas
                        .values()
                        .map(|r| r.name.clone())
                        .collect(),
                );
                let mut services: Vec<String> = self
                    .fleet
                    .replicas
                    .values()
                    .map(|r| r.placement.service.name.clone())
                    .collect();
                services.sort();
                services.dedup();
                add("service", services);
                add("team", self.fleet.topology.teams.clone());
                add("layer", self.fleet.topology.layers.clone());
                if command == "networks" {
                    names = self.fleet.networks.iter().map(|n| n.name.clone()).collect();
                }
            }
        }
        names.retain(|n| n.starts_with(word));
        names.sort();
        names.dedup();
        names
    }

    /// Tab on the command line: complete the last word, or list the choices.
    pub fn complete_prompt(&mut self) {
        let Some(text) = self.prompt.text().map(str::to_string) else {
            return;
        };
        let words: Vec<&str> = text.split(' ').collect();
        let word = words.last().copied().unwrap_or("");
        let found: Vec<String> = if words.len() <= 1 {
            crate::commands::names()
                .into_iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect()
        } else {
            self.candidates(words[0], words.len() - 1, word)
        };
        match found.len() {
            0 => self.flash = Some(format!("nothing starts with {word:?}")),
            1 => {
                let head = &text[..text.len() - word.len()];
                // `image=` waits for its value.
                let space = if found[0].ends_with('=') { "" } else { " " };
                self.prompt.open(format!("{head}{}{space}", found[0]));
            }
            n => {
                let prefix = common_prefix(&found);
                let head = &text[..text.len() - word.len()];
                self.prompt.open(format!("{head}{prefix}"));
                let shown: Vec<&str> = found.iter().take(8).map(String::as_str).collect();
                self.flash = Some(format!(
                    "{n} choices: {}{}",
                    shown.join("  "),
                    if n > 8 { "  …" } else { "" }
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&w(&["scale", "search", "start"])), "s");
        assert_eq!(common_prefix(&w(&["restart", "resize"])), "res");
        assert_eq!(common_prefix(&w(&["team:product"])), "team:product");
        assert_eq!(common_prefix(&[]), "");
    }
}
