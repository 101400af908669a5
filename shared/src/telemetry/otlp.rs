//! OTLP's data model, the part offload sends, and its two OTLP/HTTP encodings: protobuf
//! (`application/x-protobuf`, the OTLP default) and JSON (`application/json`, the OTLP/JSON
//! mapping: camelCase names, trace and span ids in hex, 64-bit integers as strings, enums as
//! numbers).
//!
//! Hand-written on purpose (see the module docs of [`crate::telemetry`]): offload sends two
//! request types (`ExportMetricsServiceRequest` with sums and histograms,
//! `ExportTraceServiceRequest` with spans), whose field numbers are fixed by OTLP's stability
//! guarantees. The test suite decodes both encodings with the official definitions
//! (`opentelemetry-proto`, in the testkit's receiver), so a wrong field number fails a test.

use std::fmt::Write as _;

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

/// `key = value` pairs, in the order given.
pub type Attrs = Vec<(String, Value)>;

/// One data point of a delta sum (an integer count over `[start, time]`).
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint {
    pub attrs: Attrs,
    pub start_ns: u64,
    pub time_ns: u64,
    pub value: i64,
}

/// One data point of a delta histogram with explicit bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    pub attrs: Attrs,
    pub start_ns: u64,
    pub time_ns: u64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Upper bounds; `bucket_counts` has one more entry (the overflow bucket).
    pub bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
}

/// What a metric holds: always delta temporality (see [`crate::telemetry`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// A monotonic sum (a counter).
    Sum(Vec<NumberPoint>),
    Histogram(Vec<HistogramPoint>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub data: Data,
}

/// Span kind (OTLP's enum values).
pub const SPAN_KIND_INTERNAL: u64 = 1;
/// Status codes (OTLP's enum values).
pub const STATUS_OK: u64 = 1;
pub const STATUS_ERROR: u64 = 2;

#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: String,
    pub name: String,
    pub kind: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attrs: Attrs,
    pub status_code: u64,
    pub status_message: String,
}

/// Who sent it: the resource's attributes and the instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub resource: Attrs,
    pub scope_name: &'static str,
    pub scope_version: &'static str,
}

/// Delta temporality (OTLP's `AGGREGATION_TEMPORALITY_DELTA`).
const DELTA: u64 = 1;

// ---- protobuf ----------------------------------------------------------------------------

/// A protobuf writer for the handful of wire types OTLP uses.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
    }
    fn int64(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }
    fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn double(&mut self, field: u32, v: f64) {
        self.fixed64(field, v.to_bits());
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }
    fn message(&mut self, field: u32, f: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        f(&mut inner);
        self.bytes(field, &inner.0);
    }
    fn attrs(&mut self, field: u32, attrs: &Attrs) {
        for (k, v) in attrs {
            self.message(field, |kv| {
                kv.string(1, k);
                kv.message(2, |any| match v {
                    Value::Str(s) => any.bytes(1, s.as_bytes()),
                    Value::Bool(b) => {
                        any.key(2, 0);
                        any.varint(u64::from(*b));
                    }
                    Value::Int(i) => any.int64(3, *i),
                    Value::Double(d) => any.double(4, *d),
                });
            });
        }
    }
    fn resource_and_scope(&mut self, origin: &Origin) {
        self.message(1, |r| r.attrs(1, &origin.resource));
    }
    fn scope(&mut self, origin: &Origin) {
        self.message(1, |s| {
            s.string(1, origin.scope_name);
            s.string(2, origin.scope_version);
        });
    }
}

/// `ExportMetricsServiceRequest` in protobuf.
pub fn metrics_protobuf(origin: &Origin, metrics: &[Metric]) -> Vec<u8> {
    let mut req = Pb::default();
    req.message(1, |rm| {
        rm.resource_and_scope(origin);
        rm.message(2, |sm| {
            sm.scope(origin);
            for m in metrics {
                sm.message(2, |pm| {
                    pm.string(1, m.name);
                    pm.string(2, m.description);
                    pm.string(3, m.unit);
                    match &m.data {
                        Data::Sum(points) => pm.message(7, |sum| {
                            for p in points {
                                sum.message(1, |dp| {
                                    dp.fixed64(2, p.start_ns);
                                    dp.fixed64(3, p.time_ns);
                                    // as_int is sfixed64.
                                    dp.fixed64(6, p.value as u64);
                                    dp.attrs(7, &p.attrs);
                                });
                            }
                            sum.uint(2, DELTA);
                            sum.uint(3, 1);
                        }),
                        Data::Histogram(points) => pm.message(9, |h| {
                            for p in points {
                                h.message(1, |dp| {
                                    dp.fixed64(2, p.start_ns);
                                    dp.fixed64(3, p.time_ns);
                                    dp.fixed64(4, p.count);
                                    dp.double(5, p.sum);
                                    // Packed repeated fixed64 and double.
                                    let counts: Vec<u8> = p
                                        .bucket_counts
                                        .iter()
                                        .flat_map(|c| c.to_le_bytes())
                                        .collect();
                                    dp.bytes(6, &counts);
                                    let bounds: Vec<u8> = p
                                        .bounds
                                        .iter()
                                        .flat_map(|b| b.to_bits().to_le_bytes())
                                        .collect();
                                    dp.bytes(7, &bounds);
                                    dp.attrs(9, &p.attrs);
                                    dp.double(11, p.min);
                                    dp.double(12, p.max);
                                });
                            }
                            h.uint(2, DELTA);
                        }),
                    }
                });
            }
        });
    });
    req.0
}

