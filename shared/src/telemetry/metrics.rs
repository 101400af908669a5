//! From ledger events to OTLP metrics and spans: what offload exports, named once here.
//!
//! | metric | unit | what | `offload stats --json` |
//! |---|---|---|---|
//! | `offload.attempt.count` | `{attempt}` | finished Codex attempts | `outcomes` (and `attempts`, `successes`, `failures`, `interrupted`) |
//! | `offload.token.usage` | `{token}` | their tokens, by `type` | `tokens.input`, `.cached_input`, `.output`, `.reasoning` |
//! | `offload.attempt.duration` | `s` | histogram of their durations | `median_duration_ms` |
//! | `offload.job.count` | `{job}` | background attempts (`offload run --background`) | |
//! | `offload.guard.denial.count` | `{denial}` | tool calls the guard denied | `denied.by_tool`, `denied.by_reason` |
//! | `offload.guard.would_deny.count` | `{denial}` | … it would have denied (warn mode) | `would_deny` |
//! | `offload.approval.count` | `{approval}` | fallback approvals | `approvals` |
//! | `offload.turn.count` | `{turn}` | user turns the hook saw | `turns` |
//! | `offload.review.count` | `{review}` | review gate verdicts | |
//! | `offload.guard.tamper.count` | `{record}` | tampering found | |
//!
//! Attributes: `session.id` (Claude Code's, as Claude Code exports it) on everything that has a
//! session; on attempts `project` (the folder's name), `model`, `outcome` (the names `offload
//! stats` uses: `success`, `failed`, `timeout`, `limited`, `missing`, `error`, `interrupted`,
//! `cancelled`), `work_type` (`code`, `analysis`, … when given), `sandbox` and `mode`
//! (`foreground`, `background`); tokens add `type` (`input`, `cached_input`, `output`,
//! `reasoning`: `input` includes `cached_input`, `output` includes `reasoning`, as codex
//! counts them); denials `tool` and `reason` (the codes of `offload stats`).
//!
//! Each attempt is also a span, `offload.attempt`, in the trace Claude Code's Bash tool was in
//! (`TRACEPARENT`), whose child spans are codex's own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::otlp::{self, Attrs, Data, HistogramPoint, Metric, NumberPoint, Span, Value};
use crate::ledger::{AttemptFinished, Body, Event};

/// Upper bounds (seconds) of the attempt duration histogram.
pub const DURATION_BOUNDS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

const HOUR_NS: u64 = 3_600_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Attempts,
    Tokens,
    Duration,
    Jobs,
    Denials,
    WouldDeny,
    Approvals,
    Turns,
    Reviews,
    Tamper,
}

impl Kind {
    fn meta(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Attempts => (
                "offload.attempt.count",
                "Codex attempts offload ran, by outcome",
                "{attempt}",
            ),
            Kind::Tokens => (
                "offload.token.usage",
                "Tokens of the Codex attempts (input includes cached_input, output includes reasoning)",
                "{token}",
            ),
            Kind::Duration => (
                "offload.attempt.duration",
                "How long Codex attempts took",
                "s",
            ),
            Kind::Jobs => (
                "offload.job.count",
                "Background Codex attempts (offload run --background), by outcome",
                "{job}",
            ),
            Kind::Denials => (
                "offload.guard.denial.count",
                "Tool calls the guard denied, by tool and reason",
                "{denial}",
            ),
            Kind::WouldDeny => (
                "offload.guard.would_deny.count",
                "Tool calls the guard would have denied (warn mode)",
                "{denial}",
            ),
            Kind::Approvals => (
                "offload.approval.count",
                "Native fallbacks the user approved",
                "{approval}",
            ),
            Kind::Turns => ("offload.turn.count", "User turns the guard saw", "{turn}"),
            Kind::Reviews => (
                "offload.review.count",
                "Stops the review gate judged, by verdict",
                "{review}",
            ),
            Kind::Tamper => (
                "offload.guard.tamper.count",
                "Changes to offload's own records, config or wiring the guard found",
                "{record}",
            ),
        }
    }
}

type Key = (Kind, Vec<(String, String)>, u64);

#[derive(Default)]
struct Agg {
    value: i64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: Vec<u64>,
}

/// Events folded into delta points over `[start, end]`, cut at hour boundaries (see the
/// module docs of [`crate::telemetry`]).
pub struct Batch {
    start_ns: u64,
    end_ns: u64,
    aggs: BTreeMap<Key, Agg>,
    spans: Vec<Span>,
    /// Events folded in.
    pub events: u64,
}

/// Nanoseconds since the epoch (0 before it).
pub fn nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt().map_or(0, |n| n.max(0) as u64)
}

/// The last path component of a folder, as the `project` attribute.
pub fn project_name(cwd: &str) -> String {
    let trimmed = cwd.trim_end_matches('/');
    trimmed
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(trimmed)
        .to_string()
}

impl Batch {
    /// A batch for the window from `start_ns` (`None`: the hour of the first event) to `end_ns`.
    pub fn new(start_ns: Option<u64>, end_ns: u64) -> Batch {
        Batch {
            start_ns: start_ns.unwrap_or(u64::MAX),
            end_ns,
            aggs: BTreeMap::new(),
            spans: Vec::new(),
            events: 0,
        }
    }

