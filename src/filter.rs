//! The table filter (`/`): words that must all hold. `key=value` and
//! `key!=value` on labels (and `layer`, `team`, `service`, `state`,
//! `health`), state words (`running`, `stopped`, `healthy`, `starting`,
//! `unhealthy`, `restarting`; `!` negates), anything else a regex on the
//! name (case-insensitive). `host=NAME` keeps one host's replicas.

use regex::{Regex, RegexBuilder};

use crate::model::{Health, HostId, Replica};

/// A view's `/` text as a case-insensitive regex, or, when it is not
/// one (a stray bracket), the text as it is.
pub fn lenient(text: &str) -> Regex {
    RegexBuilder::new(text)
        .case_insensitive(true)
        .build()
        .or_else(|_| {
            RegexBuilder::new(&regex::escape(text))
                .case_insensitive(true)
                .build()
        })
        .expect("an escaped text is a regex")
}

#[derive(Clone, Debug)]
enum Term {
    Label {
        key: String,
        value: String,
        negate: bool,
    },
    State {
        word: String,
        negate: bool,
    },
    Name {
        re: Regex,
        negate: bool,
    },
    Host {
        host: HostId,
        negate: bool,
    },
}

/// A parsed filter.
#[derive(Clone, Debug)]
pub struct Filter {
    pub text: String,
    terms: Vec<Term>,
}

const STATES: [&str; 8] = [
    "running",
    "stopped",
    "exited",
    "healthy",
    "starting",
    "unhealthy",
    "restarting",
    "paused",
];

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        Filter::parse_on(text, &[])
    }

    /// Parse with the hosts' names (`HostId` is the index), for `host=`.
    pub fn parse_on(text: &str, hosts: &[String]) -> Result<Filter, String> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            let host = word
                .split_once("!=")
                .map(|(k, v)| (k, v, true))
                .or_else(|| word.split_once('=').map(|(k, v)| (k, v, false)))
                .filter(|(k, _, _)| *k == "host" && !hosts.is_empty());
            if let Some((_, name, negate)) = host {
                let i = hosts.iter().position(|h| h == name).ok_or_else(|| {
                    format!("no host {name:?}; the hosts are {}", hosts.join(", "))
                })?;
                terms.push(Term::Host {
                    host: HostId(i as u16),
                    negate,
                });
            } else if let Some((k, v)) = word.split_once("!=") {
                terms.push(Term::Label {
                    key: k.into(),
                    value: v.into(),
                    negate: true,
                });
            } else if let Some((k, v)) = word.split_once('=') {
                terms.push(Term::Label {
                    key: k.into(),
                    value: v.into(),
                    negate: false,
                });
            } else {
                let (negate, w) = match word.strip_prefix('!') {
                    Some(w) => (true, w),
                    None => (false, word),
                };
                if STATES.contains(&w) {
                    terms.push(Term::State {
                        word: w.into(),
                        negate,
                    });
                } else {
                    let re = RegexBuilder::new(w)
                        .case_insensitive(true)
                        .build()
                        .map_err(|e| format!("filter {w:?}: {e}"))?;
                    terms.push(Term::Name { re, negate });
                }
            }
        }
        Ok(Filter {
            text: text.trim().to_string(),
            terms,
        })
    }

    /// Whether a replica matches every word.
    pub fn replica(&self, r: &Replica) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Label { key, value, negate } => {
                let have = match key.as_str() {
                    "layer" => r.placement.layer.clone(),
                    "team" => r.placement.team.clone(),
                    "service" => Some(r.placement.service.name.clone()),
                    "state" => Some(r.state.to_string()),
                    "health" => Some(r.health.word().to_string()),
                    k => r.labels.get(k).cloned(),
                };
                (have.as_deref() == Some(value.as_str())) != *negate
            }
            Term::State { word, negate } => {
                let yes = match word.as_str() {
                    "running" => r.is_running(),
                    "stopped" => !r.is_running(),
                    "healthy" => r.is_running() && r.health == Health::Healthy,
                    "starting" => r.is_running() && r.health == Health::Starting,
                    "unhealthy" => r.is_running() && r.health == Health::Unhealthy,
                    other => r.state == other,
                };
                yes != *negate
            }
            Term::Name { re, negate } => re.is_match(&r.name) != *negate,
            Term::Host { host, negate } => (r.host == *host) != *negate,
        })
    }

    /// Whether a group or service row matches: its name for name words,
    /// any of its replicas for the rest.
    pub fn row<'a>(&self, name: &str, replicas: impl Iterator<Item = &'a Replica> + Clone) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Name { re, negate } => re.is_match(name) != *negate,
            other => {
                let one = Filter {
                    text: String::new(),
                    terms: vec![other.clone()],
                };
                let negated = matches!(
                    other,
                    Term::Label { negate: true, .. }
                        | Term::State { negate: true, .. }
                        | Term::Host { negate: true, .. }
                );
                // "!running" on a row: none of its replicas runs.
                if negated {
                    replicas.clone().all(|r| one.replica(r))
                } else {
                    replicas.clone().any(|r| one.replica(r))
                }
            }
        })
    }
}