/// `ExportTraceServiceRequest` in protobuf.
pub fn traces_protobuf(origin: &Origin, spans: &[Span]) -> Vec<u8> {
    let mut req = Pb::default();
    req.message(1, |rs| {
        rs.resource_and_scope(origin);
        rs.message(2, |ss| {
            ss.scope(origin);
            for s in spans {
                ss.message(2, |p| {
                    p.bytes(1, &s.trace_id);
                    p.bytes(2, &s.span_id);
                    p.string(3, &s.trace_state);
                    if let Some(parent) = &s.parent_span_id {
                        p.bytes(4, parent);
                    }
                    p.string(5, &s.name);
                    p.uint(6, s.kind);
                    p.fixed64(7, s.start_ns);
                    p.fixed64(8, s.end_ns);
                    p.attrs(9, &s.attrs);
                    p.message(15, |st| {
                        st.string(2, &s.status_message);
                        st.uint(3, s.status_code);
                    });
                });
            }
        });
    });
    req.0
}

// ---- JSON --------------------------------------------------------------------------------

fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

fn json_attrs(out: &mut String, attrs: &Attrs) {
    out.push('[');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        json_str(out, k);
        out.push_str(",\"value\":{");
        match v {
            Value::Str(s) => {
                out.push_str("\"stringValue\":");
                json_str(out, s);
            }
            Value::Bool(b) => {
                let _ = write!(out, "\"boolValue\":{b}");
            }
            Value::Int(n) => {
                let _ = write!(out, "\"intValue\":\"{n}\"");
            }
            Value::Double(d) => {
                let _ = write!(out, "\"doubleValue\":{}", json_f64(*d));
            }
        }
        out.push_str("}}");
    }
    out.push(']');
}

/// A double as JSON (OTLP/JSON writes NaN and infinities as strings; offload never has them,
/// but a number that is not finite must not make the document invalid).
fn json_f64(d: f64) -> String {
    if d.is_finite() {
        format!("{d:?}")
    } else if d.is_nan() {
        "\"NaN\"".into()
    } else if d > 0.0 {
        "\"Infinity\"".into()
    } else {
        "\"-Infinity\"".into()
    }
}

fn json_origin_head(out: &mut String, origin: &Origin, list: &str, scoped: &str) {
    let _ = write!(out, "{{\"{list}\":[{{\"resource\":{{\"attributes\":");
    json_attrs(out, &origin.resource);
    let _ = write!(out, "}},\"{scoped}\":[{{\"scope\":{{\"name\":");
    json_str(out, origin.scope_name);
    out.push_str(",\"version\":");
    json_str(out, origin.scope_version);
    out.push_str("},");
}

/// `ExportMetricsServiceRequest` in OTLP/JSON.
pub fn metrics_json(origin: &Origin, metrics: &[Metric]) -> Vec<u8> {
    let mut out = String::new();
    json_origin_head(&mut out, origin, "resourceMetrics", "scopeMetrics");
    out.push_str("\"metrics\":[");
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_str(&mut out, m.name);
        out.push_str(",\"description\":");
        json_str(&mut out, m.description);
        out.push_str(",\"unit\":");
        json_str(&mut out, m.unit);
        match &m.data {
            Data::Sum(points) => {
                out.push_str(",\"sum\":{\"dataPoints\":[");
                for (j, p) in points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"attributes\":");
                    json_attrs(&mut out, &p.attrs);
                    let _ = write!(
                        out,
                        ",\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\",\"asInt\":\"{}\"}}",
                        p.start_ns, p.time_ns, p.value
                    );
                }
                let _ = write!(
                    out,
                    "],\"aggregationTemporality\":{DELTA},\"isMonotonic\":true}}"
                );
            }
            Data::Histogram(points) => {
                out.push_str(",\"histogram\":{\"dataPoints\":[");
                for (j, p) in points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"attributes\":");
                    json_attrs(&mut out, &p.attrs);
                    let counts: Vec<String> =
                        p.bucket_counts.iter().map(|c| format!("\"{c}\"")).collect();
                    let bounds: Vec<String> = p.bounds.iter().map(|b| json_f64(*b)).collect();
                    let _ = write!(
                        out,
                        ",\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\",\"count\":\"{}\",\"sum\":{},\"min\":{},\"max\":{},\"bucketCounts\":[{}],\"explicitBounds\":[{}]}}",
                        p.start_ns,
                        p.time_ns,
                        p.count,
                        json_f64(p.sum),
                        json_f64(p.min),
                        json_f64(p.max),
                        counts.join(","),
                        bounds.join(",")
                    );
                }
                let _ = write!(out, "],\"aggregationTemporality\":{DELTA}}}");
            }
        }
        out.push('}');
    }
    out.push_str("]}]}]}");
    out.into_bytes()
}

