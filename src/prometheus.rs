//! The Prometheus HTTP API client: `/api/v1/query` and `/api/v1/query_range`
//! with reqwest, answers parsed with serde_json.
//!
//! Values are strings in the API ("1.5", "NaN", "+Inf"). Error bodies are
//! read as JSON before deciding what failed: Prometheus answers a bad query
//! with HTTP 400 and `{"status":"error","errorType":"bad_data",…}`, and only
//! a body that is not its JSON makes the HTTP status the whole story.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// How to authenticate. Secrets come from the environment or files, never
/// from the command line (it shows in `ps`).
#[derive(Clone, Default, PartialEq)]
pub enum Auth {
    #[default]
    None,
    Bearer(String),
    Basic {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => write!(f, "none"),
            Auth::Bearer(_) => write!(f, "bearer token"),
            Auth::Basic { user, .. } => write!(f, "basic auth as {user}"),
        }
    }
}

/// One series of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// Evaluation time, Unix seconds.
    pub at: f64,
    pub value: f64,
}

/// One series of a range vector: (Unix seconds, value) points.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

/// What a query returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Vector(Vec<Series>),
    Matrix(Vec<RangeSeries>),
    Scalar { at: f64, value: f64 },
    Text { at: f64, value: String },
}

/// Why a query gave no data. `short()` fits a table cell; `Display` is the
/// whole story for the detail view and the log.
#[derive(Clone, Debug, PartialEq)]
pub enum PromError {
    /// No connection (refused, DNS, TLS).
    Connect(String),
    Timeout(Duration),
    /// Prometheus answered with an API error (`bad_data`, `timeout`,
    /// `execution`, …).
    Api {
        kind: String,
        message: String,
    },
    /// An HTTP error without a Prometheus JSON body (proxy, 5xx page).
    Http {
        status: u16,
        body: String,
    },
    /// A 2xx answer that is not what the API returns.
    Body(String),
}

impl PromError {
    pub fn short(&self) -> String {
        match self {
            PromError::Connect(_) => "down".into(),
            PromError::Timeout(_) => "timeout".into(),
            PromError::Api { kind, .. } => kind.clone(),
            PromError::Http { status, .. } => format!("HTTP {status}"),
            PromError::Body(_) => "bad answer".into(),
        }
    }
}

impl std::fmt::Display for PromError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromError::Connect(e) => write!(f, "cannot reach Prometheus: {e}"),
            PromError::Timeout(d) => write!(f, "no answer within {:.1} s", d.as_secs_f64()),
            PromError::Api { kind, message } => write!(f, "{kind}: {message}"),
            PromError::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            PromError::Body(e) => write!(f, "not a Prometheus answer: {e}"),
        }
    }
}

/// A sample value as the API writes it. Go's formatting gives `NaN`,
/// `+Inf` and `-Inf`; Rust's parser takes those too (any case), which the
/// tests pin down.
pub fn parse_value(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// The first characters of a body, on one line, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(120).collect();
    if one_line.chars().count() > 120 {
        out.push('…');
    }
    if out.is_empty() {
        "(empty body)".into()
    } else {
        out
    }
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `[1700000000.123, "1.5"]` → (time, value).
fn point(v: &Value) -> Result<(f64, f64), String> {
    let pair = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("a sample is not [time, value]")?;
    let at = pair[0].as_f64().ok_or("a sample time is not a number")?;
    let raw = pair[1].as_str().ok_or("a sample value is not a string")?;
    let value = parse_value(raw).ok_or_else(|| format!("sample value {raw:?} is not a number"))?;
    Ok((at, value))
}

fn data_of(data: &Value) -> Result<Data, String> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or("no data.resultType")?;
    let result = data.get("result").ok_or("no data.result")?;
    let items = || result.as_array().ok_or("data.result is not a list");
    match kind {
        "vector" => items()?
            .iter()
            .map(|s| {
                let (at, value) = point(s.get("value").ok_or("a series has no value")?)?;
                Ok(Series {
                    labels: labels_of(s),
                    at,
                    value,
                })
            })
            .collect::<Result<_, String>>()
            .map(Data::Vector),
        "matrix" => items()?
            .iter()
            .map(|s| {
                let points = s
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or("a series has no values")?
                    .iter()
                    .map(point)
                    .collect::<Result<_, String>>()?;
                Ok(RangeSeries {
                    labels: labels_of(s),
                    points,
                })
            })
            .collect::<Result<_, String>>()
            .map(Data::Matrix),
        "scalar" => {
            let (at, value) = point(result)?;
            Ok(Data::Scalar { at, value })
        }
        "string" => {
            let pair = result
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or("bad string result")?;
            Ok(Data::Text {
                at: pair[0].as_f64().unwrap_or_default(),
                value: pair[1].as_str().unwrap_or_default().to_string(),
            })
        }
        other => Err(format!("unknown resultType {other:?}")),
    }
}

/// Decide what an answer means: the JSON body first, the HTTP status second.
pub fn parse_response(status: u16, body: &[u8]) -> Result<Data, PromError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(Value::as_str)
    {
        Some("success") => {
            let data = json
                .as_ref()
                .and_then(|j| j.get("data"))
                .ok_or_else(|| PromError::Body("status success without data".into()))?;
            data_of(data).map_err(PromError::Body)
        }
        Some("error") => {
            let j = json.as_ref().expect("status came from it");
            let field = |k: &str| {
                j.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Err(PromError::Api {
                kind: Some(field("errorType"))
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| "error".into()),
                message: field("error"),
            })
        }
        _ if status >= 300 => Err(PromError::Http {
            status,
            body: snippet(body),
        }),
        _ => Err(PromError::Body(snippet(body))),
    }
}

