//! Every command of the `:` line: its name, other names, arguments and
//! what it does. Completion, the help overlay and the "unknown command"
//! message are generated from this table, so they cannot drift from one
//! another; a test checks the app answers every name.

/// One command of the `:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    /// Other names it answers to.
    pub aliases: &'static [&'static str],
    pub args: &'static str,
    pub what: &'static str,
    /// Changes the deployment (after a plan the user confirms).
    pub changes: bool,
}

const fn cmd(name: &'static str, args: &'static str, what: &'static str) -> Command {
    Command {
        name,
        aliases: &[],
        args,
        what,
        changes: false,
    }
}

const fn changing(name: &'static str, args: &'static str, what: &'static str) -> Command {
    Command {
        changes: true,
        ..cmd(name, args, what)
    }
}

pub const COMMANDS: [Command; 39] = [
    // Where to look.
    cmd("layers", "", "the fleet by layer"),
    cmd("teams", "", "the fleet by agent team"),
    cmd("events", "[FILTER]", "the incident timeline"),
    cmd(
        "networks",
        "[FILTER]",
        "the networks, their zones and breaches",
    ),
    cmd(
        "logs",
        "[TARGET]",
        "the logs of a replica, service, team or layer",
    ),
    Command {
        aliases: &["pairs"],
        ..cmd("rollouts", "", "rollouts and blue-green pairs")
    },
    cmd(
        "nodes",
        "",
        "the Swarm's nodes: role, state, capacity, reservations, tasks",
    ),
    cmd(
        "audit",
        "[FILTER]",
        "findings against the reference's rules, worst first, with scores per layer and team (f: fix)",
    ),
    cmd(
        "at",
        "-15m|03:12|03:12:05|now",
        "the fleet, health and events as recorded then ([ and ] step a minute; now returns)",
    ),
    cmd(
        "host",
        "NAME|all",
        "show one host's replicas only (all: every host's)",
    ),
    cmd(
        "filter",
        "EXPR",
        "filter the table (label=value, state, !negation, /regex)",
    ),
    cmd("sort", "COLUMN [asc|desc]", "sort the table by a column"),
    cmd("search", "TEXT", "search the logs (in Logs)"),
    cmd(
        "promql",
        "EXPR",
        "ask Prometheus, answer as a table or a chart",
    ),
    changing(
        "exec",
        "REPLICA [COMMAND]",
        "a shell (or COMMAND) inside a replica",
    ),
    cmd("theme", "NAME", "switch the colour theme"),
    // What changes the deployment.
    changing("scale", "SERVICE|TEAM N", "scale to N replicas"),
    Command {
        aliases: &["resize"],
        ..changing(
            "update",
            "TARGET cpus=C memory=M [swap=S] [reservation=R] [pids=P]",
            "change limits",
        )
    },
    changing("restart", "TARGET", "restart replicas"),
    changing("stop", "TARGET", "stop replicas"),
    changing("start", "TARGET", "start stopped replicas"),
    changing(
        "profile",
        "NAME",
        "apply a resource profile of the topology",
    ),
    changing(
        "undo",
        "[TARGET]",
        "undo the last scale, resize or node change",
    ),
    // The Swarm's nodes (X drains, T activates, U undoes in the Nodes view).
    changing(
        "drain",
        "NODE",
        "move a node's tasks away (plan lists them)",
    ),
    changing(
        "pause-node",
        "NODE",
        "no new task on a node; its tasks run on",
    ),
    changing(
        "activate",
        "NODE",
        "a drained or paused node takes tasks again",
    ),
    changing("label-node", "NODE KEY=VALUE", "set a node label"),
    changing("unlabel-node", "NODE KEY", "remove a node label"),
    changing("promote", "NODE", "make a worker a manager"),
    changing("demote", "NODE", "make a manager a worker"),
    changing(
        "rollout",
        "SERVICE image=REF|restart [parallelism=N] [delay=D] [monitor=D] [healthy-within=D] [failure=pause|continue|rollback] [ratio=R] [order=stop-first|start-first]",
        "roll a new image (or new containers) over a service",
    ),
    changing(
        "canary",
        "SERVICE image=REF",
        "a canary in stages gated by Prometheus",
    ),
    changing(
        "rollback",
        "SERVICE",
        "roll a service back to its previous image or spec",
    ),
    cmd("pause", "SERVICE", "pause the rollout under way"),
    changing("resume", "SERVICE", "resume a paused rollout"),
    changing(
        "abort",
        "SERVICE",
        "stop a rollout where it is (failed replicas put back)",
    ),
    changing(
        "switch",
        "PAIR COLOUR",
        "give a blue-green pair's alias to COLOUR",
    ),
    changing(
        "retire",
        "PAIR COLOUR",
        "stop a blue-green pair's idle colour",
    ),
    Command {
        aliases: &["quit", "q!"],
        ..cmd("q", "", "quit agile-deck")
    },
];

/// The command `word` names (its name or an alias).
pub fn find(word: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

/// Every name and alias, for completion.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
        .filter(|n| !n.ends_with('!'))
        .collect();
    v.sort();
    v
}
