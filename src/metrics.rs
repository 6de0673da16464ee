//! Service metrics: the topology's named PromQL queries (`[[metric]]`),
//! which rows they apply to, their placeholders, how their values read in a
//! cell, and the latest answers (`Store`).
//!
//! A query is written once per kind of row with placeholders (`$layer`,
//! `$team`, `$service`, `$container`, `$instance`) that are filled in per
//! row, so only the rows on screen are asked about.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::format;
use crate::prometheus::{Data, PromError, Query};

/// The kind of row a query is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Layer,
    Team,
    Service,
    Replica,
}

impl Scope {
    /// Placeholders a row of this kind can fill.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Scope::Layer => &["layer"],
            Scope::Team => &["team"],
            Scope::Service => &["service", "layer", "team"],
            Scope::Replica => &["container", "instance", "service", "layer", "team"],
        }
    }
}

pub const PLACEHOLDERS: [&str; 5] = ["layer", "team", "service", "container", "instance"];

/// How a value reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Unit {
    #[default]
    #[serde(rename = "")]
    Plain,
    /// Events per second: `12.3/s`.
    #[serde(rename = "/s")]
    PerSecond,
    /// A 0–1 ratio shown as a percentage: `0.4%`.
    #[serde(rename = "%")]
    Ratio,
    /// Seconds, shown as `182ms` or `1.25s`.
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "bytes")]
    Bytes,
}

/// A `[[metric]]` as written in the topology file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    pub name: String,
    pub scope: Scope,
    pub expr: String,
    #[serde(default)]
    pub unit: Unit,
    pub warn: Option<f64>,
    pub critical: Option<f64>,
    /// Only rows whose name matches this pattern (`*`, `{word}` as in rules).
    #[serde(rename = "match")]
    pub only: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Metric {
    /// Column header.
    pub name: String,
    pub scope: Scope,
    pub expr: String,
    pub unit: Unit,
    /// At or above: warning / critical style.
    pub warn: Option<f64>,
    pub critical: Option<f64>,
    only: Option<Regex>,
}

/// `$name` placeholders in an expression, in order of appearance.
pub fn placeholders_in(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        out.push(&after[..len]);
        rest = &after[len..];
    }
    out
}

impl Metric {
    /// Check a raw metric; `compile` turns a `match` pattern into a regex
    /// (the topology's pattern syntax).
    pub fn from_raw(
        raw: RawMetric,
        compile: impl Fn(&str) -> Result<Regex, String>,
    ) -> Result<Metric, String> {
        if raw.name.trim().is_empty() {
            return Err("a metric needs a name (its column header)".into());
        }
        if raw.expr.trim().is_empty() {
            return Err(format!("metric {:?} has an empty expr", raw.name));
        }
        for p in placeholders_in(&raw.expr) {
            if !PLACEHOLDERS.contains(&p) {
                return Err(format!(
                    "metric {:?}: unknown placeholder ${p}; the placeholders are ${}",
                    raw.name,
                    PLACEHOLDERS.join(", $")
                ));
            }
            if !raw.scope.placeholders().contains(&p) {
                return Err(format!(
                    "metric {:?}: ${p} is not known for {:?} rows; they fill ${}",
                    raw.name,
                    raw.scope,
                    raw.scope.placeholders().join(", $")
                ));
            }
        }
        if let (Some(w), Some(c)) = (raw.warn, raw.critical)
            && w > c
        {
            return Err(format!(
                "metric {:?}: warn ({w}) is above critical ({c})",
                raw.name
            ));
        }
        let only = raw.only.as_deref().map(compile).transpose()?;
        Ok(Metric {
            name: raw.name,
            scope: raw.scope,
            expr: raw.expr,
            unit: raw.unit,
            warn: raw.warn,
            critical: raw.critical,
            only,
        })
    }

    pub fn applies_to(&self, scope: Scope, row: &str) -> bool {
        self.scope == scope && self.only.as_ref().is_none_or(|re| re.is_match(row))
    }

