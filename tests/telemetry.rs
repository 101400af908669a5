//! OpenTelemetry export, judged by what an OTLP receiver decodes with the official protobuf
//! definitions (`offload_testkit::otlp`): the real Claude Code, the real codex and offload
//! exporting to one receiver in one headless session; a collector that is down or hangs; the
//! cursors that make the ledger the queue; both encodings.

mod support;

use std::time::{Duration, Instant};

use offload_testkit::claude::{ClaudeHome, hooks_settings, require_real_claude};
use offload_testkit::codex::{CodexHome, config_toml, require_real_codex};
use offload_testkit::messages::{MockMessages, Step};
use offload_testkit::otlp::{Mode, OtlpReceiver};
use offload_testkit::responses::{MockResponses, Reply};
use serde_json::json;
use shared::ledger::{Body, Event};
use support::{Run, Sandbox, fake_codex, offload_bin};

/// `OTEL_*` for offload pointing at `url`.
fn otel(url: &str, protocol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_METRICS_EXPORTER", "otlp".into()),
        ("OTEL_TRACES_EXPORTER", "otlp".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.into()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.into()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000".into()),
    ]
}

fn with(mut run: Run, env: &[(&'static str, String)]) -> Run {
    for (k, v) in env {
        run = run.env(k, v);
    }
    run
}

/// Wait (at most 10 s) until no background flush holds the export lock.
fn settle(sb: &Sandbox) {
    let lock = sb.home().join("otel/flush.lock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match std::fs::File::open(&lock) {
            Ok(f) if f.try_lock().is_ok() => return,
            Err(_) => return,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("a background flush still runs after 10 s");
}

/// `offload` with the sandbox's state folder (no arguments yet).
fn off(sb: &Sandbox) -> Run {
    Run::new(offload_bin())
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_HOME", sb.codex_home())
        .env("CODEX_BIN", fake_codex())
        .current_dir(sb.work())
}

fn offload_points<'a>(
    points: &'a [offload_testkit::otlp::MetricPoint],
    name: &str,
) -> Vec<&'a offload_testkit::otlp::MetricPoint> {
    points
        .iter()
        .filter(|p| {
            p.name == name && p.resource.get("service.name").map(String::as_str) == Some("offload")
        })
        .collect()
}

/// The real Claude Code 2.1.332, the real codex 0.171.0 and offload, one receiver, one headless
/// session with a routed task: offload's metrics carry Claude Code's `session.id`; offload's
/// attempt span sits in Claude Code's trace under its Bash tool call, and codex's spans under
/// offload's. Claude Code's telemetry is configured the way a team does it, in its settings
/// `env`, which Claude Code does not pass on to Bash commands: offload finds it there.
#[test]
fn claude_offload_and_codex_in_one_pipeline() {
    let Some(claude) = require_real_claude(None) else {
        return;
    };
    let Some(codex) = require_real_codex() else {
        return;
    };
    let receiver = OtlpReceiver::start().unwrap();
    let responses = MockResponses::start().unwrap();
    responses.set_default(Reply::message("done by codex"));
    let codex_home = CodexHome::new(&responses.base_url());
    let url = receiver.url();
    std::fs::write(
        codex_home.path().join("config.toml"),
        format!(
            "{}\n[otel]\nenvironment = \"test\"\ntrace_exporter = {{ otlp-http = {{ endpoint = \"{url}/v1/traces\", protocol = \"binary\" }} }}\nmetrics_exporter = {{ otlp-http = {{ endpoint = \"{url}/v1/metrics\", protocol = \"binary\" }} }}\n",
            config_toml(&responses.base_url())
        ),
    )
    .unwrap();
    let messages = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&messages.base_url());
    let hook = support::workspace_bin("offload-hook");
    let mut settings = hooks_settings(&hook.display().to_string(), 10);
    settings["permissions"] = json!({"allow": ["Bash"]});
    settings["env"] = json!({
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "CLAUDE_CODE_PROPAGATE_TRACEPARENT": "1",
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
    });
    home.settings(settings);
    std::fs::create_dir_all(home.project()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let managed = tempfile::tempdir().unwrap();
    messages.push(Step::tool_use(
        "Bash",
        json!({"command": "offload run --work-type code 'list the files' read-only ."}),
    ));
    messages.push(Step::text("all done"));
    let mut env = support::offload_env(&codex, &codex_home, state.path());
    env.push((
        "OFFLOAD_MANAGED_DIR".into(),
        managed.path().display().to_string(),
    ));
    let started = Instant::now();
    let run = home.run_headless_with(
        &claude,
        &home.project(),
        "route this",
        &[],
        &env,
        Duration::from_secs(120),
    );
    assert!(!run.timed_out, "{}\n{}", run.stdout, run.stderr);
    let session = run.session_id.clone().expect("a session id");
    let results = messages.tool_results();
    assert!(
        results
            .first()
            .is_some_and(|r| r.content.contains("done by codex")),
        "the routed task ran: {results:?}"
    );
    // offload's attempt, with Claude Code's session id.
    let attempts = receiver
        .wait_for(Duration::from_secs(30), |r| {
            let m = r.metrics();
            let found: Vec<_> = offload_points(&m, "offload.attempt.count")
                .into_iter()
                .cloned()
                .collect();
            (!found.is_empty()).then_some(found)
        })
        .unwrap_or_else(|| panic!("no offload metrics: {:?}", receiver.requests()));
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    let a = &attempts[0];
    assert_eq!(a.attrs["session.id"], session);
    assert_eq!(a.attrs["outcome"], "success");
    assert_eq!(a.attrs["work_type"], "code");
    assert_eq!(a.value, 1.0);
    let m = receiver.metrics();
    let tokens: f64 = offload_points(&m, "offload.token.usage")
        .iter()
        .filter(|p| p.attrs["type"] == "input" && p.attrs["session.id"] == session)
        .map(|p| p.value)
        .sum();
    assert_eq!(tokens, 100.0, "the mock's input tokens");
    // Claude Code's own metrics, with the same session id.
    let claude_session = receiver
        .wait_for(Duration::from_secs(20), |r| {
            r.metrics()
                .iter()
                .find(|p| {
                    p.name.starts_with("claude_code.")
                        && p.attrs.get("session.id") == Some(&session)
                })
                .cloned()
        })
        .unwrap_or_else(|| panic!("no Claude Code metrics for {session}"));
    assert_eq!(claude_session.resource["service.name"], "claude-code");
    // One trace: Claude Code's tool span → offload's attempt → codex's spans.
    let (offload_span, spans) = receiver
        .wait_for(Duration::from_secs(30), |r| {
            let spans = r.spans();
            let o = spans.iter().find(|s| s.name == "offload.attempt")?.clone();
            (spans.iter().any(|s| s.parent_span_id == o.span_id)
                && spans.iter().any(|s| s.span_id == o.parent_span_id))
            .then_some((o, spans))
        })
        .unwrap_or_else(|| {
            panic!(
                "no offload span with codex children: {:?}",
                receiver
                    .spans()
                    .iter()
                    .map(|s| format!("{} ({:?})", s.name, s.resource.get("service.name")))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(offload_span.resource["service.name"], "offload");
    assert_eq!(offload_span.attrs["session.id"], session);
    let parent = spans
        .iter()
        .find(|s| s.span_id == offload_span.parent_span_id)
        .unwrap_or_else(|| panic!("offload's parent span is not in the receiver"));
    assert_eq!(parent.resource["service.name"], "claude-code");
    assert_eq!(parent.trace_id, offload_span.trace_id);
    let codex_children: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == offload_span.span_id)
        .collect();
    assert!(
        codex_children
            .iter()
            .all(|s| s.resource["service.name"].starts_with("codex")
                && s.trace_id == offload_span.trace_id),
        "{codex_children:?}"
    );
    assert!(receiver.requests().iter().all(|r| r.decode_error.is_none()));
    // offload's collector hangs (offload's config points it elsewhere than Claude Code's, and
    // outranks Claude Code's settings): the next routed task costs offload no more than it
    // does without export, and what it recorded reaches that collector when it answers.
    let hung = OtlpReceiver::start().unwrap();
    hung.set_mode(Mode::Hang);
    std::fs::write(
        state.path().join("config.json"),
        json!({"telemetry": {"metrics": true, "traces": true, "endpoint": hung.url(), "timeout_ms": 60000}})
            .to_string(),
    )
    .unwrap();
    messages.push(Step::tool_use(
        "Bash",
        json!({"command": "s=$(date +%s%N); offload run --work-type code 'list them again' read-only .; echo \"wall_ms=$(( ($(date +%s%N) - s) / 1000000 ))\""}),
    ));
    messages.push(Step::text("done again"));
    let again = home.run_headless_with(
        &claude,
        &home.project(),
        "route this too",
        &[],
        &env,
        Duration::from_secs(120),
    );
    assert!(!again.timed_out, "{}\n{}", again.stdout, again.stderr);
    let out = messages.tool_results().last().cloned().unwrap().content;
    let wall: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("wall_ms="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wall time in {out:?}"));
    let ledger =
        shared::ledger::Ledger::new(shared::paths::Paths::in_folder(state.path().to_path_buf()));
    let codex_ms = ledger
        .read_log()
        .unwrap()
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            Body::AttemptFinished(f) => Some(f.duration_ms),
            _ => None,
        })
        .unwrap();
    // offload's own part of the run (process start, records, the run folder, the flush's
    // start) against a collector that would hold an export for a minute: far under a second.
    let own = wall.saturating_sub(codex_ms);
    eprintln!("with a hung collector: run {wall} ms, codex {codex_ms} ms, offload {own} ms");
    assert!(
        own < 1500,
        "the run waited for the collector: {wall} ms wall, codex {codex_ms} ms"
    );
    assert!(
        hung.wait_for(Duration::from_secs(20), |r| (!r.requests().is_empty())
            .then_some(()))
            .is_some(),
        "the flush reached the hung collector"
    );
    hung.set_mode(Mode::Ok);
    let both = hung.wait_for(Duration::from_secs(30), |r| {
        let m = r.metrics();
        let n: f64 = offload_points(&m, "offload.attempt.count")
            .iter()
            .map(|p| p.value)
            .sum();
        (n >= 2.0).then_some(n)
    });
    assert_eq!(
        both,
        Some(2.0),
        "both sessions' attempts, once: {:?}",
        hung.requests().len()
    );
    eprintln!("one pipeline in {:?}", started.elapsed());
}

/// A collector that hangs costs a run nothing (the export is detached) and loses nothing: when
/// it answers again, `offload export` sends what the run recorded; a collector that is down
/// likewise. The real codex, so the run is a real one.
#[test]
fn a_collector_down_or_hung_costs_the_run_nothing_and_loses_nothing() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let responses = MockResponses::start().unwrap();
    responses.set_default(Reply::message("ok"));
    let codex_home = CodexHome::new(&responses.base_url());
    let receiver = OtlpReceiver::start().unwrap();
    receiver.set_mode(Mode::Hang);
    let sb = Sandbox::new();
    let run = |env: &[(&'static str, String)]| {
        let mut r = with(off(&sb), env)
            .env("CODEX_BIN", &codex)
            .env("CLAUDE_CODE_SESSION_ID", "s-down")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "30000")
            .args(["run", "say ok", "read-only"])
            .arg(codex_home.workdir());
        for (k, v) in codex_home.envs() {
            r = r.env(&k, v);
        }
        let t = Instant::now();
        let done = r.output();
        (done, t.elapsed())
    };
    // Down: nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let (done, _) = run(&otel(&closed, "http/protobuf"));
    assert_eq!(done.code(), 0, "{}", done.stderr());
    settle(&sb);
    // doctor names the failing collector, what is waiting, and that nothing is lost.
    let doctor = with(off(&sb), &otel(&closed, "http/protobuf"))
        .env("HOME", sb.dir.path())
        .args(["doctor", "--json"])
        .output();
    let checks: serde_json::Value = serde_json::from_str(&doctor.stdout()).unwrap();
    let t = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "telemetry")
        .unwrap_or_else(|| panic!("no telemetry check: {checks}"));
    assert_eq!(t["status"], "warn", "{t}");
    let detail = t["detail"].as_str().unwrap();
    assert!(
        detail.contains("Connection refused") && detail.contains("not sent yet"),
        "{t}"
    );
    assert!(
        t["hint"].as_str().unwrap().contains("nothing is lost"),
        "{t}"
    );
    let (done, took) = run(&otel(&receiver.url(), "http/protobuf"));
    assert_eq!(done.code(), 0, "{}", done.stderr());
    // The flush waits up to 30 s for the hung collector; the run did not.
    assert!(
        took < Duration::from_secs(15),
        "the run waited for the export: {took:?}"
    );
    let hung = receiver.wait_for(Duration::from_secs(10), |r| {
        (!r.requests().is_empty()).then_some(())
    });
    assert!(hung.is_some(), "the flush reached the hung collector");
    // Back: one explicit export to the (now answering) receiver sends both attempts once.
    receiver.set_mode(Mode::Ok);
    let sent = with(off(&sb), &otel(&receiver.url(), "http/protobuf"))
        .arg("export")
        .output();
    assert_eq!(sent.code(), 0, "{}\n{}", sent.stdout(), sent.stderr());
    let total = receiver
        .wait_for(Duration::from_secs(10), |r| {
            let m = r.metrics();
            let n: f64 = offload_points(&m, "offload.attempt.count")
                .iter()
                .map(|p| p.value)
                .sum();
            (n >= 2.0).then_some(n)
        })
        .unwrap_or_else(|| panic!("attempts lost: {:?}", receiver.metrics()));
    assert_eq!(total, 2.0, "each attempt once");
    let spans = receiver.wait_for(Duration::from_secs(10), |r| {
        let n = r
            .spans()
            .iter()
            .filter(|s| s.name == "offload.attempt")
            .count();
        (n >= 2).then_some(n)
    });
    std::thread::sleep(Duration::from_millis(300));
    let n = receiver
        .spans()
        .iter()
        .filter(|s| s.name == "offload.attempt")
        .count();
    assert_eq!((spans, n), (Some(2), 2), "a span per attempt, once");
}