    fn hour_of(&self, ts: u64) -> u64 {
        let start = if self.start_ns == u64::MAX {
            0
        } else {
            self.start_ns
        };
        ts.clamp(start, self.end_ns.max(start)) / HOUR_NS
    }

    fn add(&mut self, kind: Kind, attrs: Vec<(String, String)>, hour: u64, n: i64) {
        self.aggs.entry((kind, attrs, hour)).or_default().value += n;
    }

    /// Fold one event in.
    pub fn add_event(&mut self, ev: &Event, spans: bool) {
        let ts = nanos(ev.ts);
        if self.start_ns == u64::MAX {
            self.start_ns = (ts / HOUR_NS * HOUR_NS).min(self.end_ns);
        }
        let hour = self.hour_of(ts);
        let mut base: Vec<(String, String)> = Vec::new();
        if let Some(s) = &ev.session {
            base.push(("session.id".into(), s.clone()));
        }
        let with = |extra: &[(&str, &str)]| {
            let mut a = base.clone();
            a.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            a.sort();
            a
        };
        match &ev.body {
            Body::AttemptFinished(f) => {
                self.events += 1;
                let attrs = attempt_attrs(&base, f);
                self.add(Kind::Attempts, attrs.clone(), hour, 1);
                if f.job.is_some() {
                    self.add(Kind::Jobs, attrs.clone(), hour, 1);
                }
                // Capped as the summaries and `offload stats` cap them.
                let t = f.tokens.capped();
                for (ty, n) in [
                    ("input", t.input),
                    ("cached_input", t.cached_input),
                    ("output", t.output),
                    ("reasoning", t.reasoning),
                ] {
                    if n > 0 {
                        let mut a = attrs.clone();
                        a.push(("type".into(), ty.into()));
                        a.sort();
                        self.add(Kind::Tokens, a, hour, n.min(i64::MAX as u64) as i64);
                    }
                }
                let secs = f.duration_ms as f64 / 1000.0;
                let agg = self.aggs.entry((Kind::Duration, attrs, hour)).or_default();
                if agg.buckets.is_empty() {
                    agg.buckets = vec![0; DURATION_BOUNDS.len() + 1];
                    agg.min = secs;
                    agg.max = secs;
                }
                let i = DURATION_BOUNDS
                    .iter()
                    .position(|b| secs <= *b)
                    .unwrap_or(DURATION_BOUNDS.len());
                agg.buckets[i] += 1;
                agg.count += 1;
                agg.sum += secs;
                agg.min = agg.min.min(secs);
                agg.max = agg.max.max(secs);
                if spans && let Some(s) = span(ev, f) {
                    self.spans.push(s);
                }
            }
            Body::GuardDenied { tool, reason, warn } => {
                self.events += 1;
                let kind = if *warn {
                    Kind::WouldDeny
                } else {
                    Kind::Denials
                };
                let a = with(&[("tool", tool), ("reason", crate::stats::reason_key(reason))]);
                self.add(kind, a, hour, 1);
            }
            Body::ApprovalGranted {
                source, unverified, ..
            } => {
                self.events += 1;
                let verified = if unverified.is_some() {
                    "false"
                } else {
                    "true"
                };
                self.add(
                    Kind::Approvals,
                    with(&[("source", source), ("verified", verified)]),
                    hour,
                    1,
                );
            }
            Body::TurnStarted { project, .. } => {
                self.events += 1;
                let p = project.as_deref().map(project_name);
                let a = match &p {
                    Some(p) => with(&[("project", p)]),
                    None => with(&[]),
                };
                self.add(Kind::Turns, a, hour, 1);
            }
            Body::Review(r) => {
                self.events += 1;
                let verdict = serde_json::to_value(r.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "other".into());
                let blocked = if r.blocked { "true" } else { "false" };
                self.add(
                    Kind::Reviews,
                    with(&[("verdict", &verdict), ("blocked", blocked)]),
                    hour,
                    1,
                );
            }
            Body::Tamper { .. } => {
                self.events += 1;
                self.add(Kind::Tamper, with(&[]), hour, 1);
            }
            Body::AttemptStarted(_) | Body::RateLimits(_) | Body::Unknown => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.aggs.is_empty() && self.spans.is_empty()
    }

    /// Where its window starts (the hour of its first event when it was not given one; its
    /// end when it holds nothing).
    pub fn start_ns(&self) -> u64 {
        if self.start_ns == u64::MAX {
            self.end_ns
        } else {
            self.start_ns
        }
    }

    /// Data points its metrics hold.
    pub fn point_count(&self) -> u64 {
        self.metrics()
            .iter()
            .map(|m| match &m.data {
                Data::Sum(p) => p.len() as u64,
                Data::Histogram(p) => p.len() as u64,
            })
            .sum()
    }

    pub fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// The point window of an hour: the part of `[start, end]` inside it.
    fn window(&self, hour: u64) -> (u64, u64) {
        let start = self.start_ns.min(self.end_ns);
        let from = (hour * HOUR_NS).max(start);
        let to = ((hour + 1) * HOUR_NS).min(self.end_ns).max(from);
        (from, to)
    }

    /// The metrics, one per kind with data, points in a stable order.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut by_kind: BTreeMap<Kind, Vec<(&Key, &Agg)>> = BTreeMap::new();
        for (k, a) in &self.aggs {
            by_kind.entry(k.0).or_default().push((k, a));
        }
        by_kind
            .into_iter()
            .map(|(kind, entries)| {
                let (name, description, unit) = kind.meta();
                let attrs = |k: &Key| -> Attrs {
                    k.1.iter()
                        .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                        .collect()
                };
                let data = if kind == Kind::Duration {
                    Data::Histogram(
                        entries
                            .into_iter()
                            .map(|(k, a)| {
                                let (start_ns, time_ns) = self.window(k.2);
                                HistogramPoint {
                                    attrs: attrs(k),
                                    start_ns,
                                    time_ns,
                                    count: a.count,
                                    sum: a.sum,
                                    min: a.min,
                                    max: a.max,
                                    bounds: DURATION_BOUNDS.to_vec(),
                                    bucket_counts: a.buckets.clone(),
                                }
                            })
                            .collect(),
                    )
                } else {
                    Data::Sum(
                        entries
                            .into_iter()
                            .map(|(k, a)| {
                                let (start_ns, time_ns) = self.window(k.2);
                                NumberPoint {
                                    attrs: attrs(k),
                                    start_ns,
                                    time_ns,
                                    value: a.value,
                                }
                            })
                            .collect(),
                    )
                };
                Metric {
                    name,
                    description,
                    unit,
                    data,
                }
            })
            .collect()
    }