    /// The query for one row; None when the row cannot fill a placeholder
    /// (a service row in a layer with no team, say).
    pub fn expand(&self, vars: &Vars) -> Option<String> {
        let mut out = self.expr.clone();
        // Longest names first would matter if one were a prefix of another;
        // none is, and each `$name` is replaced whole.
        for p in placeholders_in(&self.expr)
            .into_iter()
            .collect::<BTreeSet<_>>()
        {
            let value = vars.get(p)?;
            out = replace_placeholder(&out, p, &escape_label_value(value));
        }
        Some(out)
    }

    pub fn format(&self, value: f64) -> String {
        format_value(value, self.unit)
    }

    pub fn level(&self, value: f64) -> Level {
        if self.critical.is_some_and(|c| value >= c) {
            Level::Critical
        } else if self.warn.is_some_and(|w| value >= w) {
            Level::Warning
        } else {
            Level::Normal
        }
    }
}

/// Replace `$name` where it is not the start of a longer word.
fn replace_placeholder(expr: &str, name: &str, value: &str) -> String {
    let token = format!("${name}");
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(&token) {
        let after = &rest[i + token.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&token);
        } else {
            out.push_str(value);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A label value inside a PromQL double-quoted string.
fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What a row fills placeholders with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vars {
    pub layer: Option<String>,
    pub team: Option<String>,
    pub service: Option<String>,
    pub container: Option<String>,
    pub instance: Option<String>,
}

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "layer" => self.layer.as_deref(),
            "team" => self.team.as_deref(),
            "service" => self.service.as_deref(),
            "container" => self.container.as_deref(),
            "instance" => self.instance.as_deref(),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Normal,
    Warning,
    Critical,
}

/// A value in its unit, short enough for a cell.
pub fn format_value(v: f64, unit: Unit) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Whole numbers read as such for counts (gauges), not for rates.
    let whole_ok = unit == Unit::Plain;
    let num = |x: f64| {
        let a = x.abs();
        if a >= 10_000.0 {
            format!("{:.1}k", x / 1000.0)
        } else if a >= 100.0 || (whole_ok && (x - x.round()).abs() < 1e-9) {
            format!("{x:.0}")
        } else if a >= 1.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    match unit {
        Unit::Plain => num(v),
        Unit::PerSecond => format!("{}/s", num(v)),
        Unit::Ratio => {
            let p = v * 100.0;
            if p != 0.0 && p.abs() < 0.1 {
                format!("{p:.2}%")
            } else {
                format!("{p:.1}%")
            }
        }
        Unit::Seconds => {
            let ms = v * 1000.0;
            if v.abs() >= 1.0 {
                format!("{v:.2}s")
            } else if ms.abs() >= 10.0 {
                format!("{ms:.0}ms")
            } else {
                format!("{ms:.1}ms")
            }
        }
        Unit::Bytes => format::bytes(v),
    }
}

/// Which cell (or chart) an answer is for: a row and one of the topology's
/// metrics (by index).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    pub scope: Scope,
    pub row: String,
    pub metric: usize,
}

/// A question for Prometheus: a table cell or a detail chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub key: CellKey,
    pub chart: bool,
    pub query: Query,
}

/// How far back detail charts look, and their resolution.
pub const CHART_SPAN: Duration = Duration::from_secs(15 * 60);
pub const CHART_STEP: Duration = Duration::from_secs(15);

impl Request {
    pub fn cell(key: CellKey, expr: String) -> Request {
        Request {
            key,
            chart: false,
            query: Query::Instant { expr },
        }
    }

    pub fn chart(key: CellKey, expr: String) -> Request {
        Request {
            key,
            chart: true,
            query: Query::Range {
                expr,
                span: CHART_SPAN,
                step: CHART_STEP,
            },
        }
    }
}

/// What a cell shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    Value {
        at: f64,
        value: f64,
    },
    /// An empty vector: nothing matches (yet).
    NoData,
    /// The query returns several series where a row needs one: it should
    /// aggregate (`sum(…)`).
    Many(usize),
    /// A range vector or a string where a number was expected.
    NotANumber(&'static str),
}

impl Reading {
    pub fn from_data(data: &Data) -> Reading {
        match data {
            Data::Vector(v) if v.is_empty() => Reading::NoData,
            Data::Vector(v) if v.len() == 1 => Reading::Value {
                at: v[0].at,
                value: v[0].value,
            },
            Data::Vector(v) => Reading::Many(v.len()),
            Data::Scalar { at, value } => Reading::Value {
                at: *at,
                value: *value,
            },
            Data::Matrix(_) => Reading::NotANumber("range vector"),
            Data::Text { .. } => Reading::NotANumber("string"),
        }
    }
}

