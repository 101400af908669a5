//! OpenTelemetry export: offload's router metrics and attempt spans, over OTLP/HTTP, to the
//! collector a team already runs for Claude Code and Codex.
//!
//! **Off unless configured**, the standard way or in offload's config (see
//! [`Settings::resolve`]). What is exported is always read from the ledger (`events.jsonl`),
//! which stays the one record: nothing is measured twice, and nothing is lost to a collector
//! that is down. A cursor per destination ([`export`]) says how far each one has been sent;
//! `offload export --since` sends any window again.
//!
//! **Never on a hot path.** The hook records to the ledger as always. `offload run` (after it
//! recorded its attempt) and the hook (on a user prompt or a session start, at most once a
//! minute; never on a tool call) start a short-lived detached flush when there is something to
//! send ([`export::kick`]): a `stat` of the cursor and the log, and a `posix_spawn` when they
//! differ. The flush itself posts with a deadline; a collector that is down costs it the
//! deadline, and the run nothing.
//!
//! **Delta temporality**, like Claude Code's default: each export sends what happened since the
//! previous one, cut at hour boundaries, so every point covers a window no other point covers
//! (a collector's `deltatocumulative` processor turns them into cumulative series for
//! Prometheus). Names follow OpenTelemetry's habits and Claude Code's own: `offload.*` metrics,
//! `session.id` as Claude Code sends it, units in UCUM (`s`, `{token}`).
//!
//! **Why hand-written OTLP.** The official `opentelemetry` + `opentelemetry-otlp` crates add
//! about 114 crates (tokio, hyper, reqwest, prost) and some 150 s to a clean build on a 2-core
//! machine, for two request types. OTLP/HTTP's encodings are stable (protobuf field numbers
//! never change; the JSON mapping is specified), so [`otlp`] writes both in ~400 lines, and the
//! test suite decodes what it writes with the official definitions (`opentelemetry-proto`, a
//! dev-dependency of the testkit only). `https://` endpoints are posted with the system's
//! `curl` (its CA store, proxies and client certificates), `http://` ones by offload itself.

pub mod export;
pub mod metrics;
pub mod otlp;
pub mod send;
pub mod trace;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::config::TelemetryConfig;

/// The two signals offload exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Metrics,
    Traces,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }
    fn upper(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Traces => "v1/traces",
        }
    }
}

/// OTLP/HTTP's two encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Protobuf,
    Json,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Protobuf => "http/protobuf",
            Protocol::Json => "http/json",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        }
    }
}

/// TLS files for an `https://` endpoint (handed to curl).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// Where and how one signal is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub signal: Signal,
    pub url: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub tls: Tls,
}

/// Default and bounds of a request's deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The export as configured: a target per enabled signal, the resource attributes, and what
/// offload could not do as asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub metrics: Option<Target>,
    pub traces: Option<Target>,
    /// `OTEL_RESOURCE_ATTRIBUTES` and the config's `resource_attributes` (not `service.name`,
    /// which is always `offload`).
    pub resource: Vec<(String, String)>,
    /// Settings offload did not follow, each with the reason and the fix.
    pub notes: Vec<String>,
    /// Where the settings came from (`environment`, `config`, `Claude Code settings`).
    pub sources: Vec<&'static str>,
}

/// One layer of `OTEL_*` variables.
type Layer = BTreeMap<String, String>;