/// `ExportTraceServiceRequest` in OTLP/JSON.
pub fn traces_json(origin: &Origin, spans: &[Span]) -> Vec<u8> {
    let mut out = String::new();
    json_origin_head(&mut out, origin, "resourceSpans", "scopeSpans");
    out.push_str("\"spans\":[");
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"traceId\":\"{}\",\"spanId\":\"{}\"",
            hex(&s.trace_id),
            hex(&s.span_id)
        );
        if let Some(p) = &s.parent_span_id {
            let _ = write!(out, ",\"parentSpanId\":\"{}\"", hex(p));
        }
        if !s.trace_state.is_empty() {
            out.push_str(",\"traceState\":");
            json_str(&mut out, &s.trace_state);
        }
        out.push_str(",\"name\":");
        json_str(&mut out, &s.name);
        let _ = write!(
            out,
            ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":",
            s.kind, s.start_ns, s.end_ns
        );
        json_attrs(&mut out, &s.attrs);
        out.push_str(",\"status\":{");
        if !s.status_message.is_empty() {
            out.push_str("\"message\":");
            json_str(&mut out, &s.status_message);
            out.push(',');
        }
        let _ = write!(out, "\"code\":{}}}}}", s.status_code);
    }
    out.push_str("]}]}]}");
    out.into_bytes()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            resource: vec![("service.name".into(), Value::Str("offload".into()))],
            scope_name: "offload",
            scope_version: "0.1.0",
        }
    }

    #[test]
    fn varints_and_keys_are_protobufs() {
        let mut pb = Pb::default();
        pb.uint(1, 300);
        assert_eq!(pb.0, [0x08, 0xac, 0x02]);
        let mut pb = Pb::default();
        pb.int64(3, -1);
        assert_eq!(pb.0.len(), 11, "a negative int64 is ten varint bytes");
        let mut pb = Pb::default();
        pb.string(5, "");
        assert!(pb.0.is_empty(), "empty strings are left out");
    }

    #[test]
    fn json_is_valid_and_in_the_otlp_mapping() {
        let m = Metric {
            name: "offload.attempt.count",
            description: "d \"quoted\"",
            unit: "{attempt}",
            data: Data::Sum(vec![NumberPoint {
                attrs: vec![
                    ("model".into(), Value::Str("gpt-5.5".into())),
                    ("n".into(), Value::Int(-3)),
                    ("b".into(), Value::Bool(true)),
                    ("d".into(), Value::Double(f64::NAN)),
                ],
                start_ns: 1,
                time_ns: 2,
                value: 7,
            }]),
        };
        let v: serde_json::Value = serde_json::from_slice(&metrics_json(&origin(), &[m])).unwrap();
        let metric = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
        assert_eq!(metric["sum"]["dataPoints"][0]["asInt"], "7");
        assert_eq!(metric["sum"]["aggregationTemporality"], 1);
        assert_eq!(metric["description"], "d \"quoted\"");
        assert_eq!(
            metric["sum"]["dataPoints"][0]["attributes"][1]["value"]["intValue"],
            "-3"
        );
        let span = Span {
            trace_id: [0xab; 16],
            span_id: [1; 8],
            parent_span_id: None,
            trace_state: String::new(),
            name: "offload.attempt".into(),
            kind: SPAN_KIND_INTERNAL,
            start_ns: 5,
            end_ns: 9,
            attrs: vec![],
            status_code: STATUS_ERROR,
            status_message: "failed".into(),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&traces_json(&origin(), &[span])).unwrap();
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "ab".repeat(16));
        assert!(s.get("parentSpanId").is_none());
        assert_eq!(s["status"]["code"], 2);
    }
}
