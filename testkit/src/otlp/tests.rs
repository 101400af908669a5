use super::*;
use std::io::{BufRead, Read};

use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

const METRICS_JSON: &str = include_str!("../../tests/fixtures/otlp/metrics.json");
const TRACE_JSON: &str = include_str!("../../tests/fixtures/otlp/trace.json");
const LOGS_JSON: &str = include_str!("../../tests/fixtures/otlp/logs.json");
const EVENTS_JSON: &str = include_str!("../../tests/fixtures/otlp/events.json");

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// One answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn request_bytes(
    method: &str,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Read one answer (status line, headers, `content-length` body) off a keep-alive connection.
fn read_answer(reader: &mut impl BufRead) -> Answer {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("every answer has a content-length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// POST (or any method) on a fresh connection that asks to be closed afterwards.
fn send(
    receiver: &OtlpReceiver,
    method: &str,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut headers = vec![("Connection", "close")];
    headers.extend_from_slice(extra);
    stream
        .write_all(&request_bytes(method, path, content_type, &headers, body))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let answer = read_answer(&mut reader);
    assert_eq!(answer.header("connection"), Some("close"));
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after the answer: {rest:?}");
    answer
}

fn post(receiver: &OtlpReceiver, path: &str, content_type: &str, body: &[u8]) -> Answer {
    send(receiver, "POST", path, content_type, &[], body)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            string("service.name", "claude-code"),
            string("service.version", "2.1.0"),
        ],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: "1.0.0".into(),
        ..Default::default()
    })
}