impl Settings {
    /// Resolve from, in order of precedence: this process's environment (`var`), offload's
    /// config (`telemetry`), then the `env` of Claude Code's settings files when
    /// `telemetry.claude_settings` is on and they turn Claude Code's telemetry on.
    ///
    /// A signal is on when its exporter is `otlp` (`OTEL_METRICS_EXPORTER`,
    /// `OTEL_TRACES_EXPORTER`, or the config's `metrics`/`traces`), and off for `none`,
    /// `OTEL_SDK_DISABLED=true`, or a protocol offload does not speak (`grpc`: a note says so).
    pub fn resolve(
        var: impl Fn(&str) -> Option<String>,
        config: &TelemetryConfig,
        claude_env: impl FnOnce() -> Layer,
    ) -> Settings {
        let env: Layer = VARS
            .iter()
            .filter_map(|n| var(n).map(|v| (n.to_string(), v.trim().to_string())))
            .collect();
        let mut cfg = Layer::new();
        if config.metrics {
            cfg.insert("OTEL_METRICS_EXPORTER".into(), "otlp".into());
        }
        if config.traces {
            cfg.insert("OTEL_TRACES_EXPORTER".into(), "otlp".into());
        }
        if let Some(e) = &config.endpoint {
            cfg.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), e.trim().into());
        }
        if let Some(p) = &config.protocol {
            cfg.insert("OTEL_EXPORTER_OTLP_PROTOCOL".into(), p.trim().into());
        }
        if let Some(t) = config.timeout_ms {
            cfg.insert("OTEL_EXPORTER_OTLP_TIMEOUT".into(), t.to_string());
        }
        let claude = if config.claude_settings {
            let layer = claude_env();
            let on = layer
                .get("CLAUDE_CODE_ENABLE_TELEMETRY")
                .is_some_and(|v| crate::config::parse_bool(v) == Some(true));
            if on { layer } else { Layer::new() }
        } else {
            Layer::new()
        };
        let mut s = Settings::default();
        let layers: [(&Layer, &'static str); 3] = [
            (&env, "environment"),
            (&cfg, "config"),
            (&claude, "Claude Code settings"),
        ];
        let get = |name: &str| -> Option<(String, &'static str)> {
            layers.iter().find_map(|(l, src)| {
                l.get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v.clone(), *src))
            })
        };
        if get("OTEL_SDK_DISABLED").is_some_and(|(v, _)| v.eq_ignore_ascii_case("true")) {
            return s;
        }
        let mut sources = Vec::new();
        for signal in [Signal::Metrics, Signal::Traces] {
            let exporter = format!("OTEL_{}_EXPORTER", signal.upper());
            let Some((exporters, src)) = get(&exporter) else {
                continue;
            };
            let names: Vec<String> = exporters
                .split(',')
                .map(|e| e.trim().to_ascii_lowercase())
                .collect();
            if !names.iter().any(|e| e == "otlp") {
                if !names
                    .iter()
                    .all(|e| e == "none" || e == "console" || e == "prometheus")
                {
                    s.notes.push(format!(
                        "{exporter}={exporters} ({src}): offload exports over OTLP only (`otlp`)"
                    ));
                }
                continue;
            }
            sources.push(src);
            match target(signal, &get, &config.headers, &mut s.notes) {
                Some((t, used)) => {
                    sources.extend(used);
                    match signal {
                        Signal::Metrics => s.metrics = Some(t),
                        Signal::Traces => s.traces = Some(t),
                    }
                }
                None => continue,
            }
        }
        if s.metrics.is_none() && s.traces.is_none() {
            return s;
        }
        if let Some((pref, src)) = get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            && s.metrics.is_some()
            && !pref.eq_ignore_ascii_case("delta")
        {
            s.notes.push(format!(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE={pref} ({src}): offload sends \
                 delta sums and histograms (as Claude Code does by default); a collector's \
                 `deltatocumulative` processor makes them cumulative"
            ));
        }
        let mut resource: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &config.resource_attributes {
            resource.insert(k.trim().to_string(), v.to_string());
        }
        if let Some((attrs, _)) = get("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_pairs(&attrs) {
                resource.insert(k, v);
            }
        }
        resource.retain(|k, _| !k.is_empty() && k != "service.name");
        s.resource = resource.into_iter().collect();
        sources.sort();
        sources.dedup();
        s.sources = sources;
        s
    }

    /// From the real environment, offload's config and Claude Code's settings for `project`.
    pub fn from_env(config: &TelemetryConfig, project: Option<&Path>) -> Settings {
        Settings::resolve(crate::env::var, config, || claude_settings_env(project))
    }

    pub fn enabled(&self) -> bool {
        self.metrics.is_some() || self.traces.is_some()
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.metrics.iter().chain(self.traces.iter())
    }
}