/// The ledger is the queue: an export sends each event once; a collector that refuses a
/// request for good (400) skips it without blocking the rest; another endpoint has its own
/// cursor (a server of one's own takes nothing from the team's collector); a log cut under
/// the cursor resends only what came after the last event sent; both encodings decode.
#[test]
fn the_ledger_is_the_queue() {
    let receiver = OtlpReceiver::start().unwrap();
    let sb = Sandbox::new();
    let n_attempts = |r: &OtlpReceiver| -> f64 {
        let m = r.metrics();
        offload_points(&m, "offload.attempt.count")
            .iter()
            .map(|p| p.value)
            .sum()
    };
    for (i, protocol) in ["http/protobuf", "http/json"].into_iter().enumerate() {
        let done = with(off(&sb), &otel(&receiver.url(), protocol))
            .env("CODEX_BIN", fake_codex())
            .env("CLAUDE_CODE_SESSION_ID", "s-queue")
            .args(["run", "say ok", "read-only"])
            .arg(sb.work())
            .output();
        assert_eq!(done.code(), 0, "{}", done.stderr());
        // Each run's own flush sends its attempt (in its own encoding) before the next run: a
        // flush still going when the next attempt is recorded would send that one too.
        let want = (i + 1) as f64;
        receiver.wait_for(Duration::from_secs(10), |r| {
            (n_attempts(r) >= want).then_some(())
        });
    }
    assert_eq!(
        receiver.wait_for(Duration::from_secs(10), |r| (n_attempts(r) >= 2.0)
            .then_some(n_attempts(r))),
        Some(2.0)
    );
    let ct: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.content_type.clone())
        .collect();
    assert!(
        ct.iter().any(|c| c.contains("protobuf")) && ct.iter().any(|c| c.contains("json")),
        "{ct:?}"
    );
    // Nothing new: an export sends nothing.
    settle(&sb);
    let before = receiver.requests().len();
    let again = with(off(&sb), &otel(&receiver.url(), "http/protobuf"))
        .arg("export")
        .output();
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert!(again.stdout().contains("up to date"), "{}", again.stdout());
    assert_eq!(receiver.requests().len(), before);
    // Another endpoint (a receiver of one's own) gets everything, and moves nothing for ours.
    let other = OtlpReceiver::start().unwrap();
    let mine = with(off(&sb), &otel(&other.url(), "http/json"))
        .arg("export")
        .output();
    assert_eq!(mine.code(), 0, "{}", mine.stderr());
    assert_eq!(n_attempts(&other), 2.0);
    let deny = |n: u32| {
        let ev = Event::now(
            Some("s-queue"),
            Body::GuardDenied {
                tool: format!("Tool{n}"),
                reason: "route-first".into(),
                warn: false,
            },
        );
        sb.ledger().append(&[ev]).unwrap();
    };
    let denials = |r: &OtlpReceiver| -> f64 {
        let m = r.metrics();
        offload_points(&m, "offload.guard.denial.count")
            .iter()
            .map(|p| p.value)
            .sum()
    };
    let export = |extra: &[&str], env: &[(&'static str, String)]| {
        with(with(off(&sb), &otel(&receiver.url(), "http/protobuf")), env)
            .arg("export")
            .args(extra)
            .output()
    };
    // The user's own terminal (what --skip-batch and --since need); its output is all stdout.
    let export_tty = |extra: &[&str], env: &[(&'static str, String)]| {
        with(with(off(&sb), &otel(&receiver.url(), "http/protobuf")), env)
            .arg("export")
            .args(extra)
            .in_terminal()
    };
    // A refusal (400) drops nothing: the batch waits and goes when the collector takes it.
    deny(1);
    receiver.set_mode(Mode::Status(400));
    let refused = export(&[], &[]);
    assert_eq!(refused.code(), 1, "{}", refused.stdout());
    assert!(
        refused.stdout().contains("HTTP 400") && refused.stdout().contains("nothing is lost"),
        "{}",
        refused.stdout()
    );
    receiver.set_mode(Mode::Ok);
    assert_eq!(export(&[], &[]).code(), 0);
    assert_eq!(denials(&receiver), 1.0, "the refused batch arrived later");
    // A batch whose answer never came is sent again as the very same bytes (the same points
    // in the same windows), however much was recorded meanwhile.
    deny(2);
    receiver.set_mode(Mode::Hang);
    let lost = export(&[], &[("OTEL_EXPORTER_OTLP_TIMEOUT", "300".into())]);
    assert_eq!(lost.code(), 1, "{}", lost.stdout());
    let held = receiver
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/v1/metrics"))
        .unwrap();
    receiver.set_mode(Mode::Ok);
    deny(3);
    let n = receiver.requests().len();
    assert_eq!(export(&[], &[]).code(), 0);
    let resent: Vec<_> = receiver.requests()[n..]
        .iter()
        .filter(|r| r.path.ends_with("/v1/metrics"))
        .cloned()
        .collect();
    assert!(
        resent.len() >= 2,
        "the pending batch, then the new one: {resent:?}"
    );
    assert_eq!(resent[0].body, held.body, "the same batch, byte for byte");
    assert_ne!(resent[1].body, held.body);
    // A batch the collector refuses for good: the user skips it, recorded; nothing else is.
    deny(4);
    receiver.set_mode(Mode::Status(400));
    assert_eq!(export(&[], &[]).code(), 1);
    let skipped = export_tty(&["--skip-batch"], &[]);
    assert!(
        skipped.stdout().contains("skipped on request: 1 events"),
        "{}",
        skipped.stdout()
    );
    receiver.set_mode(Mode::Ok);
    let before = denials(&receiver);
    assert!(export(&[], &[]).stdout().contains("up to date"));
    assert_eq!(denials(&receiver), before, "the skipped batch is not sent");
    let doctor = with(off(&sb), &otel(&receiver.url(), "http/protobuf"))
        .env("HOME", sb.dir.path())
        .args(["doctor", "--json"])
        .output();
    assert!(
        doctor.stdout().contains("skipped on request"),
        "{}",
        doctor.stdout()
    );
    // Nothing waiting on a refusal: nothing to skip. And never from inside Claude Code, nor a
    // replay (both change what the team's collector counts).
    deny(6);
    let nothing = export_tty(&["--skip-batch"], &[]);
    assert!(
        nothing.stdout().contains("nothing to skip"),
        "{}",
        nothing.stdout()
    );
    assert_eq!(denials(&receiver), before + 1.0, "sent, not skipped");
    // A collector that is only away (503) is waited for: its batch cannot be skipped.
    deny(7);
    receiver.set_mode(Mode::Status(503));
    assert_eq!(export(&[], &[]).code(), 1);
    let away = export_tty(&["--skip-batch"], &[]);
    assert!(
        away.stdout().contains("nothing to skip"),
        "{}",
        away.stdout()
    );
    receiver.set_mode(Mode::Ok);
    assert_eq!(export(&[], &[]).code(), 0);
    assert_eq!(denials(&receiver), before + 2.0, "the 503 batch arrived");
    for args in [&["--skip-batch"][..], &["--since", "1d"][..]] {
        let claude = export_tty(args, &[("CLAUDECODE", "1".into())]);
        assert_eq!(claude.code(), 1, "{args:?}: {}", claude.stdout());
        assert!(
            claude.stdout().contains("only the user"),
            "{}",
            claude.stdout()
        );
        let piped = export(args, &[]);
        assert_eq!(piped.code(), 1, "{args:?}: {}", piped.stdout());
        assert!(
            piped.stderr().contains("not a terminal"),
            "{}",
            piped.stderr()
        );
    }
    // One damaged copy of the progress file: the other one carries on (nothing sent twice);
    // both damaged: nothing is sent, and the reason is given.
    let otel_dir = sb.home().join("otel");
    let copies: Vec<_> = std::fs::read_dir(&otel_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.to_string_lossy().contains("metrics-") && p.extension().is_some_and(|x| x == "json")
        })
        .collect();
    let ours: Vec<_> = copies
        .iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&receiver.url())))
        .cloned()
        .collect();
    assert_eq!(ours.len(), 2, "two copies: {copies:?}");
    // The older copy damaged (the newer one is a step ahead; damaging that one costs at most
    // that step, sent again identically).
    let seq = |p: &std::path::Path| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let mut ours = ours;
    ours.sort_by_key(|p| seq(p));
    std::fs::write(&ours[0], "garbage").unwrap();
    let n = receiver.requests().len();
    assert!(export(&[], &[]).stdout().contains("up to date"));
    assert_eq!(receiver.requests().len(), n);
    let good = std::fs::read(&ours[1]).unwrap();
    std::fs::write(&ours[1], "").unwrap();
    deny(5);
    let damaged = export(&["--signal", "metrics"], &[]);
    assert_eq!(damaged.code(), 1);
    assert!(damaged.stdout().contains("damaged"), "{}", damaged.stdout());
    assert_eq!(receiver.requests().len(), n, "nothing sent on a guess");
    std::fs::write(&ours[1], good).unwrap();
    // The log cut below the cursor (rotated by hand, say): only events after the last one sent
    // go, once.
    let log = sb.home().join("events.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let first_line = text.lines().next().unwrap();
    std::fs::write(&log, format!("{first_line}\n")).unwrap();
    with(off(&sb), &otel(&receiver.url(), "http/protobuf"))
        .env("CODEX_BIN", fake_codex())
        .env("CLAUDE_CODE_SESSION_ID", "s-queue")
        .args(["run", "say ok", "read-only"])
        .arg(sb.work())
        .output();
    let total = receiver.wait_for(Duration::from_secs(10), |r| {
        (n_attempts(r) >= 3.0).then_some(n_attempts(r))
    });
    assert_eq!(total, Some(3.0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        n_attempts(&receiver),
        3.0,
        "the first attempt is not sent twice"
    );
    // --since sends a window again, whatever was sent: every attempt in the log now (one).
    let replay = with(off(&sb), &otel(&receiver.url(), "http/json"))
        .args(["export", "--since", "1h"])
        .in_terminal();
    assert_eq!(replay.code(), 0, "{}", replay.stdout());
    assert!(
        replay.stdout().contains("sent again"),
        "{}",
        replay.stdout()
    );
    assert_eq!(n_attempts(&receiver), 4.0);
    assert!(
        receiver
            .requests()
            .iter()
            .filter(|r| r.status == Some(200))
            .all(|r| r.decode_error.is_none())
    );
}

/// The hook sends what it recorded on the next user prompt (not on tool calls), from a
/// detached flush; without configuration it starts nothing.
#[test]
fn the_hook_sends_its_denials_on_the_next_prompt() {
    let receiver = OtlpReceiver::start().unwrap();
    let sb = Sandbox::new();
    let project = std::fs::canonicalize(sb.work()).unwrap();
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.json"),
        serde_json::to_vec(&json!({"runner": {"codex_bin": fake_codex()}})).unwrap(),
    )
    .unwrap();
    let hook = support::workspace_bin("offload-hook");
    let payload = |event: &str, extra: serde_json::Value| {
        let mut v = json!({
            "session_id": "s-hook",
            "transcript_path": "/dev/null",
            "cwd": project,
            "hook_event_name": event,
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.to_string()
    };
    let call = |env: &[(&'static str, String)], body: String| {
        with(Run::new(&hook), env)
            .env("OFFLOAD_HOME", sb.home())
            .env("CLAUDE_PROJECT_DIR", &project)
            .env("HOME", sb.dir.path())
            .stdin(&body)
            .output()
    };
    let otel = otel(&receiver.url(), "http/protobuf");
    call(
        &otel,
        payload("UserPromptSubmit", json!({"prompt": "fix the bug"})),
    );
    // The prompt itself (a turn) goes at once.
    let turns = receiver.wait_for(Duration::from_secs(10), |r| {
        let m = r.metrics();
        let n: f64 = offload_points(&m, "offload.turn.count")
            .iter()
            .map(|p| p.value)
            .sum();
        (n >= 1.0).then_some(n)
    });
    assert_eq!(turns, Some(1.0));
    settle(&sb);
    let denied = call(
        &otel,
        payload(
            "PreToolUse",
            json!({"tool_name": "Edit", "tool_input": {"file_path": project.join("src/lib.rs"), "old_string": "a", "new_string": "b"}}),
        ),
    );
    assert!(
        denied.stdout().contains("\"permissionDecision\":\"deny\""),
        "{}",
        denied.stdout()
    );
    std::thread::sleep(Duration::from_millis(500));
    let denials = |r: &OtlpReceiver| -> f64 {
        let m = r.metrics();
        offload_points(&m, "offload.guard.denial.count")
            .iter()
            .map(|p| p.value)
            .sum()
    };
    assert_eq!(denials(&receiver), 0.0, "a tool call starts no export");
    // A prompt within a minute of the last flush starts none either (what waits goes with the
    // next one)...
    call(
        &otel,
        payload("UserPromptSubmit", json!({"prompt": "go on"})),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        denials(&receiver),
        0.0,
        "at most one flush a minute from the hook"
    );
    // ...and the first prompt after that minute does.
    let lock = std::fs::File::options()
        .write(true)
        .open(sb.home().join("otel/flush.lock"))
        .unwrap();
    lock.set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    call(
        &otel,
        payload("UserPromptSubmit", json!({"prompt": "and on"})),
    );
    let got = receiver.wait_for(Duration::from_secs(10), |r| {
        (denials(r) >= 1.0).then_some(denials(r))
    });
    assert_eq!(got, Some(1.0));
    let p = receiver.metrics();
    let d = offload_points(&p, "offload.guard.denial.count");
    assert_eq!(d[0].attrs["tool"], "Edit");
    assert_eq!(d[0].attrs["reason"], "route-first");
    assert_eq!(d[0].attrs["session.id"], "s-hook");
    // Not configured: nothing goes anywhere, and the prompt is answered as always.
    let quiet = OtlpReceiver::start().unwrap();
    let off = call(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", quiet.url())],
        payload("UserPromptSubmit", json!({"prompt": "x"})),
    );
    assert_eq!(off.code(), 0, "{}", off.stderr());
    std::thread::sleep(Duration::from_millis(500));
    assert!(quiet.requests().is_empty());
}

/// `--dry-run` prints the OTLP/JSON requests without any configuration; bad settings are named.
#[test]
fn dry_run_and_bad_settings() {
    let sb = Sandbox::new();
    let run = off(&sb)
        .env("CODEX_BIN", fake_codex())
        .args(["run", "say ok", "read-only"])
        .arg(sb.work())
        .output();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let dry = off(&sb).args(["export", "--dry-run"]).output();
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    let lines: Vec<serde_json::Value> = dry
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|v| v.get("resourceMetrics").is_some()));
    assert!(lines.iter().any(|v| v.get("resourceSpans").is_some()));
    let unset = off(&sb).arg("export").output();
    assert_eq!(unset.code(), 1);
    assert!(
        unset.stderr().contains("export is off"),
        "{}",
        unset.stderr()
    );
    let grpc = off(&sb)
        .env("OTEL_METRICS_EXPORTER", "otlp")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .arg("export")
        .output();
    assert!(grpc.stderr().contains("grpc"), "{}", grpc.stderr());
    // Claude Code's telemetry settings are followed from the user's settings, never from a
    // repository's (which would choose where the user's records and credentials go).
    let receiver = OtlpReceiver::start().unwrap();
    let claude_env = json!({"env": {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url(),
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20secret",
    }})
    .to_string();
    let home = sb.dir.path().join("home");
    std::fs::create_dir_all(sb.work().join(".claude")).unwrap();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(sb.work().join(".claude/settings.json"), &claude_env).unwrap();
    let repo = off(&sb)
        .env("HOME", &home)
        .env("OFFLOAD_MANAGED_DIR", sb.dir.path().join("managed"))
        .arg("export")
        .output();
    assert!(repo.stderr().contains("export is off"), "{}", repo.stderr());
    std::fs::write(home.join(".claude/settings.json"), &claude_env).unwrap();
    let user = off(&sb)
        .env("HOME", &home)
        .env("OFFLOAD_MANAGED_DIR", sb.dir.path().join("managed"))
        .arg("export")
        .output();
    assert_eq!(user.code(), 0, "{}{}", user.stdout(), user.stderr());
    let got = receiver.requests();
    assert!(!got.is_empty());
    assert_eq!(got[0].header("authorization"), Some("Bearer secret"));
    let since = off(&sb)
        .args(["export", "--since", "yesterday-ish"])
        .output();
    assert_eq!(since.code(), 2, "{}", since.stderr());
}

/// A collector with a size limit (413) gets smaller batches, metrics and spans alike, down to
/// one event's; every attempt arrives once; the size that got through is kept for the next
/// flush. A batch resent after a lost answer is the same request even when the resource
/// changed meanwhile (an upgrade, another `OTEL_RESOURCE_ATTRIBUTES`).
#[test]
fn a_size_limit_gets_smaller_batches_and_a_resend_keeps_its_resource() {
    let receiver = OtlpReceiver::start().unwrap();
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    // 60 sessions: 60 series of each metric, too many for one 20 kB request.
    let mut events = Vec::new();
    for i in 0..60 {
        let session = format!("session-{i:02}");
        events.push(Event::now(
            Some(&session),
            Body::AttemptFinished(Box::new(shared::ledger::AttemptFinished {
                attempt: format!("a{i}"),
                outcome: shared::outcome::Outcome::Success,
                exit_code: 0,
                codex_exit: Some(0),
                model: "gpt-5.5".into(),
                sandbox: "read-only".into(),
                work_type: Some("code".into()),
                cwd: "/w/p".into(),
                duration_ms: 1000 + i,
                tokens: shared::ledger::Tokens {
                    input: 100,
                    cached_input: 0,
                    output: 10,
                    reasoning: 0,
                    total: 110,
                },
                thread_id: None,
                error: None,
                unconfigured_codex: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        ));
    }
    sb.ledger().append(&events).unwrap();
    receiver.set_mode(Mode::MaxBody(20_000));
    let export = |env: &[(&'static str, String)]| {
        with(with(off(&sb), &otel(&receiver.url(), "http/json")), env)
            .arg("export")
            .output()
    };
    let done = export(&[]);
    assert_eq!(done.code(), 0, "{}{}", done.stdout(), done.stderr());
    let m = receiver.metrics();
    let attempts: f64 = offload_points(&m, "offload.attempt.count")
        .iter()
        .map(|p| p.value)
        .sum();
    assert_eq!(attempts, 60.0, "{}", done.stdout());
    let spans = receiver.spans();
    assert_eq!(spans.len(), 60);
    let mut ids: Vec<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "each span once");
    assert!(receiver.requests().iter().any(|r| r.status == Some(413)));
    assert!(
        receiver
            .requests()
            .iter()
            .filter(|r| r.status == Some(200))
            .all(|r| r.body.len() <= 20_000)
    );
    // The next flush starts at the size that got through: no 413 first.
    let n = receiver.requests().len();
    let more: Vec<Event> = events.iter().take(10).cloned().collect();
    sb.ledger().append(&more).unwrap();
    assert_eq!(export(&[]).code(), 0);
    assert!(
        receiver.requests()[n..]
            .iter()
            .all(|r| r.status == Some(200)),
        "{:?}",
        receiver.requests()[n..]
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>()
    );
    // A lost answer, then the resource changes: the resend is the same bytes.
    receiver.set_mode(Mode::Hang);
    sb.ledger().append(&events[..1]).unwrap();
    let lost = export(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300".into()),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a".into()),
    ]);
    assert_eq!(lost.code(), 1);
    let held = receiver
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/v1/metrics"))
        .unwrap();
    receiver.set_mode(Mode::Ok);
    let n = receiver.requests().len();
    assert_eq!(
        export(&[("OTEL_RESOURCE_ATTRIBUTES", "team=b".into())]).code(),
        0
    );
    let resent = receiver.requests()[n..]
        .iter()
        .find(|r| r.path.ends_with("/v1/metrics"))
        .cloned()
        .unwrap();
    assert_eq!(resent.body, held.body, "the same request, team=a and all");
}