/// What to ask.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    Instant {
        expr: String,
    },
    /// From `end - span` to `end` (now), one point per `step`.
    Range {
        expr: String,
        span: Duration,
        step: Duration,
    },
}

impl Query {
    pub fn expr(&self) -> &str {
        match self {
            Query::Instant { expr } | Query::Range { expr, .. } => expr,
        }
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    pub timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prometheus at {} ({:?})", self.base, self.auth)
    }
}

impl Client {
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<Client, String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("Prometheus URL {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("Prometheus URL {url:?}: use http:// or https://"));
        }
        // reqwest is built without a crypto provider of its own: use ring,
        // which bollard's TLS already brings. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("agile-deck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            auth,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Run a query, with the client's timeout (Prometheus is told the same,
    /// so it stops working on a query nobody waits for).
    pub async fn run(&self, query: &Query) -> Result<Data, PromError> {
        let timeout = format!("{}ms", self.timeout.as_millis());
        let (path, params) = match query {
            Query::Instant { expr } => ("query", vec![("query", expr.clone())]),
            Query::Range { expr, span, step } => {
                let end = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
                let start = end - span.as_secs_f64();
                (
                    "query_range",
                    vec![
                        ("query", expr.clone()),
                        ("start", format!("{start:.3}")),
                        ("end", format!("{end:.3}")),
                        ("step", format!("{}s", step.as_secs().max(1))),
                    ],
                )
            }
        };
        let mut params = params;
        params.push(("timeout", timeout));
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/{path}", self.base), &params)
            .map_err(|e| PromError::Body(format!("cannot build the URL: {e}")))?;
        let mut req = self.http.get(url).timeout(self.timeout);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
        };
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                PromError::Timeout(self.timeout)
            } else if e.is_connect() {
                // The innermost cause says it best ("Connection refused").
                let mut cause: &dyn std::error::Error = &e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                PromError::Connect(cause.to_string())
            } else {
                PromError::Connect(e.to_string())
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(classify)?;
        parse_response(status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_include_nan_and_infinities() {
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("1.5e-3"), Some(0.0015));
        assert_eq!(parse_value("12"), Some(12.0));
        assert_eq!(parse_value("twelve"), None);
    }

    #[test]
    fn an_instant_vector() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"service":"web-ui"},"value":[1700000000.5,"2.25"]},
            {"metric":{},"value":[1700000000.5,"NaN"]}]}}"#;
        let Data::Vector(v) = parse_response(200, body).unwrap() else {
            panic!("not a vector")
        };
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels["service"], "web-ui");
        assert_eq!((v[0].at, v[0].value), (1700000000.5, 2.25));
        assert!(v[1].value.is_nan());
    }

    #[test]
    fn a_matrix_scalar_and_string() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"b"},"values":[[1,"1"],[2,"+Inf"]]}]}}"#;
        let Data::Matrix(m) = parse_response(200, body).unwrap() else {
            panic!("not a matrix")
        };
        assert_eq!(m[0].points, vec![(1.0, 1.0), (2.0, f64::INFINITY)]);
        let body = br#"{"status":"success","data":{"resultType":"scalar","result":[3,"-Inf"]}}"#;
        assert_eq!(
            parse_response(200, body).unwrap(),
            Data::Scalar {
                at: 3.0,
                value: f64::NEG_INFINITY
            }
        );
        let body = br#"{"status":"success","data":{"resultType":"string","result":[3,"hi"]}}"#;
        assert_eq!(
            parse_response(200, body).unwrap(),
            Data::Text {
                at: 3.0,
                value: "hi".into()
            }
        );
    }

    #[test]
    fn errors_are_read_from_the_json_body_first() {
        // Prometheus answers a syntax error with 400 and a JSON body.
        let body =
            br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        let e = parse_response(400, body).unwrap_err();
        assert_eq!(
            e,
            PromError::Api {
                kind: "bad_data".into(),
                message: "1:5: parse error: unexpected".into()
            }
        );
        assert_eq!(e.short(), "bad_data");
        // A 503 with its JSON error is still the API's error.
        let body = br#"{"status":"error","errorType":"unavailable","error":"shutting down"}"#;
        assert_eq!(
            parse_response(503, body).unwrap_err().short(),
            "unavailable"
        );
        // A proxy's HTML page: the HTTP status is all there is.
        let e = parse_response(502, b"<html>\n<body>Bad   Gateway</body></html>").unwrap_err();
        assert_eq!(
            e,
            PromError::Http {
                status: 502,
                body: "<html> <body>Bad Gateway</body></html>".into()
            }
        );
        // 200 with something else.
        assert_eq!(parse_response(200, b"").unwrap_err().short(), "bad answer");
        assert!(matches!(
            parse_response(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}}"#),
            Err(PromError::Body(m)) if m.contains("\"x\"")
        ));
    }

    #[test]
    fn urls_and_secrets() {
        assert!(Client::new("ftp://x", Auth::None, Duration::from_secs(1)).is_err());
        assert!(Client::new("not a url", Auth::None, Duration::from_secs(1)).is_err());
        let c = Client::new(
            "http://127.0.0.1:9090/prom/",
            Auth::Bearer("s3cret".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:9090/prom");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
