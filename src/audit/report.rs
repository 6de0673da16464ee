//! `agile-deck audit`: the findings as text or JSON (the schema is
//! `assets/audit.schema.json`), the rule list, and `--fail-on`.

use serde_json::{Value, json};
use strum::IntoEnumIterator;

use super::{Audit, Finding, Score, Severity};
use crate::rulebook::RuleId;
use crate::topology::Topology;

/// The JSON's `schema` value; a change that breaks readers changes it.
pub const SCHEMA: &str = "agile-deck/audit/1";

/// `--fail-on` reached: a finding at least this severe counts.
#[derive(Debug)]
pub struct Reached {
    pub limit: Severity,
    pub count: usize,
}

impl std::fmt::Display for Reached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit: {} finding{} at {} or worse (--fail-on {})",
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.limit,
            self.limit
        )
    }
}

impl std::error::Error for Reached {}

pub fn reached(audit: &Audit, limit: Option<Severity>) -> Option<Reached> {
    let limit = limit?;
    let count = Severity::iter()
        .filter(|s| *s >= limit)
        .map(|s| audit.count(s))
        .sum();
    (count > 0).then_some(Reached { limit, count })
}

/// Scores, worst corner first: one with critical findings before any
/// without, then the lowest share passing, then the most warnings.
pub fn ranked(audit: &Audit, topology: &Topology) -> Vec<Score> {
    let mut scores: Vec<Score> = audit
        .scores(topology)
        .into_iter()
        .filter(|s| s.objects > 0)
        .collect();
    scores.sort_by(|a, b| {
        (b.critical > 0)
            .cmp(&(a.critical > 0))
            .then(a.percent().total_cmp(&b.percent()))
            .then(b.critical.cmp(&a.critical))
            .then(b.warning.cmp(&a.warning))
    });
    scores
}

/// `audit: 2 critical, 5 warning` (what counts; ignored ones apart).
pub fn summary(audit: &Audit) -> String {
    let ignored = audit.findings().iter().filter(|f| !f.counts()).count();
    let mut s = format!(
        "{} critical, {} warning, {} info",
        audit.count(Severity::Critical),
        audit.count(Severity::Warning),
        audit.count(Severity::Info)
    );
    if ignored > 0 {
        s.push_str(&format!(", {ignored} ignored"));
    }
    s
}

pub fn to_json(audit: &Audit, topology: &Topology, hosts: &[String]) -> Value {
    let findings: Vec<&Finding> = audit.findings();
    json!({
        "schema": SCHEMA,
        "generated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "hosts": hosts,
        "topology": topology.origin,
        "summary": {
            "critical": audit.count(Severity::Critical),
            "warning": audit.count(Severity::Warning),
            "info": audit.count(Severity::Info),
            "ignored": findings.iter().filter(|f| !f.counts()).count(),
            "objects": audit.objects(),
        },
        "scores": ranked(audit, topology).iter().map(|s| json!({
            "group": s.group,
            "name": s.name,
            "objects": s.objects,
            "passing": s.passing,
            "percent": (s.percent() * 10.0).round() / 10.0,
            "critical": s.critical,
            "warning": s.warning,
            "info": s.info,
        })).collect::<Vec<_>>(),
        "findings": findings,
    })
}

pub fn to_text(audit: &Audit, topology: &Topology, hosts: &[String]) -> String {
    let mut out = format!(
        "audit of {} ({} objects): {}\n",
        hosts.join(", "),
        audit.objects(),
        summary(audit)
    );
    let scores = ranked(audit, topology);
    if !scores.is_empty() {
        out.push_str("\nSCORE (objects passing every rule, worst first)\n");
        for s in &scores {
            out.push_str(&format!(
                "  {:<5} {:<14} {:>4}/{:<4} {:>4.0}%   {} critical, {} warning, {} info\n",
                s.group,
                s.name,
                s.passing,
                s.objects,
                s.percent(),
                s.critical,
                s.warning,
                s.info
            ));
        }
    }
    let findings = audit.findings();
    if findings.is_empty() {
        out.push_str("\nno findings\n");
    }
    for f in findings {
        out.push_str(&format!(
            "\n{:<8} {}  {}{}\n  seen:  {}\n  rule:  {}\n  fix:   {}\n",
            f.severity.as_ref().to_uppercase(),
            f.rule,
            f.object,
            match &f.object {
                super::Object::Container { host, .. } | super::Object::Network { host, .. }
                    if hosts.len() > 1 =>
                    format!(" on {host}"),
                _ => String::new(),
            },
            f.seen,
            f.source,
            f.fix
        ));
        if let Some(r) = &f.remedy {
            out.push_str(&format!("  f:     {r} (in the Audit view)\n"));
        }
        if let Some(why) = &f.ignored {
            out.push_str(&format!("  ignored: {why}\n"));
        }
    }
    out
}

/// `audit --rules`: every rule with its default severity and source.
pub fn rules_text() -> String {
    let mut out = String::from(
        "The audit's rules (change a severity or turn one off with [[rule]] in the config;\nsilence one finding with [[ignore]], which needs a reason):\n",
    );
    for r in RuleId::iter() {
        out.push_str(&format!(
            "\n{:<30} {}\n  {}\n  fix: {}\n",
            r.as_ref(),
            r.default_severity(),
            r.source(),
            r.fix()
        ));
    }
    out
}