/// What a table is ordered by (`o` cycles, `O` reverses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// As listed: the topology's order for layers, names for the rest.
    #[default]
    Name,
    Services,
    Running,
    /// Worst first when reversed: unhealthy, then starting.
    Health,
    Cpu,
    Memory,
    Net,
    Block,
    Pids,
}

impl SortBy {
    /// Every column, in the order `o` steps through them.
    pub const ALL: [SortBy; 9] = [
        SortBy::Name,
        SortBy::Services,
        SortBy::Running,
        SortBy::Health,
        SortBy::Cpu,
        SortBy::Memory,
        SortBy::Net,
        SortBy::Block,
        SortBy::Pids,
    ];

    pub fn next(self) -> SortBy {
        let i = SortBy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        SortBy::ALL[(i + 1) % SortBy::ALL.len()]
    }

    pub fn word(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Services => "services",
            SortBy::Running => "running",
            SortBy::Health => "health",
            SortBy::Cpu => "cpu",
            SortBy::Memory => "memory",
            SortBy::Net => "net",
            SortBy::Block => "block",
            SortBy::Pids => "pids",
        }
    }

    pub fn parse(word: &str) -> Option<SortBy> {
        SortBy::ALL.into_iter().find(|s| s.word() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_replica;
    use crate::topology::Topology;

    fn reps() -> Vec<Replica> {
        let t = Topology::default_topology();
        let mut a = test_replica(
            &t,
            "a",
            "agile-db-postgres-primary",
            &[("layer", "data")],
            "running",
        );
        a.health = Health::Unhealthy;
        let b = test_replica(
            &t,
            "b",
            "agile-agent-qa-tester-001",
            &[("team", "qa"), ("layer", "execution")],
            "exited",
        );
        let c = test_replica(
            &t,
            "c",
            "agile-agent-product-pm-001",
            &[("team", "product"), ("layer", "execution")],
            "running",
        );
        vec![a, b, c]
    }

    fn matching(f: &str) -> Vec<String> {
        let f = Filter::parse(f).unwrap();
        reps()
            .into_iter()
            .filter(|r| f.replica(r))
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn host_names_are_hosts() {
        let hosts = ["n1".to_string(), "n2".to_string()];
        let mut reps = reps();
        reps[1].host = HostId(1);
        let ids = |f: &Filter| -> Vec<String> {
            reps.iter()
                .filter(|r| f.replica(r))
                .map(|r| r.id.clone())
                .collect()
        };
        assert_eq!(ids(&Filter::parse_on("host=n2", &hosts).unwrap()), ["b"]);
        assert_eq!(
            ids(&Filter::parse_on("host!=n2 running", &hosts).unwrap()),
            ["a", "c"]
        );
        let err = Filter::parse_on("host=n9", &hosts).unwrap_err();
        assert_eq!(err, "no host \"n9\"; the hosts are n1, n2");
    }

    #[test]
    fn the_grammar() {
        assert_eq!(matching(""), ["a", "b", "c"]);
        assert_eq!(matching("layer=data"), ["a"]);
        assert_eq!(matching("team!=qa"), ["a", "c"]);
        assert_eq!(matching("unhealthy"), ["a"]);
        assert_eq!(matching("!running"), ["b"]);
        assert_eq!(matching("stopped"), ["b"]);
        assert_eq!(matching("running layer=execution"), ["c"]);
        assert_eq!(matching("AGENT"), ["b", "c"], "names are case-insensitive");
        assert_eq!(matching("^agile-agent-.*-001$ !qa"), ["c"]);
        assert_eq!(matching("state=exited"), ["b"]);
        assert_eq!(matching("health=unhealthy"), ["a"]);
        assert_eq!(matching("team=product"), ["c"]);
        assert!(Filter::parse("(").is_err());
    }

    #[test]
    fn rows_match_through_their_replicas() {
        let r = reps();
        let f = Filter::parse("unhealthy").unwrap();
        assert!(f.row("data", r.iter().take(1)));
        assert!(!f.row("execution", r.iter().skip(1)));
        let f = Filter::parse("!running").unwrap();
        assert!(!f.row("execution", r.iter().skip(1)), "one of them runs");
        assert!(f.row("qa", r.iter().skip(1).take(1)));
        let f = Filter::parse("exec").unwrap();
        assert!(f.row("execution", r.iter()));
        assert!(!f.row("data", r.iter()));
    }
}