/// A detail chart: points of the one series, or why there are none.
pub type Chart = Result<Vec<(f64, f64)>, String>;

fn chart_from(data: &Data) -> Chart {
    match data {
        Data::Matrix(m) if m.is_empty() => Ok(Vec::new()),
        Data::Matrix(m) if m.len() == 1 => Ok(m[0].points.clone()),
        Data::Matrix(m) => Err(format!("{} series: aggregate the query", m.len())),
        _ => Err("not a range".into()),
    }
}

/// The latest answers, and how Prometheus is doing.
#[derive(Debug, Default)]
pub struct Store {
    pub cells: HashMap<CellKey, Result<Reading, PromError>>,
    pub charts: HashMap<CellKey, Result<Chart, PromError>>,
    /// Errors of the last batch, deduplicated: logged when they change.
    pub errors: Vec<String>,
    /// The first error of the last batch in a word, for the header.
    pub trouble: Option<String>,
    /// A batch answered (any cell), so the header can say "ok".
    pub answered: bool,
}

impl Store {
    /// Take a batch of answers; returns whether anything on screen changed
    /// and the error lines to log (only when they differ from the last batch).
    pub fn apply(
        &mut self,
        metrics: &[Metric],
        results: Vec<(Request, Result<Data, PromError>)>,
    ) -> (bool, Vec<String>) {
        let mut changed = false;
        let mut errors = BTreeSet::new();
        let mut ok = false;
        let mut trouble = None;
        for (req, result) in results {
            if let Err(e) = &result {
                trouble.get_or_insert_with(|| e.short());
                let what = metrics
                    .get(req.key.metric)
                    .map(|m| m.name.as_str())
                    .unwrap_or("?");
                // Connection trouble is Prometheus's, not a query's: one line.
                let line = match e {
                    PromError::Connect(_) | PromError::Timeout(_) => e.to_string(),
                    _ => format!("{what} of {}: {e}", req.key.row),
                };
                errors.insert(line);
            } else {
                ok = true;
            }
            if req.chart {
                let new = result.map(|d| chart_from(&d));
                if self.charts.get(&req.key) != Some(&new) {
                    self.charts.insert(req.key, new);
                    changed = true;
                }
            } else {
                let new = result.map(|d| Reading::from_data(&d));
                if self.cells.get(&req.key) != Some(&new) {
                    self.cells.insert(req.key, new);
                    changed = true;
                }
            }
        }
        let errors: Vec<String> = errors.into_iter().collect();
        let log = if errors != self.errors {
            errors.clone()
        } else {
            Vec::new()
        };
        if errors.is_empty() && !self.errors.is_empty() {
            log::info!("prometheus answers again");
        }
        changed |= errors != self.errors || ok != self.answered;
        self.errors = errors;
        self.trouble = trouble;
        self.answered = ok;
        (changed, log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::Series;

    fn metric(scope: Scope, expr: &str) -> Result<Metric, String> {
        Metric::from_raw(
            RawMetric {
                name: "req/s".into(),
                scope,
                expr: expr.into(),
                unit: Unit::PerSecond,
                warn: Some(10.0),
                critical: Some(20.0),
                only: None,
            },
            |p| Regex::new(&format!("^{}$", p.replace('*', ".*"))).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn placeholders_are_checked_against_the_scope() {
        assert_eq!(
            placeholders_in(r#"rate(x{a="$layer",b="$team_x"}[1m]) $"#),
            vec!["layer", "team_x", ""]
        );
        assert!(metric(Scope::Layer, r#"sum(x{layer="$layer"})"#).is_ok());
        let e = metric(Scope::Team, r#"sum(x{layer="$layer"})"#).unwrap_err();
        assert!(e.contains("$layer is not known for Team rows"), "{e}");
        let e = metric(Scope::Replica, r#"x{a="$pod"}"#).unwrap_err();
        assert!(e.contains("unknown placeholder $pod"), "{e}");
    }

    #[test]
    fn expansion_fills_and_escapes() {
        let m = metric(
            Scope::Service,
            r#"sum(rate(r{service="$service",layer="$layer"}[1m])) + $services"#,
        );
        // `$services` is not a placeholder: it fails validation.
        assert!(m.is_err());
        let m = metric(
            Scope::Service,
            r#"sum(rate(r{service="$service",layer="$layer"}[1m]))"#,
        )
        .unwrap();
        let vars = Vars {
            service: Some(r#"we"b\ui"#.into()),
            layer: Some("frontend".into()),
            ..Default::default()
        };
        assert_eq!(
            m.expand(&vars).unwrap(),
            r#"sum(rate(r{service="we\"b\\ui",layer="frontend"}[1m]))"#
        );
        // A missing value: no query rather than a wrong one.
        assert_eq!(m.expand(&Vars::default()), None);
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(format_value(12.345, Unit::PerSecond), "12.3/s");
        assert_eq!(format_value(940.4, Unit::PerSecond), "940/s");
        assert_eq!(format_value(1.0, Unit::PerSecond), "1.0/s");
        assert_eq!(format_value(0.0, Unit::PerSecond), "0.00/s");
        assert_eq!(format_value(12_345.0, Unit::PerSecond), "12.3k/s");
        assert_eq!(format_value(0.004, Unit::Ratio), "0.4%");
        assert_eq!(format_value(0.0004, Unit::Ratio), "0.04%");
        assert_eq!(format_value(0.0, Unit::Ratio), "0.0%");
        assert_eq!(format_value(0.182, Unit::Seconds), "182ms");
        assert_eq!(format_value(0.0045, Unit::Seconds), "4.5ms");
        assert_eq!(format_value(1.25, Unit::Seconds), "1.25s");
        assert_eq!(format_value(3.0, Unit::Plain), "3");
        assert_eq!(format_value(0.25, Unit::Plain), "0.25");
        assert_eq!(format_value(f64::NAN, Unit::Seconds), "NaN");
        assert_eq!(format_value(f64::INFINITY, Unit::Plain), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY, Unit::Plain), "-Inf");
        assert_eq!(format_value(2048.0, Unit::Bytes), "2.0K");
    }

    #[test]
    fn thresholds() {
        let m = metric(Scope::Layer, "x").unwrap();
        assert_eq!(m.level(5.0), Level::Normal);
        assert_eq!(m.level(10.0), Level::Warning);
        assert_eq!(m.level(25.0), Level::Critical);
        assert_eq!(m.level(f64::NAN), Level::Normal);
    }

    #[test]
    fn a_batch_updates_cells_and_logs_errors_once() {
        let metrics = vec![metric(Scope::Layer, "x").unwrap()];
        let key = CellKey {
            scope: Scope::Layer,
            row: "data".into(),
            metric: 0,
        };
        let req = Request::cell(key.clone(), "x".into());
        let mut store = Store::default();
        let one = |v: f64| {
            Ok(Data::Vector(vec![Series {
                labels: Default::default(),
                at: 1.0,
                value: v,
            }]))
        };
        let (changed, log) = store.apply(&metrics, vec![(req.clone(), one(2.0))]);
        assert!(changed && log.is_empty());
        assert_eq!(
            store.cells[&key],
            Ok(Reading::Value {
                at: 1.0,
                value: 2.0
            })
        );
        let (changed, _) = store.apply(&metrics, vec![(req.clone(), one(2.0))]);
        assert!(!changed, "same answer, nothing to redraw");
        let down = || Err(PromError::Connect("Connection refused".into()));
        let (changed, log) = store.apply(&metrics, vec![(req.clone(), down())]);
        assert!(changed);
        assert_eq!(log, vec!["cannot reach Prometheus: Connection refused"]);
        let (_, log) = store.apply(&metrics, vec![(req.clone(), down())]);
        assert!(log.is_empty(), "the same error is logged once");
        let (changed, log) = store.apply(&metrics, vec![(req, one(3.0))]);
        assert!(changed && log.is_empty() && store.errors.is_empty());
        // Several series where one is needed.
        assert_eq!(
            Reading::from_data(&Data::Vector(vec![
                Series {
                    labels: Default::default(),
                    at: 1.0,
                    value: 1.0
                };
                3
            ])),
            Reading::Many(3)
        );
    }
}