    pub fn spans(&self) -> &[Span] {
        &self.spans
    }
}

fn attempt_attrs(base: &[(String, String)], f: &AttemptFinished) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = base.to_vec();
    a.push(("project".into(), project_name(&f.cwd)));
    a.push(("model".into(), f.model.clone()));
    a.push(("outcome".into(), f.outcome.as_str().to_string()));
    a.push(("sandbox".into(), f.sandbox.clone()));
    if let Some(w) = &f.work_type {
        a.push(("work_type".into(), w.clone()));
    }
    let mode = if f.job.is_some() {
        "background"
    } else {
        "foreground"
    };
    a.push(("mode".into(), mode.into()));
    a.sort();
    a
}

/// The attempt's span: the ids it recorded (or ids derived from the attempt's id), from its
/// start to its finish. `None` when the trace it joined was not sampled.
pub fn span(ev: &Event, f: &AttemptFinished) -> Option<Span> {
    use super::trace::{derived, unhex};
    let t = f.trace.as_ref();
    if t.is_some_and(|t| t.flags & 1 == 0) {
        return None;
    }
    let trace_id = t
        .and_then(|t| unhex::<16>(&t.trace_id))
        .unwrap_or_else(|| derived(&format!("trace {}", f.attempt)));
    let span_id = t
        .and_then(|t| unhex::<8>(&t.span_id))
        .unwrap_or_else(|| derived(&format!("span {}", f.attempt)));
    let parent_span_id = t.and_then(|t| t.parent_span_id.as_deref().and_then(unhex::<8>));
    let end_ns = nanos(ev.ts);
    let start_ns = end_ns.saturating_sub(f.duration_ms.saturating_mul(1_000_000));
    let mut attrs: Attrs = Vec::new();
    if let Some(s) = &ev.session {
        attrs.push(("session.id".into(), Value::Str(s.clone())));
    }
    for (k, v) in attempt_attrs(&[], f) {
        attrs.push((k, Value::Str(v)));
    }
    let int = |n: u64| Value::Int(n.min(i64::MAX as u64) as i64);
    attrs.extend([
        ("offload.attempt.id".into(), Value::Str(f.attempt.clone())),
        (
            "offload.exit_code".into(),
            Value::Int(i64::from(f.exit_code)),
        ),
        ("gen_ai.provider.name".into(), Value::Str("openai".into())),
        ("gen_ai.request.model".into(), Value::Str(f.model.clone())),
        (
            "gen_ai.usage.input_tokens".into(),
            int(f.tokens.capped().input),
        ),
        (
            "gen_ai.usage.output_tokens".into(),
            int(f.tokens.capped().output),
        ),
    ]);
    if let Some(tid) = &f.thread_id {
        attrs.push(("codex.thread.id".into(), Value::Str(tid.clone())));
    }
    let ok = f.outcome.is_success();
    Some(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: t.and_then(|t| t.state.clone()).unwrap_or_default(),
        name: "offload.attempt".into(),
        kind: otlp::SPAN_KIND_INTERNAL,
        start_ns,
        end_ns,
        attrs,
        status_code: if ok { 0 } else { otlp::STATUS_ERROR },
        status_message: if ok {
            String::new()
        } else {
            let why = f.error.as_deref().unwrap_or(f.outcome.as_str());
            why.chars().take(300).collect()
        },
    })
}
