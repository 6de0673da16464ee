//! The standards the audit holds a deployment to, from the topology's
//! `[audit]` table: the reference's components (resource profile, tier,
//! naming rule, replicas in production), its resource tiers, the labels
//! every container carries, what a secret-looking variable name is, which
//! host paths are sensitive, and the factors a scaled-down deployment (the
//! demo, a staging copy) is held to. Pure data, checked at load.

use regex::Regex;
use serde::Deserialize;

use crate::units;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBaseline {
    #[serde(default)]
    pub required_labels: Vec<String>,
    /// Required on containers the topology places in a team.
    #[serde(default)]
    pub team_label: Option<String>,
    #[serde(default)]
    pub secret_names: Vec<String>,
    #[serde(default)]
    pub sensitive_paths: Vec<String>,
    #[serde(default)]
    pub docker_sockets: Vec<String>,
    /// The layer whose zone has external access (the reference's dmz),
    /// and the layer whose zone holds the data.
    pub public_layer: Option<String>,
    pub data_layer: Option<String>,
    /// The pids limit the fix of a missing one sets.
    pub pids_limit: Option<i64>,
    #[serde(default, rename = "scale")]
    pub scales: Vec<RawScale>,
    #[serde(default, rename = "tier")]
    pub tiers: Vec<Tier>,
    #[serde(default, rename = "component")]
    pub components: Vec<RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    /// `key` (the label is there) or `key=value`.
    pub label: String,
    pub cpu: f64,
    pub memory: f64,
}

/// A resource tier: the share of a component's request it is guaranteed
/// (the reference's `resource_tiers`), so the reservation it must have.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    pub cpu_guarantee: f64,
    pub memory_guarantee: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    /// As the reference names it: `Control Layer`, `Standard Agent`.
    pub name: String,
    /// Patterns on the service name (`*control*`); the first component
    /// one matches counts.
    pub services: Vec<String>,
    /// Patterns a container name must match (the naming convention).
    #[serde(default)]
    pub naming: Vec<String>,
    pub tier: Option<String>,
    /// Request and limit, in cores.
    pub cpu: Option<[f64; 2]>,
    /// Request and limit, in Docker's units (`2g`).
    pub memory: Option<[String; 2]>,
    /// Replicas the reference runs in production.
    #[serde(default)]
    pub replicas: u64,
}

/// A component's resource profile: request and limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub request: f64,
    pub limit: f64,
}

#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    services: Vec<Regex>,
    pub naming: Vec<(String, Regex)>,
    pub tier: Option<Tier>,
    /// Cores.
    pub cpu: Option<Range>,
    /// Bytes.
    pub memory: Option<Range>,
    pub replicas: u64,
}

impl Component {
    pub fn serves(&self, service: &str) -> bool {
        self.services.iter().any(|r| r.is_match(service))
    }

    pub fn named_well(&self, name: &str) -> bool {
        self.naming.is_empty() || self.naming.iter().any(|(_, r)| r.is_match(name))
    }
}

/// The factors a scaled-down deployment's profiles are multiplied by,
/// for the containers carrying a label.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    pub key: String,
    pub value: Option<String>,
    pub cpu: f64,
    pub memory: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Baseline {
    pub required_labels: Vec<String>,
    pub team_label: Option<String>,
    secret_names: Vec<(String, Regex)>,
    pub sensitive_paths: Vec<String>,
    pub docker_sockets: Vec<String>,
    pub public_layer: Option<String>,
    pub data_layer: Option<String>,
    pub pids_limit: i64,
    pub scales: Vec<Scale>,
    pub components: Vec<Component>,
}