fn metrics_request() -> ExportMetricsServiceRequest {
    let number = |value: number_data_point::Value, attributes: Vec<KeyValue>| NumberDataPoint {
        attributes,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        time_unix_nano: 1_700_000_060_000_000_000,
        value: Some(value),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("com.anthropic.claude_code"),
                metrics: vec![
                    Metric {
                        name: "claude_code.token.usage".into(),
                        unit: "tokens".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![
                                number(
                                    number_data_point::Value::AsDouble(1234.5),
                                    vec![string("type", "input"), string("model", "m-1")],
                                ),
                                number(
                                    number_data_point::Value::AsInt(-7),
                                    vec![string("type", "output")],
                                ),
                            ],
                            aggregation_temporality: AggregationTemporality::Delta as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "queue.depth".into(),
                        unit: "1".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![number(
                                number_data_point::Value::AsInt(42),
                                vec![kv("busy", any_value::Value::BoolValue(true))],
                            )],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "request.duration".into(),
                        unit: "ms".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: vec![kv("attempt", any_value::Value::IntValue(2))],
                                start_time_unix_nano: 11,
                                time_unix_nano: 22,
                                count: 3,
                                sum: Some(350.25),
                                bucket_counts: vec![1, 2, 0],
                                explicit_bounds: vec![100.0, 500.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn trace_request() -> ExportTraceServiceRequest {
    let trace_id: Vec<u8> = (1..=16).collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope("codex"),
                spans: vec![
                    Span {
                        trace_id: trace_id.clone(),
                        span_id: vec![0xAB; 8],
                        name: "turn".into(),
                        kind: span::SpanKind::Server as i32,
                        start_time_unix_nano: 100,
                        end_time_unix_nano: 250,
                        attributes: vec![kv("ratio", any_value::Value::DoubleValue(0.25))],
                        ..Default::default()
                    },
                    Span {
                        trace_id,
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
                        parent_span_id: vec![0xAB; 8],
                        name: "tool call".into(),
                        kind: span::SpanKind::Client as i32,
                        start_time_unix_nano: 120,
                        end_time_unix_nano: 200,
                        status: Some(Status {
                            message: "exit 1".into(),
                            code: status::StatusCode::Error as i32,
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope("com.anthropic.claude_code.events"),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_123_456_789,
                    observed_time_unix_nano: 1_700_000_000_200_000_000,
                    severity_number: SeverityNumber::Info as i32,
                    severity_text: "INFO".into(),
                    event_name: "claude_code.api_request".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "claude_code.api_request".into(),
                        )),
                    }),
                    attributes: vec![
                        string("event.name", "api_request"),
                        kv("cost_usd", any_value::Value::DoubleValue(0.0125)),
                        kv("input_tokens", any_value::Value::IntValue(1500)),
                        kv("success", any_value::Value::BoolValue(false)),
                        kv("raw", any_value::Value::BytesValue(vec![0xDE, 0xAD, 0x01])),
                        kv(
                            "tools",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue {
                                        value: Some(any_value::Value::StringValue("Bash".into())),
                                    },
                                    AnyValue {
                                        value: Some(any_value::Value::IntValue(3)),
                                    },
                                ],
                            }),
                        ),
                        kv(
                            "limits",
                            any_value::Value::KvlistValue(KeyValueList {
                                values: vec![
                                    kv("b", any_value::Value::BoolValue(true)),
                                    string("a", "x"),
                                ],
                            }),
                        ),
                    ],
                    trace_id: vec![0x0F; 16],
                    span_id: vec![0xF0; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn protobuf_metrics_are_decoded_and_flattened() {
    let receiver = OtlpReceiver::start().unwrap();
    assert_eq!(
        receiver.url(),
        format!("http://127.0.0.1:{}", receiver.port())
    );
    let answer = post(
        &receiver,
        "/v1/metrics",
        PROTOBUF,
        &metrics_request().encode_to_vec(),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert!(answer.body.is_empty());
    assert_eq!(
        ExportMetricsServiceResponse::decode(&answer.body[..]).unwrap(),
        ExportMetricsServiceResponse::default()
    );

    let points = receiver.metrics();
    assert_eq!(points.len(), 4, "{points:#?}");
    let resource = map(&[
        ("service.name", "claude-code"),
        ("service.version", "2.1.0"),
    ]);
    assert_eq!(
        points[0],
        MetricPoint {
            resource: resource.clone(),
            scope: "com.anthropic.claude_code".into(),
            name: "claude_code.token.usage".into(),
            unit: "tokens".into(),
            kind: Kind::Sum {
                monotonic: true,
                temporality: Temporality::Delta
            },
            attrs: map(&[("model", "m-1"), ("type", "input")]),
            value: 1234.5,
            count: 0,
            bucket_counts: vec![],
            bounds: vec![],
            start_unix_nano: 1_700_000_000_000_000_000,
            time_unix_nano: 1_700_000_060_000_000_000,
        }
    );
    assert_eq!(points[1].value, -7.0);
    assert_eq!(points[1].attrs, map(&[("type", "output")]));
    assert_eq!(points[2].name, "queue.depth");
    assert_eq!(points[2].kind, Kind::Gauge);
    assert_eq!(points[2].value, 42.0);
    assert_eq!(points[2].attrs, map(&[("busy", "true")]));
    assert_eq!(
        points[3].kind,
        Kind::Histogram {
            temporality: Temporality::Cumulative
        }
    );
    assert_eq!(points[3].value, 350.25);
    assert_eq!(points[3].count, 3);
    assert_eq!(points[3].bucket_counts, vec![1, 2, 0]);
    assert_eq!(points[3].bounds, vec![100.0, 500.0]);
    assert_eq!(points[3].attrs, map(&[("attempt", "2")]));
    assert_eq!(
        (points[3].start_unix_nano, points[3].time_unix_nano),
        (11, 22)
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.signal, Signal::Metrics);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/metrics");
    assert_eq!(request.content_type, PROTOBUF);
    assert_eq!(request.header("Content-Type"), Some(PROTOBUF));
    assert_eq!(request.status, Some(200));
    assert!(request.accepted);
    assert_eq!(request.decode_error, None);
    assert_eq!(request.metrics, points);
    assert!(receiver.spans().is_empty() && receiver.logs().is_empty());
}

#[test]
fn one_keep_alive_connection_carries_several_exports() {
    let receiver = OtlpReceiver::start().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());

    // Two requests written back to back (pipelined), then a third after the answers.
    let mut both = request_bytes(
        "POST",
        "/otlp/v1/traces",
        PROTOBUF,
        &[],
        &trace_request().encode_to_vec(),
    );
    both.extend(request_bytes(
        "POST",
        "/v1/logs?x=1",
        "application/x-protobuf; charset=binary",
        &[],
        &logs_request().encode_to_vec(),
    ));
    stream.write_all(&both).unwrap();
    for _ in 0..2 {
        let answer = read_answer(&mut reader);
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("connection"),
            None,
            "the connection stays open"
        );
        assert!(answer.body.is_empty());
    }
    stream
        .write_all(&request_bytes(
            "POST",
            "/v1/metrics",
            PROTOBUF,
            &[],
            &metrics_request().encode_to_vec(),
        ))
        .unwrap();
    assert_eq!(read_answer(&mut reader).status, 200);
    assert_eq!(receiver.metrics().len(), 4);

    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(spans[0].trace_id, "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(spans[0].span_id, "abababababababab");
    assert_eq!(spans[0].parent_span_id, "");
    assert_eq!(spans[0].name, "turn");
    assert_eq!(spans[0].scope, "codex");
    assert_eq!(spans[0].kind, 2);
    assert_eq!(spans[0].attrs, map(&[("ratio", "0.25")]));
    assert_eq!(
        (spans[0].status_code, spans[0].status_message.as_str()),
        (0, "")
    );
    assert_eq!(
        (spans[0].start_unix_nano, spans[0].end_unix_nano),
        (100, 250)
    );
    assert_eq!(spans[1].parent_span_id, "abababababababab");
    assert_eq!(spans[1].span_id, "0000000000000002");
    assert_eq!(spans[1].kind, 3);
    assert_eq!(
        (spans[1].status_code, spans[1].status_message.as_str()),
        (2, "exit 1")
    );

    let logs = receiver.logs();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log.body, "claude_code.api_request");
    assert_eq!(log.event_name, "claude_code.api_request");
    assert_eq!(log.scope, "com.anthropic.claude_code.events");
    assert_eq!(log.trace_id, "0f".repeat(16));
    assert_eq!(log.span_id, "f0".repeat(8));
    assert_eq!(
        (log.severity_number, log.severity_text.as_str()),
        (9, "INFO")
    );
    assert_eq!(log.time_unix_nano, 1_700_000_000_123_456_789);
    assert_eq!(log.observed_time_unix_nano, 1_700_000_000_200_000_000);
    assert_eq!(
        log.attrs,
        map(&[
            ("cost_usd", "0.0125"),
            ("event.name", "api_request"),
            ("input_tokens", "1500"),
            ("limits", r#"{"a":"x","b":true}"#),
            ("raw", "dead01"),
            ("success", "false"),
            ("tools", r#"["Bash",3]"#),
        ])
    );

    let requests = receiver.requests();
    let signals: Vec<Signal> = requests.iter().map(|r| r.signal).collect();
    assert_eq!(signals, [Signal::Traces, Signal::Logs, Signal::Metrics]);
    assert_eq!(requests[1].path, "/v1/logs?x=1");

    // The client closing its side ends the connection cleanly.
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn spec_example_json_bodies_decode() {
    let receiver = OtlpReceiver::start().unwrap();
    for (path, body) in [
        ("/v1/metrics", METRICS_JSON),
        ("/v1/traces", TRACE_JSON),
        ("/v1/logs", LOGS_JSON),
        ("/v1/logs", EVENTS_JSON),
    ] {
        let answer = post(&receiver, path, JSON, body.as_bytes());
        assert_eq!(
            answer.status,
            200,
            "{path}: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.header("content-type"), Some(JSON));
        assert_eq!(answer.body, b"{}");
    }
    let requests = receiver.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.decode_error.is_none() && r.accepted)
    );

    let resource = map(&[("service.name", "my.service")]);
    let points = receiver.metrics();
    let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "my.counter",
            "my.gauge",
            "my.histogram",
            "my.exponential.histogram"
        ]
    );
    assert!(points.iter().all(|p| p.resource == resource
        && p.scope == "my.library"
        && p.unit == "1"
        && p.time_unix_nano == 1_544_712_660_300_000_000));
    assert_eq!(
        points[0].kind,
        Kind::Sum {
            monotonic: true,
            temporality: Temporality::Delta
        }
    );
    assert_eq!(points[0].value, 5.0);
    assert_eq!(points[0].start_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(points[0].attrs, map(&[("my.counter.attr", "some value")]));
    assert_eq!(points[1].kind, Kind::Gauge);
    assert_eq!(points[1].value, 10.0);
    assert_eq!(
        points[2].kind,
        Kind::Histogram {
            temporality: Temporality::Delta
        }
    );
    assert_eq!(
        (
            points[2].value,
            points[2].count,
            points[2].bucket_counts.clone(),
            points[2].bounds.clone()
        ),
        (2.0, 2, vec![1, 1], vec![1.0])
    );
    assert_eq!(points[3].kind, Kind::Other);
    assert_eq!((points[3].value, points[3].count), (10.0, 3));

    let spans = receiver.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.span_id, "eee19b7ec3c1b174");
    assert_eq!(span.parent_span_id, "eee19b7ec3c1b173");
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.kind, 2);
    assert_eq!(span.resource, resource);
    assert_eq!(span.attrs, map(&[("my.span.attr", "some value")]));
    assert_eq!(
        (span.start_unix_nano, span.end_unix_nano),
        (1_544_712_660_000_000_000, 1_544_712_661_000_000_000)
    );

    let logs = receiver.logs();
    assert_eq!(logs.len(), 2);
    let log = &logs[0];
    assert_eq!(log.body, "Example log record");
    assert_eq!(log.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(log.span_id, "eee19b7ec3c1b174");
    assert_eq!(
        (log.severity_number, log.severity_text.as_str()),
        (10, "Information")
    );
    assert_eq!(
        log.attrs,
        map(&[
            ("array.attribute", r#"["many","values"]"#),
            ("boolean.attribute", "true"),
            ("double.attribute", "637.704"),
            ("int.attribute", "10"),
            ("map.attribute", r#"{"some.map.key":"some value"}"#),
            ("string.attribute", "some string"),
        ])
    );
    let event = &logs[1];
    assert_eq!(event.event_name, "browser.page_view");
    assert_eq!((event.trace_id.as_str(), event.span_id.as_str()), ("", ""));
    assert!(
        event
            .body
            .starts_with(r#"{"referrer":"https://wwww.google.com","#),
        "{}",
        event.body
    );
    assert!(event.body.contains(r#""type":0"#), "{}", event.body);
}

#[test]
fn json_variants_real_senders_use_decode_too() {
    // 64-bit integers as JSON numbers, enums by name, explicit nulls, an empty array value
    // without `values`, lowercase hex ids, unknown fields, snake_case names, doubles as strings
    // (finite and not), a charset parameter, gzip.
    let traces = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "codex"}}], "droppedAttributesCount": 0},
            "scopeSpans": [{
                "scope": null,
                "spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "parentSpanId": "",
                    "traceState": null,
                    "name": "exec",
                    "kind": "SPAN_KIND_CLIENT",
                    "start_time_unix_nano": 1_544_712_660_000_000_000_u64,
                    "endTimeUnixNano": "1544712661000000000",
                    "attributes": [
                        {"key": "n", "value": {"intValue": 12}},
                        {"key": "empty", "value": {"arrayValue": {}}},
                        {"key": "nothing", "value": {}},
                        {"key": "nulled", "value": null},
                        {"key": "text double", "value": {"doubleValue": "1.25"}},
                        {"key": "infinite", "value": {"doubleValue": "-Infinity"}}
                    ],
                    "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                    "events": null,
                    "someFutureField": {"x": 1}
                }]
            }]
        }]
    });
    let metrics = serde_json::json!({
        "resourceMetrics": [{
            "scopeMetrics": [{
                "scope": {"name": "s"},
                "metrics": [{
                    "name": "c",
                    "sum": {
                        "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                        "isMonotonic": false,
                        "dataPoints": [{"asInt": "-9007199254740993", "timeUnixNano": 5}]
                    }
                }, {
                    "name": "g",
                    "gauge": {"dataPoints": [{"asInt": 17}, {"asDouble": "NaN"}, {"as_double": "2.5"}]}
                }]
            }]
        }]
    });
    let logs = serde_json::json!({
        "resourceLogs": [{
            "scopeLogs": [{
                "logRecords": [{
                    "severityNumber": "SEVERITY_NUMBER_WARN",
                    "body": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 2.0}}]}},
                    "timeUnixNano": "7"
                }]
            }]
        }]
    });
    let receiver = OtlpReceiver::start().unwrap();
    let answer = post(
        &receiver,
        "/v1/traces",
        "application/json; charset=utf-8",
        traces.to_string().as_bytes(),
    );
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzipped.write_all(metrics.to_string().as_bytes()).unwrap();
    let gzipped = gzipped.finish().unwrap();
    let answer = send(
        &receiver,
        "POST",
        "/v1/metrics",
        JSON,
        &[("Content-Encoding", "gzip")],
        &gzipped,
    );
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let answer = post(&receiver, "/v1/logs", JSON, logs.to_string().as_bytes());
    assert_eq!(answer.status, 200);

    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "{:?}", receiver.requests());
    let span = &spans[0];
    assert_eq!(span.resource, map(&[("service.name", "codex")]));
    assert_eq!(span.scope, "");
    assert_eq!(span.kind, 3);
    assert_eq!(
        (span.status_code, span.status_message.as_str()),
        (2, "boom")
    );
    assert_eq!(span.parent_span_id, "");
    assert_eq!(span.start_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(
        span.attrs,
        map(&[
            ("empty", "[]"),
            ("infinite", "-inf"),
            ("n", "12"),
            ("nothing", ""),
            ("nulled", ""),
            ("text double", "1.25"),
        ])
    );

    let points = receiver.metrics();
    assert_eq!(points.len(), 4, "{points:#?}");
    assert_eq!(
        points[0].kind,
        Kind::Sum {
            monotonic: false,
            temporality: Temporality::Cumulative
        }
    );
    assert_eq!(points[0].value, -9_007_199_254_740_993_i64 as f64);
    assert_eq!(points[0].time_unix_nano, 5);
    assert_eq!(points[1].value, 17.0);
    assert!(points[2].value.is_nan());
    assert_eq!(points[3].value, 2.5);
    assert_eq!(receiver.requests()[1].body, gzipped, "the body as received");

    let logs = receiver.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].severity_number, 13);
    assert_eq!(logs[0].body, r#"{"k":2.0}"#);
    assert_eq!(logs[0].time_unix_nano, 7);
}