/// The variables [`Settings::resolve`] reads.
pub const VARS: [&str; 24] = [
    "OTEL_SDK_DISABLED",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "CLAUDE_CODE_ENABLE_TELEMETRY",
];

type Get<'a> = dyn Fn(&str) -> Option<(String, &'static str)> + 'a;

fn target(
    signal: Signal,
    get: &Get<'_>,
    config_headers: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Option<(Target, Vec<&'static str>)> {
    let up = signal.upper();
    let per = |what: &str| get(&format!("OTEL_EXPORTER_OTLP_{up}_{what}"));
    let all = |what: &str| get(&format!("OTEL_EXPORTER_OTLP_{what}"));
    let either = |what: &str| per(what).or_else(|| all(what));
    let mut used = Vec::new();
    let (protocol, psrc) =
        either("PROTOCOL").unwrap_or_else(|| ("http/protobuf".into(), "default"));
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "http/protobuf" => Protocol::Protobuf,
        "http/json" => Protocol::Json,
        other => {
            notes.push(format!(
                "{} not exported: protocol {other:?} ({psrc}); offload speaks OTLP/HTTP only: \
                 set OTEL_EXPORTER_OTLP_PROTOCOL (or telemetry.protocol) to http/protobuf or \
                 http/json, with the collector's HTTP endpoint (port 4318)",
                signal.as_str()
            ));
            return None;
        }
    };
    let url = match per("ENDPOINT") {
        Some((u, src)) => {
            used.push(src);
            u
        }
        None => {
            let (base, src) =
                all("ENDPOINT").unwrap_or_else(|| ("http://localhost:4318".into(), "default"));
            used.push(src);
            // The signal's path goes before a query string, if the base has one.
            let (base, query) = match base.split_once('?') {
                Some((b, q)) => (b.to_string(), format!("?{q}")),
                None => (base, String::new()),
            };
            format!("{}/{}{query}", base.trim_end_matches('/'), signal.path())
        }
    };
    if let Err(e) = send::Url::parse(&url) {
        // Named without what could be a password.
        let shown = match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit('@').next().unwrap_or(rest);
                format!("{scheme}://{host}")
            }
            None => url.clone(),
        };
        notes.push(format!(
            "{} not exported: endpoint {shown:?}: {e}",
            signal.as_str()
        ));
        return None;
    }
    if let Some((c, src)) = either("COMPRESSION")
        && !c.eq_ignore_ascii_case("none")
    {
        notes.push(format!(
            "OTEL_EXPORTER_OTLP_COMPRESSION={c} ({src}): offload sends its (small) requests uncompressed"
        ));
    }
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in config_headers {
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    for what in ["HEADERS"] {
        if let Some((h, _)) = all(what) {
            for (k, v) in parse_pairs(&h) {
                headers.insert(k.to_ascii_lowercase(), v);
            }
        }
        if let Some((h, _)) = per(what) {
            for (k, v) in parse_pairs(&h) {
                headers.insert(k.to_ascii_lowercase(), v);
            }
        }
    }
    headers.retain(|k, v| {
        let ok = !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !ok {
            notes.push(format!("header {k:?} left out: not a valid HTTP header"));
        }
        // What frames the request is offload's to say: a header that claims the body is
        // compressed or chunked, or asks for an interim answer, would make the collector refuse
        // well-formed data.
        let framing = matches!(
            k.as_str(),
            "content-type"
                | "content-length"
                | "content-encoding"
                | "transfer-encoding"
                | "host"
                | "connection"
                | "expect"
                | "te"
                | "trailer"
                | "upgrade"
                | "keep-alive"
                | "proxy-connection"
        );
        if ok && framing {
            notes.push(format!(
                "header {k:?} left out: offload sets how its requests are framed"
            ));
        }
        ok && !framing
    });
    let timeout = match either("TIMEOUT") {
        None => DEFAULT_TIMEOUT,
        Some((t, src)) => match t.parse::<u64>() {
            Ok(ms) if (1..=MAX_TIMEOUT.as_millis() as u64).contains(&ms) => {
                Duration::from_millis(ms)
            }
            _ => {
                notes.push(format!(
                    "timeout {t:?} ({src}) is not 1 to {} milliseconds; using {} s",
                    MAX_TIMEOUT.as_millis(),
                    DEFAULT_TIMEOUT.as_secs()
                ));
                DEFAULT_TIMEOUT
            }
        },
    };
    let tls = Tls {
        ca: all("CERTIFICATE").map(|(v, _)| v),
        cert: all("CLIENT_CERTIFICATE").map(|(v, _)| v),
        key: all("CLIENT_KEY").map(|(v, _)| v),
    };
    used.retain(|s| *s != "default");
    Some((
        Target {
            signal,
            url,
            protocol,
            headers: headers.into_iter().collect(),
            timeout,
            tls,
        },
        used,
    ))
}