impl Baseline {
    pub fn from_raw(
        raw: RawBaseline,
        compile: impl Fn(&str) -> Result<Regex, String>,
    ) -> Result<Baseline, String> {
        let mut components = Vec::new();
        for c in raw.components {
            let tier = match &c.tier {
                None => None,
                Some(t) => Some(
                    raw.tiers
                        .iter()
                        .find(|x| &x.name == t)
                        .cloned()
                        .ok_or_else(|| {
                            format!("component {:?}: no [[audit.tier]] is called {t:?}", c.name)
                        })?,
                ),
            };
            let range = |r: f64, l: f64, what: &str| {
                if r > l || r < 0.0 {
                    Err(format!(
                        "component {:?}: the {what} request must be between 0 and the limit",
                        c.name
                    ))
                } else {
                    Ok(Range {
                        request: r,
                        limit: l,
                    })
                }
            };
            let cpu = c.cpu.map(|[r, l]| range(r, l, "cpu")).transpose()?;
            let memory = match &c.memory {
                None => None,
                Some([r, l]) => {
                    let bytes = |s: &str| {
                        units::parse_bytes(s, "memory", false)
                            .map(|b| b as f64)
                            .map_err(|e| format!("component {:?}: {e}", c.name))
                    };
                    Some(range(bytes(r)?, bytes(l)?, "memory")?)
                }
            };
            if c.services.is_empty() {
                return Err(format!(
                    "component {:?}: `services` must name at least one pattern",
                    c.name
                ));
            }
            components.push(Component {
                services: c
                    .services
                    .iter()
                    .map(|p| compile(p))
                    .collect::<Result<_, _>>()?,
                naming: c
                    .naming
                    .iter()
                    .map(|p| compile(p).map(|r| (p.clone(), r)))
                    .collect::<Result<_, _>>()?,
                name: c.name,
                tier,
                cpu,
                memory,
                replicas: c.replicas,
            });
        }
        let scales = raw
            .scales
            .into_iter()
            .map(|s| {
                if !(s.cpu > 0.0 && s.memory > 0.0) {
                    return Err(format!("scale {:?}: factors must be above 0", s.label));
                }
                let (key, value) = match s.label.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (s.label.clone(), None),
                };
                Ok(Scale {
                    key,
                    value,
                    cpu: s.cpu,
                    memory: s.memory,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Baseline {
            required_labels: raw.required_labels,
            team_label: raw.team_label,
            secret_names: raw
                .secret_names
                .iter()
                .map(|p| compile(&p.to_ascii_uppercase()).map(|r| (p.clone(), r)))
                .collect::<Result<_, _>>()?,
            sensitive_paths: raw.sensitive_paths,
            docker_sockets: raw.docker_sockets,
            public_layer: raw.public_layer,
            data_layer: raw.data_layer,
            pids_limit: raw.pids_limit.unwrap_or(1024),
            scales,
            components,
        })
    }

    /// The component a service is (first match).
    pub fn component(&self, service: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.serves(service))
    }

    /// The pattern a variable name matches if it looks like a secret; a
    /// `*_FILE` name (the path to a Docker secret) never does.
    pub fn secret_pattern(&self, name: &str) -> Option<&str> {
        let upper = name.to_ascii_uppercase();
        if upper.ends_with("_FILE") {
            return None;
        }
        self.secret_names
            .iter()
            .find(|(_, r)| r.is_match(&upper))
            .map(|(p, _)| p.as_str())
    }

    /// The factors for a container with these labels (1, 1 unless a
    /// `[[audit.scale]]` names one of its labels).
    pub fn scale_for(&self, labels: &std::collections::BTreeMap<String, String>) -> (f64, f64) {
        self.scales
            .iter()
            .find(|s| match (labels.get(&s.key), &s.value) {
                (Some(_), None) => true,
                (Some(v), Some(want)) => v == want,
                (None, _) => false,
            })
            .map(|s| (s.cpu, s.memory))
            .unwrap_or((1.0, 1.0))
    }

    /// A mounted host path that is sensitive: the Docker socket first,
    /// then a listed path or anything under it (`/` only itself).
    pub fn sensitive(&self, source: &str) -> Option<Sensitive> {
        let path = source.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        if self.docker_sockets.iter().any(|s| s == path) {
            return Some(Sensitive::DockerSocket);
        }
        self.sensitive_paths
            .iter()
            .find(|p| match p.trim_end_matches('/') {
                "" => path == "/",
                p => path == p || path.starts_with(&format!("{p}/")),
            })
            .map(|_| Sensitive::HostPath)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitive {
    DockerSocket,
    HostPath,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> Baseline {
        crate::topology::Topology::default_topology().baseline
    }

    #[test]
    fn secret_names_match_by_pattern_and_file_variables_never() {
        let b = baseline();
        for name in ["DB_PASSWORD", "api_token", "JWT_SECRET_X", "AWS_ACCESS_KEY"] {
            assert!(b.secret_pattern(name).is_some(), "{name}");
        }
        for name in [
            "DB_PASSWORD_FILE",
            "KEYBOARD",
            "PATH",
            "SERVICE_NAME",
            "MONKEYS",
        ] {
            assert!(b.secret_pattern(name).is_none(), "{name}");
        }
    }

    #[test]
    fn sensitive_paths_cover_what_lies_under_them() {
        let b = baseline();
        assert_eq!(
            b.sensitive("/var/run/docker.sock"),
            Some(Sensitive::DockerSocket)
        );
        assert_eq!(b.sensitive("/"), Some(Sensitive::HostPath));
        assert_eq!(b.sensitive("/etc/ssl/"), Some(Sensitive::HostPath));
        assert_eq!(b.sensitive("/srv/data"), None);
        assert_eq!(b.sensitive("/etcetera"), None);
    }

    #[test]
    fn components_profiles_and_scales_come_from_the_topology() {
        let b = baseline();
        let c = b.component("coordinator").unwrap();
        assert_eq!(c.name, "Coordinator");
        assert_eq!(
            c.cpu,
            Some(Range {
                request: 2.0,
                limit: 4.0
            })
        );
        assert_eq!(c.memory.unwrap().limit, (8u64 << 30) as f64);
        assert_eq!(c.tier.as_ref().unwrap().name, "critical");
        assert_eq!(
            b.component("agile_development-team").unwrap().name,
            "Standard Agent"
        );
        let demo = [("agile-deck.demo".to_string(), "reference".to_string())].into();
        assert_eq!(b.scale_for(&demo), (0.25, 1.0 / 32.0));
        assert_eq!(b.scale_for(&Default::default()), (1.0, 1.0));
    }
}
