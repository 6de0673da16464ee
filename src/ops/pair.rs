//! Blue-green pairs: two colours of one service's replicas behind a stable
//! network alias. A switch moves the alias (green gets it, then blue loses
//! it, so the name always resolves to something); retiring stops the
//! colour that is not live. Both are ordinary plans run by `ops::exec`.

use serde_json::json;

use crate::fleet::Fleet;
use crate::model::{Health, Replica, ServiceId};
use crate::ops::plan::{Target, lifecycle, lock_of};
use crate::ops::{Action, Kind, Plan, Step};
use crate::rollout::config::PairDef;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn word(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }

    pub fn parse(s: &str) -> Result<Colour, String> {
        match s {
            "blue" => Ok(Colour::Blue),
            "green" => Ok(Colour::Green),
            _ => Err(format!("{s:?}: blue or green")),
        }
    }

    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }
}

/// A pair as the fleet shows it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub name: String,
    pub service: ServiceId,
    pub alias: String,
    /// None when no replica is on a network yet.
    pub network: Option<String>,
    pub blue: Vec<String>,
    pub green: Vec<String>,
    /// Colours whose replicas hold the alias (both during a switch).
    pub live: Vec<Colour>,
}

impl Pair {
    pub fn side(&self, c: Colour) -> &[String] {
        match c {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }

    /// "blue", "green", "blue+green" or "none".
    pub fn live_word(&self) -> String {
        match self.live.as_slice() {
            [] => "none".into(),
            l => l.iter().map(|c| c.word()).collect::<Vec<_>>().join("+"),
        }
    }
}

fn holds(r: &Replica, network: &str, alias: &str) -> bool {
    r.networks
        .iter()
        .any(|n| n.network == network && n.aliases.iter().any(|a| a == alias))
}

/// The pairs: those the topology declares, and any service whose replicas
/// carry `environment=blue|green`.
pub fn pairs(fleet: &Fleet) -> Vec<Pair> {
    let mut defs: Vec<PairDef> = fleet.topology.pairs.clone();
    for r in fleet.shown() {
        let s = &r.placement.service.name;
        if matches!(
            r.labels.get("environment").map(String::as_str),
            Some("blue" | "green")
        ) && !defs.iter().any(|d| &d.service == s)
        {
            defs.push(PairDef {
                service: s.clone(),
                label: "environment".into(),
                alias: None,
                network: None,
            });
        }
    }
    let mut out: Vec<Pair> = defs
        .into_iter()
        .filter_map(|d| {
            let mut replicas: Vec<&Replica> = fleet
                .replicas
                .values()
                .filter(|r| r.placement.service.name == d.service)
                .collect();
            replicas.sort_by(|a, b| a.name.cmp(&b.name));
            let service = replicas.first()?.placement.service.clone();
            let alias = d.alias.clone().unwrap_or_else(|| d.service.clone());
            let network = d.network.clone().or_else(|| {
                replicas
                    .iter()
                    .flat_map(|r| &r.networks)
                    .find(|n| n.aliases.contains(&alias))
                    .or_else(|| replicas.iter().flat_map(|r| &r.networks).next())
                    .map(|n| n.network.clone())
            });
            let colour = |c: Colour| -> Vec<String> {
                replicas
                    .iter()
                    .filter(|r| r.labels.get(&d.label).map(String::as_str) == Some(c.word()))
                    .map(|r| r.id.clone())
                    .collect()
            };
            let (blue, green) = (colour(Colour::Blue), colour(Colour::Green));
            let live = [Colour::Blue, Colour::Green]
                .into_iter()
                .filter(|c| {
                    let ids = if *c == Colour::Blue { &blue } else { &green };
                    network.as_deref().is_some_and(|net| {
                        ids.iter()
                            .filter_map(|id| fleet.replicas.get(id))
                            .any(|r| holds(r, net, &alias))
                    })
                })
                .collect();
            Some(Pair {
                name: d.service,
                service,
                alias,
                network,
                blue,
                green,
                live,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn find(fleet: &Fleet, name: &str) -> Result<Pair, String> {
    let all = pairs(fleet);
    let names: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    all.into_iter().find(|p| p.name == name).ok_or_else(|| {
        if names.is_empty() {
            format!("{name}: no blue-green pair here (replicas labelled environment=blue|green, or [[pair]] in the topology)")
        } else {
            format!("{name}: not a blue-green pair; the pairs are {}", names.join(", "))
        }
    })
}

/// The aliases a replica keeps on `network` with `alias` added or taken
/// away. Docker's own alias (the short container id) is not ours to set.
fn aliases_with(r: &Replica, network: &str, alias: &str, add: bool) -> Vec<String> {
    let mut out: Vec<String> = r
        .networks
        .iter()
        .filter(|n| n.network == network)
        .flat_map(|n| n.aliases.iter().cloned())
        .filter(|a| a != alias && !(a.len() >= 12 && r.id.starts_with(a.as_str())))
        .collect();
    if add {
        out.push(alias.to_string());
    }
    out
}

fn alias_step(r: &Replica, network: &str, alias: &str, add: bool) -> Step {
    let aliases = aliases_with(r, network, alias, add);
    let flags: String = aliases.iter().map(|a| format!(" --alias {a}")).collect();
    Step {
        what: format!(
            "{} {alias} {} {}",
            if add { "give" } else { "take" },
            if add { "to" } else { "from" },
            r.name
        ),
        cli: format!(
            "docker network disconnect {network} {n} && docker network connect{flags} {network} {n}",
            n = r.name
        ),
        action: Action::Alias {
            id: r.id.clone(),
            name: r.name.clone(),
            network: network.to_string(),
            aliases,
        },
        before: json!({ "holds_alias": !add }),
        after: json!({ "holds_alias": add }),
    }
}

/// Make `to` the live colour: refused unless every `to` replica runs and
/// is healthy (or has no health check).
pub fn switch(fleet: &Fleet, name: &str, to: Colour) -> Result<Plan, String> {
    let p = find(fleet, name)?;
    let network = p
        .network
        .clone()
        .ok_or_else(|| format!("{name}: its replicas are on no network"))?;
    let side: Vec<&Replica> = p
        .side(to)
        .iter()
        .filter_map(|id| fleet.replicas.get(id))
        .collect();
    if side.is_empty() {
        return Err(format!("{name}: there is no {} replica", to.word()));
    }
    for r in &side {
        let ok = r.is_running() && matches!(r.health, Health::Healthy | Health::NoCheck);
        if !ok {
            return Err(format!(
                "refused: {} replica {} is {} ({}); switching would send traffic to it",
                to.word(),
                r.name,
                r.state,
                r.health.word()
            ));
        }
    }
    if p.live == [to] {
        return Err(format!("{name}: {} is live already", to.word()));
    }
    let mut steps: Vec<Step> = side
        .iter()
        .filter(|r| !holds(r, &network, &p.alias))
        .map(|r| alias_step(r, &network, &p.alias, true))
        .collect();
    steps.extend(
        p.side(to.other())
            .iter()
            .filter_map(|id| fleet.replicas.get(id))
            .filter(|r| holds(r, &network, &p.alias))
            .map(|r| alias_step(r, &network, &p.alias, false)),
    );
    let mut notes = vec![
        format!(
            "{} gets the alias {:?} on {network} first, then {} loses it: the name always resolves",
            to.word(),
            p.alias,
            to.other().word()
        ),
        format!(
            "{} keeps running for an instant switch back (:switch {name} {}); :retire {name} {} stops it",
            to.other().word(),
            to.other().word(),
            to.other().word()
        ),
        "clients that cache DNS answers keep their old address until they resolve again".into(),
    ];
    notes.extend(traefik_note(fleet, &p, to));
    Ok(Plan {
        kind: Kind::Switch,
        title: format!("switch {name} to {}", to.word()),
        target: format!("pair {name}"),
        locks: vec![lock_of(&p.service)],
        params: json!({ "pair": name, "to": to.word(), "alias": p.alias, "network": network }),
        steps,
        notes,
        warnings: vec![],
        undo: None,
    })
}

/// Replicas routed by Traefik labels (the reference's optional router):
/// Docker cannot change a running container's labels, so moving
/// Traefik's routing means recreating the containers. Say so, and what
/// would change; the switch itself moves the alias only.
fn traefik_note(fleet: &Fleet, p: &Pair, to: Colour) -> Option<String> {
    let labels = |c: Colour| -> Vec<String> {
        let mut v: Vec<String> = p
            .side(c)
            .iter()
            .filter_map(|id| fleet.replicas.get(id))
            .flat_map(|r| r.labels.iter())
            .filter(|(k, _)| k.starts_with("traefik."))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let (live, next) = (labels(to.other()), labels(to));
    if live.is_empty() && next.is_empty() {
        return None;
    }
    Some(format!(
        "these replicas carry Traefik labels ({} now: {}; {}: {}): Traefik routes by labels, which a running container cannot change, so moving Traefik's routers needs the containers recreated with the labels swapped (in the Compose file, then `docker compose up -d`); this switch moves the network alias only",
        to.other().word(),
        if live.is_empty() {
            "none".into()
        } else {
            live.join(", ")
        },
        to.word(),
        if next.is_empty() {
            "none".into()
        } else {
            next.join(", ")
        },
    ))
}

/// Stop the colour that is not live.
pub fn retire(fleet: &Fleet, name: &str, colour: Colour) -> Result<Plan, String> {
    let p = find(fleet, name)?;
    if p.live.contains(&colour) {
        return Err(format!(
            "refused: {} is live; switch {name} to {} first",
            colour.word(),
            colour.other().word()
        ));
    }
    let target = Target {
        label: format!("{} side of pair {name}", colour.word()),
        replicas: p.side(colour).to_vec(),
        services: vec![p.service.clone()],
    };
    let mut plan = lifecycle(fleet, &target, Kind::Stop)?;
    plan.kind = Kind::Retire;
    plan.title = format!("retire {} of {name}", colour.word());
    plan.params = json!({ "pair": name, "colour": colour.word() });
    plan.notes.push(format!(
        "{} stays live; the stopped replicas can be started again (T) before a switch back",
        colour.other().word()
    ));
    Ok(plan)
}
