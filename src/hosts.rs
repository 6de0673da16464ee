//! The Docker hosts agile-deck watches, and what it knows of each link:
//! its name, address, what its daemon says of itself, whether it answers.
//! Plain data owned by the app; each host's sources run apart in the
//! runtime, so one slow or lost host never holds the others up.

use chrono::{DateTime, Utc};

use crate::engine::Remote;
use crate::model::{DaemonInfo, HostId};

/// The state of the link to one daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Up,
    /// Lost at `since` (the moment its sources first failed).
    Down {
        error: String,
        since: DateTime<Utc>,
    },
}

/// One host, as the app knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Short name for the header, the HOST column and `host=`.
    pub name: String,
    /// Where it is, e.g. `unix:///var/run/docker.sock`.
    pub url: String,
    pub daemon: DaemonInfo,
    pub link: Link,
    /// A full listing arrived (its replicas are known).
    pub listed: bool,
    /// No operation on it (`read_only` in its `[[host]]` table).
    pub read_only: bool,
    /// Its agent's state (an `ssh://` host read through it), and since when.
    pub agent: Option<(Remote, DateTime<Utc>)>,
}

impl Host {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Host {
        Host {
            name: name.into(),
            url: url.into(),
            daemon: DaemonInfo::default(),
            link: Link::Connecting,
            listed: false,
            read_only: false,
            agent: None,
        }
    }

    /// The header's and the journal's label: `name (url)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.url)
    }

    /// Its daemon answers and its figures are fresh.
    pub fn is_up(&self) -> bool {
        self.link == Link::Up && self.trouble().is_none()
    }

    /// When the link was lost, if it is.
    pub fn lost_since(&self) -> Option<DateTime<Utc>> {
        match self.link {
            Link::Down { since, .. } => Some(since),
            _ => None,
        }
    }

    /// Why it counts as lost and since when: its daemon does not answer,
    /// or its agent's channel dropped (its figures are stale either way).
    pub fn trouble(&self) -> Option<(String, DateTime<Utc>)> {
        match (&self.link, &self.agent) {
            (Link::Down { error, since }, _) => Some((error.clone(), *since)),
            (_, Some((Remote::Lost(e), since))) => Some((format!("agent: {e}"), *since)),
            _ => None,
        }
    }

    /// Since when its replicas are stale (see `trouble`).
    pub fn stale_since(&self) -> Option<DateTime<Utc>> {
        self.trouble().map(|(_, since)| since)
    }

    /// Why its agent cannot be used (figures from Docker's streams).
    pub fn agent_unusable(&self) -> Option<&str> {
        match &self.agent {
            Some((Remote::Unusable(why), _)) => Some(why),
            _ => None,
        }
    }
}

/// Every host, in the order given; `HostId` is the index. (Which host
/// `:host NAME` shows is the fleet's: `Fleet::focus`.)
#[derive(Clone, Debug, PartialEq)]
pub struct Hosts {
    list: Vec<Host>,
}

impl Hosts {
    pub fn new(list: Vec<Host>) -> Hosts {
        assert!(!list.is_empty(), "at least one host");
        Hosts { list }
    }

    pub fn single(name: impl Into<String>, url: impl Into<String>) -> Hosts {
        Hosts::new(vec![Host::new(name, url)])
    }

    pub fn get(&self, id: HostId) -> &Host {
        &self.list[id.index()]
    }

    pub fn get_mut(&mut self, id: HostId) -> &mut Host {
        &mut self.list[id.index()]
    }

    pub fn iter(&self) -> impl Iterator<Item = (HostId, &Host)> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, h)| (HostId(i as u16), h))
    }

    pub fn ids(&self) -> impl Iterator<Item = HostId> + use<> {
        (0..self.list.len() as u16).map(HostId)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// More than one host: replicas show where they run.
    pub fn several(&self) -> bool {
        self.list.len() > 1
    }

    pub fn by_name(&self, name: &str) -> Option<HostId> {
        self.iter().find(|(_, h)| h.name == name).map(|(id, _)| id)
    }

    pub fn name(&self, id: HostId) -> &str {
        &self.get(id).name
    }

    /// The first host. With one host it is the host; with several it is
    /// what the single-host parts of the screen (version, figures) show.
    pub fn first(&self) -> &Host {
        &self.list[0]
    }

    /// Every host has been listed once: the fleet is complete.
    pub fn all_listed(&self) -> bool {
        self.list.iter().all(|h| h.listed)
    }

    /// Some host has been listed: there is something to show.
    pub fn any_listed(&self) -> bool {
        self.list.iter().any(|h| h.listed)
    }

    pub fn up_count(&self) -> usize {
        self.list.iter().filter(|h| h.is_up()).count()
    }

    /// A Swarm manager among the hosts: it lists services, tasks and nodes.
    pub fn manager(&self) -> Option<HostId> {
        self.iter()
            .find(|(_, h)| h.is_up() && h.daemon.is_swarm_manager())
            .map(|(id, _)| id)
    }

    /// The host whose daemon is this Swarm node, if it is one of ours.
    pub fn of_node(&self, node_id: &str) -> Option<HostId> {
        self.iter()
            .find(|(_, h)| !node_id.is_empty() && h.daemon.node_id == node_id)
            .map(|(id, _)| id)
    }

    /// Names for `host=` and `:host` completion.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|h| h.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_states() {
        let mut hosts = Hosts::new(vec![
            Host::new("a", "unix:///a.sock"),
            Host::new("b", "unix:///b.sock"),
        ]);
        assert!(hosts.several());
        assert_eq!(hosts.by_name("b"), Some(HostId(1)));
        assert_eq!(hosts.by_name("c"), None);
        assert_eq!(hosts.up_count(), 0);
        hosts.get_mut(HostId(1)).link = Link::Up;
        hosts.get_mut(HostId(1)).daemon.swarm = crate::model::SwarmRole::Manager;
        hosts.get_mut(HostId(1)).daemon.node_id = "n2".into();
        assert_eq!(hosts.manager(), Some(HostId(1)));
        assert_eq!(hosts.of_node("n2"), Some(HostId(1)));
        assert_eq!(hosts.of_node(""), None);
        assert_eq!(hosts.get(HostId(0)).label(), "a (unix:///a.sock)");
    }

    #[test]
    fn a_lost_agent_makes_the_host_lost_and_an_unusable_one_is_said() {
        let mut h = Host::new("web-2", "ssh://ops@web-2");
        h.link = Link::Up;
        let since = Utc::now();
        h.agent = Some((Remote::Up("agent 0.1.0, cgroup v2".into()), since));
        assert!(h.is_up() && h.trouble().is_none());
        h.agent = Some((Remote::Lost("the agent's channel closed".into()), since));
        assert!(!h.is_up());
        assert_eq!(
            h.trouble(),
            Some(("agent: the agent's channel closed".into(), since))
        );
        assert_eq!(h.stale_since(), Some(since));
        // The daemon's own trouble comes first.
        h.link = Link::Down {
            error: "events: refused".into(),
            since,
        };
        assert_eq!(h.trouble().unwrap().0, "events: refused");
        h.link = Link::Up;
        h.agent = Some((Remote::Unusable("not installed on web-2".into()), since));
        assert!(h.is_up(), "Docker's streams give its figures");
        assert_eq!(h.agent_unusable(), Some("not installed on web-2"));
    }
}