/// `k1=v1,k2=v2` with values percent-decoded (the W3C Baggage form `OTEL_*_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES` use); entries without `=` are skipped.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (percent_decode(k), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hexval = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `env` of the user's and the managed Claude Code settings, merged in Claude Code's order
/// (managed overriding the user's); only `OTEL_*` and `CLAUDE_CODE_ENABLE_TELEMETRY`. A
/// project's settings are left out (a repository would choose where the user's records go).
/// Each file read bounded (1 MiB).
pub fn claude_settings_env(project: Option<&Path>) -> Layer {
    claude_settings_env_of(project, |k| {
        k.starts_with("OTEL_") || k == "CLAUDE_CODE_ENABLE_TELEMETRY"
    })
}

/// The `env` entries of the user's and the managed Claude Code settings (managed overriding
/// the user's) whose names `wanted` takes; a project's settings are left out. Each file read
/// bounded (1 MiB).
pub fn claude_settings_env_of(project: Option<&Path>, wanted: impl Fn(&str) -> bool) -> Layer {
    let home = crate::env::var("HOME").map(std::path::PathBuf::from);
    let files =
        crate::tamper::settings_files(home.as_deref(), project, &crate::tamper::managed_dir());
    // settings_files lists managed first, then user, project, local. Only the user's own and
    // the managed ones count: a repository's `.claude/settings*.json` must not decide where
    // the user's records (and the user's collector credentials) go.
    let managed: Vec<_> = files.into_iter().filter(|(_, m)| *m).collect();
    // Claude Code's own folder: `CLAUDE_CONFIG_DIR` when set, else ~/.claude.
    let user = crate::env::var("CLAUDE_CONFIG_DIR")
        .map(|d| std::path::PathBuf::from(d).join("settings.json"))
        .or_else(|| home.as_ref().map(|h| h.join(".claude/settings.json")));
    let mut layer = Layer::new();
    for path in user.into_iter().chain(managed.into_iter().map(|(p, _)| p)) {
        let Ok(Some(bytes)) = crate::fsutil::read_regular(&path, 1 << 20) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if let Some(env) = v.get("env").and_then(|e| e.as_object()) {
            for (k, v) in env {
                if wanted(k)
                    && let Some(text) = v
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| (v.is_number() || v.is_boolean()).then(|| v.to_string()))
                {
                    layer.insert(k.clone(), text);
                }
            }
        }
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn none() -> Layer {
        Layer::new()
    }

    #[test]
    fn off_unless_configured() {
        let s = Settings::resolve(vars(&[]), &TelemetryConfig::default(), none);
        assert!(!s.enabled());
        // An endpoint alone turns nothing on.
        let s = Settings::resolve(
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            &TelemetryConfig::default(),
            none,
        );
        assert!(!s.enabled());
    }

    #[test]
    fn the_standard_variables() {
        let s = Settings::resolve(
            vars(&[
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_TRACES_EXPORTER", "console,otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9999/custom"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "Authorization=Bearer%20abc,x-team=a",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=b"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "team=payments,service.name=nope",
                ),
            ]),
            &TelemetryConfig::default(),
            none,
        );
        let m = s.metrics.as_ref().unwrap();
        assert_eq!(m.url, "http://c:4318/v1/metrics");
        assert_eq!(m.protocol, Protocol::Json);
        assert_eq!(m.timeout, Duration::from_millis(2500));
        assert!(
            m.headers
                .contains(&("authorization".into(), "Bearer abc".into()))
        );
        let t = s.traces.as_ref().unwrap();
        assert_eq!(
            t.url, "http://t:9999/custom",
            "a per-signal endpoint is used as is"
        );
        assert!(t.headers.contains(&("x-team".into(), "b".into())));
        assert_eq!(
            s.resource,
            vec![("team".to_string(), "payments".to_string())]
        );
        assert_eq!(s.sources, vec!["environment"]);
    }

    #[test]
    fn config_then_claude_settings_and_env_wins() {
        let config = TelemetryConfig {
            metrics: true,
            endpoint: Some("http://cfg:4318".into()),
            ..TelemetryConfig::default()
        };
        let s = Settings::resolve(vars(&[]), &config, none);
        assert_eq!(s.metrics.unwrap().url, "http://cfg:4318/v1/metrics");
        let s = Settings::resolve(
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")]),
            &config,
            none,
        );
        assert_eq!(s.metrics.unwrap().url, "http://env:4318/v1/metrics");
        let claude = || {
            Layer::from([
                ("CLAUDE_CODE_ENABLE_TELEMETRY".to_string(), "1".to_string()),
                ("OTEL_METRICS_EXPORTER".to_string(), "otlp".to_string()),
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
                    "http://team:4318".to_string(),
                ),
            ])
        };
        let s = Settings::resolve(vars(&[]), &TelemetryConfig::default(), claude);
        assert_eq!(s.metrics.unwrap().url, "http://team:4318/v1/metrics");
        assert_eq!(s.sources, vec!["Claude Code settings"]);
        // Claude Code's telemetry off there: its OTEL_* are not offload's.
        let off = || Layer::from([("OTEL_METRICS_EXPORTER".to_string(), "otlp".to_string())]);
        assert!(!Settings::resolve(vars(&[]), &TelemetryConfig::default(), off).enabled());
        let no = TelemetryConfig {
            claude_settings: false,
            ..TelemetryConfig::default()
        };
        assert!(!Settings::resolve(vars(&[]), &no, claude).enabled());
        // The environment switches it off.
        let s = Settings::resolve(vars(&[("OTEL_METRICS_EXPORTER", "none")]), &config, none);
        assert!(!s.enabled());
        let s = Settings::resolve(vars(&[("OTEL_SDK_DISABLED", "true")]), &config, none);
        assert!(!s.enabled());
    }

    #[test]
    fn what_offload_cannot_do_is_a_note_never_a_guess() {
        let s = Settings::resolve(
            vars(&[
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
            &TelemetryConfig::default(),
            none,
        );
        assert!(s.metrics.is_none());
        assert!(s.notes[0].contains("grpc"), "{:?}", s.notes);
        for (k, v) in [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1e20"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad\nname=x,ok=y\r\nz"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "cumulative",
            ),
        ] {
            let s = Settings::resolve(
                vars(&[("OTEL_METRICS_EXPORTER", "otlp"), (k, v)]),
                &TelemetryConfig::default(),
                none,
            );
            let m = s.metrics.as_ref().expect(k);
            assert_eq!(m.timeout.min(MAX_TIMEOUT), m.timeout);
            assert!(!s.notes.is_empty(), "{k}={v}: a note");
            assert!(
                m.headers
                    .iter()
                    .all(|(_, v)| !v.contains('\n') && !v.contains('\r'))
            );
        }
        let s = Settings::resolve(
            vars(&[
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
            ]),
            &TelemetryConfig::default(),
            none,
        );
        assert!(
            s.metrics.is_none() && s.notes[0].contains("ftp"),
            "{:?}",
            s.notes
        );
    }
}