#[test]
fn bad_bodies_get_400_and_a_decode_error() {
    let receiver = OtlpReceiver::start().unwrap();
    let answer = post(&receiver, "/v1/metrics", PROTOBUF, b"\xff\xff\xff garbage");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert_eq!(
        RpcStatus::decode(&answer.body[..]).unwrap().code,
        3,
        "INVALID_ARGUMENT"
    );
    let answer = post(&receiver, "/v1/traces", JSON, b"{\"resourceSpans\": [");
    assert_eq!(answer.status, 400);
    let status: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(status["code"], 3);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("bad JSON body")
    );
    let answer = post(
        &receiver,
        "/v1/traces",
        JSON,
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not hex"}]}]}]}"#,
    );
    assert_eq!(answer.status, 400);
    let answer = send(
        &receiver,
        "POST",
        "/v1/logs",
        JSON,
        &[("Content-Encoding", "gzip")],
        b"not gzip",
    );
    assert_eq!(answer.status, 400);
    // Errors the crate's serde mapping would swallow (a metric or a value turning into nothing)
    // are reported too.
    for body in [
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"isMonotonic":"yes","dataPoints":[{"asInt":"1"}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asInt":"x"}]}}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"k","value":{"intValue":"abc"}}]}]}]}]}"#,
    ] {
        let path = if body.contains("resourceLogs") {
            "/v1/logs"
        } else {
            "/v1/metrics"
        };
        assert_eq!(
            post(&receiver, path, JSON, body.as_bytes()).status,
            400,
            "{body}"
        );
    }

    let requests = receiver.requests();
    assert_eq!(requests.len(), 7);
    for request in &requests {
        assert_eq!(request.status, Some(400), "{request:?}");
        assert!(!request.accepted);
        assert!(request.decode_error.is_some(), "{request:?}");
    }
    assert!(
        requests[0]
            .decode_error
            .as_deref()
            .unwrap()
            .starts_with("bad protobuf body"),
        "{:?}",
        requests[0].decode_error
    );
    assert!(
        requests[2]
            .decode_error
            .as_deref()
            .unwrap()
            .starts_with("bad OTLP/JSON body"),
        "{:?}",
        requests[2].decode_error
    );
    assert!(
        requests[3]
            .decode_error
            .as_deref()
            .unwrap()
            .starts_with("bad gzip body"),
        "{:?}",
        requests[3].decode_error
    );
    assert_eq!(
        requests[4].decode_error.as_deref(),
        Some(
            r#"bad OTLP/JSON body: metric "m": sum: invalid type: string "yes", expected a boolean"#
        )
    );
    assert!(
        requests[5]
            .decode_error
            .as_deref()
            .unwrap()
            .starts_with(r#"bad OTLP/JSON body: metric "m": asInt: "#),
        "{:?}",
        requests[5].decode_error
    );
    assert!(receiver.metrics().is_empty());
    assert!(receiver.spans().is_empty());
    assert!(receiver.logs().is_empty());
}

/// Why `repair_metrics` exists: the crate's serde mapping turns an error inside a metric's data
/// or a point's value into `None` (serde `flatten` on an `Option`). Should a later release
/// report such errors, this test fails and the repair can go.
#[test]
fn the_crate_swallows_errors_inside_metric_oneofs() {
    let metric: Metric =
        serde_json::from_str(r#"{"name":"m","sum":{"isMonotonic":"yes"}}"#).unwrap();
    assert_eq!(metric.data, None);
    let point: NumberDataPoint = serde_json::from_str(r#"{"asDouble":"NaN"}"#).unwrap();
    assert_eq!(point.value, None);
}

#[test]
fn other_paths_methods_and_media_types_are_refused_and_recorded() {
    let receiver = OtlpReceiver::start().unwrap();
    let body = metrics_request().encode_to_vec();
    assert_eq!(post(&receiver, "/v1/metric", PROTOBUF, &body).status, 404);
    assert_eq!(post(&receiver, "/", "", b"").status, 404);
    assert_eq!(
        send(&receiver, "GET", "/v1/metrics", "", &[], b"").status,
        405
    );
    assert_eq!(
        post(&receiver, "/v1/metrics", "text/plain", &body).status,
        415
    );
    let answer = send(
        &receiver,
        "POST",
        "/v1/metrics",
        PROTOBUF,
        &[("Content-Encoding", "br")],
        &body,
    );
    assert_eq!(answer.status, 415);
    // Without a content type, protobuf is assumed.
    assert_eq!(post(&receiver, "/v1/metrics", "", &body).status, 200);

    let requests = receiver.requests();
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            Some(404),
            Some(404),
            Some(405),
            Some(415),
            Some(415),
            Some(200)
        ]
    );
    assert_eq!(requests[0].signal, Signal::Other);
    assert_eq!(requests[0].decode_error, None);
    assert_eq!(requests[2].method, "GET");
    assert!(
        requests[3]
            .decode_error
            .as_deref()
            .unwrap()
            .contains("content-type")
    );
    assert!(
        requests[4]
            .decode_error
            .as_deref()
            .unwrap()
            .contains("content-encoding")
    );
    assert_eq!(receiver.metrics().len(), 4, "only the last one is accepted");
}

#[test]
fn status_mode_answers_that_code_and_accepts_nothing() {
    let receiver = OtlpReceiver::start().unwrap();
    receiver.set_mode(Mode::Status(503));
    let answer = post(
        &receiver,
        "/v1/metrics",
        PROTOBUF,
        &metrics_request().encode_to_vec(),
    );
    assert_eq!(answer.status, 503);
    assert_eq!(RpcStatus::decode(&answer.body[..]).unwrap().code, 14);
    let answer = post(&receiver, "/v1/traces", JSON, TRACE_JSON.as_bytes());
    assert_eq!(answer.status, 503);
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.body).unwrap()["code"],
        14
    );
    assert!(receiver.metrics().is_empty());
    assert!(receiver.spans().is_empty());
    let requests = receiver.requests();
    assert_eq!(requests[0].status, Some(503));
    assert!(!requests[0].accepted);
    assert_eq!(requests[0].metrics.len(), 4, "what it carried is recorded");
    assert_eq!(requests[1].spans.len(), 1);

    receiver.set_mode(Mode::Ok);
    let answer = post(&receiver, "/v1/traces", JSON, TRACE_JSON.as_bytes());
    assert_eq!(answer.status, 200);
    assert_eq!(receiver.spans().len(), 1);
}

#[test]
fn hang_mode_holds_the_answer_until_the_mode_changes() {
    let receiver = OtlpReceiver::start().unwrap();
    receiver.set_mode(Mode::Hang);
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .write_all(&request_bytes(
            "POST",
            "/v1/logs",
            PROTOBUF,
            &[],
            &logs_request().encode_to_vec(),
        ))
        .unwrap();
    let held = receiver.wait_for(Duration::from_secs(10), |r| {
        r.requests().first().map(|request| request.status)
    });
    assert_eq!(held, Some(None), "recorded, not answered");
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let err = stream.read(&mut byte).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    assert!(receiver.logs().is_empty());

    receiver.set_mode(Mode::Ok);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let answer = read_answer(&mut BufReader::new(stream));
    assert_eq!(answer.status, 200);
    assert_eq!(receiver.logs().len(), 1);
    assert_eq!(receiver.requests()[0].status, Some(200));
}

#[test]
fn dropping_the_receiver_closes_held_connections() {
    let receiver = OtlpReceiver::start().unwrap();
    receiver.set_mode(Mode::Hang);
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(&request_bytes("POST", "/v1/metrics", PROTOBUF, &[], b""))
        .unwrap();
    assert!(
        receiver
            .wait_for(Duration::from_secs(10), |r| r.requests().pop())
            .is_some()
    );
    let started = Instant::now();
    drop(receiver);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer: {rest:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn expect_continue_and_chunked_bodies_are_served() {
    let receiver = OtlpReceiver::start().unwrap();
    let body = trace_request().encode_to_vec();
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    stream.write_all(&body).unwrap();
    assert_eq!(read_answer(&mut reader).status, 200);

    let (first, second) = body.split_at(body.len() / 2);
    let mut chunked = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for part in [first, second] {
        chunked.extend(format!("{:x}\r\n", part.len()).into_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&chunked).unwrap();
    assert_eq!(read_answer(&mut reader).status, 200);
    assert_eq!(receiver.spans().len(), 4);
}

#[test]
fn oversized_bodies_are_refused_before_reading() {
    let receiver = OtlpReceiver::start().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\nContent-Length: {}\r\n\r\n",
        u64::MAX
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let answer = read_answer(&mut reader);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("connection"), Some("close"));
    let request = &receiver.requests()[0];
    assert_eq!(request.status, Some(413));
    assert!(
        request
            .decode_error
            .as_deref()
            .unwrap()
            .contains("too large")
    );
}

#[test]
fn wait_for_times_out_with_none() {
    let receiver = OtlpReceiver::start().unwrap();
    let started = Instant::now();
    let found = receiver.wait_for(Duration::from_millis(100), |r| r.spans().pop());
    assert_eq!(found, None);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn any_values_render_as_text() {
    let value = |v: any_value::Value| render_any_value(Some(&AnyValue { value: Some(v) }));
    assert_eq!(value(any_value::Value::StringValue("a b".into())), "a b");
    assert_eq!(value(any_value::Value::BoolValue(false)), "false");
    assert_eq!(value(any_value::Value::IntValue(-12)), "-12");
    assert_eq!(value(any_value::Value::DoubleValue(3.0)), "3");
    assert_eq!(value(any_value::Value::DoubleValue(0.1)), "0.1");
    assert_eq!(value(any_value::Value::BytesValue(vec![1, 255])), "01ff");
    assert_eq!(render_any_value(None), "");
    assert_eq!(render_any_value(Some(&AnyValue { value: None })), "");
    let nested = any_value::Value::ArrayValue(ArrayValue {
        values: vec![
            AnyValue {
                value: Some(any_value::Value::DoubleValue(1.5)),
            },
            AnyValue { value: None },
            AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![string("q", "\"")],
                })),
            },
        ],
    });
    assert_eq!(value(nested), r#"[1.5,null,{"q":"\""}]"#);
}
