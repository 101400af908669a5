//! `offload export`: send what the ledger holds to the OpenTelemetry collector now, or a window
//! of it again (`--since`), or print the requests (`--dry-run`). See `shared::telemetry`.
//!
//!   offload export [--since X] [--signal metrics|traces] [--dry-run]

use chrono::{Local, Utc};

use shared::config::Config;
use shared::paths::Paths;
use shared::telemetry::export::{self, Flushed};
use shared::telemetry::send::{self, Sent};
use shared::telemetry::{Protocol, Settings, Signal, Target};

use crate::Error;
use crate::cli::ExportArgs;

pub fn main(args: ExportArgs) -> Result<u8, Error> {
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let loaded = Config::load(&paths.config_file);
    for w in &loaded.warnings {
        eprintln!("offload: warning: {w}");
    }
    let since = args
        .since
        .as_deref()
        .map(|s| shared::stats::parse_since(s, Utc::now(), &Local))
        .transpose()
        .map_err(Error::usage)?;
    let project = std::env::current_dir().ok();
    let mut settings = Settings::from_env(&loaded.config.telemetry, project.as_deref());
    for n in &settings.notes {
        eprintln!("offload: note: {n}");
    }
    let wanted = |s: Signal| args.signal.as_deref().is_none_or(|w| w == s.as_str());
    if !wanted(Signal::Metrics) {
        settings.metrics = None;
    }
    if !wanted(Signal::Traces) {
        settings.traces = None;
    }
    if args.dry_run {
        return dry_run(&paths, &settings, since, wanted);
    }
    if !settings.enabled() {
        return Err(Error::with_code(
            "telemetry export is off: set OTEL_METRICS_EXPORTER=otlp (and OTEL_TRACES_EXPORTER=otlp) \
             with OTEL_EXPORTER_OTLP_ENDPOINT, or \"telemetry\": {\"metrics\": true, \"traces\": true, \
             \"endpoint\": \"http://collector:4318\"} in offload's config; `offload export --dry-run` \
             shows what would be sent",
            1,
        ));
    }
    if args.skip_batch {
        users_own_terminal(
            "offload export --skip-batch leaves events out of the team's numbers for good",
        )?;
    }
    match since {
        Some(since) => {
            // Sending a window again counts it twice where it had arrived: the user's call.
            users_own_terminal(
                "offload export --since sends events again, which counts them twice where they had arrived",
            )?;
            replay(&paths, &settings, since)
        }
        None => {
            let done = match export::flush(&paths, &settings, args.skip_batch) {
                Ok(done) => done,
                Err(export::NotFlushed::Busy) => {
                    println!(
                        "offload: another export is running; it sends everything recorded so far"
                    );
                    return Ok(0);
                }
                Err(export::NotFlushed::Lock(e)) => {
                    return Err(Error::with_code(
                        format!("cannot export: {e}; nothing was sent, nothing is lost"),
                        1,
                    ));
                }
            };
            let mut code = 0;
            for f in &done {
                if args.skip_batch && f.skipped == 0 {
                    println!(
                        "{} → {}: nothing to skip (no batch is waiting on a refusal: only one the collector refused with 400, 413 at the smallest size, 415 or 422 can be)",
                        f.signal, f.url
                    );
                }
                println!("{}", describe(f));
                if f.error.is_some() {
                    code = 1;
                }
            }
            Ok(code)
        }
    }
}

fn describe(f: &Flushed) -> String {
    let what = if f.signal == "traces" {
        "spans"
    } else {
        "points"
    };
    let mut line = format!(
        "{} → {}: {} {what} from {} events in {} request{}",
        f.signal,
        f.url,
        f.sent,
        f.events,
        f.requests,
        if f.requests == 1 { "" } else { "s" }
    );
    if f.requests == 0 && f.error.is_none() && f.skipped == 0 {
        line = format!("{} → {}: up to date", f.signal, f.url);
    }
    if f.skipped > 0 {
        line.push_str(&format!(
            "\n  skipped on request: {} events (recorded; `offload doctor` shows it)",
            f.skipped
        ));
    }
    if let Some(e) = &f.error {
        line.push_str(&format!(
            "\n  stopped: {e}\n  nothing is lost: what was not sent stays in the ledger and goes with the next export{}",
            if f.refused {
                "; if the collector refuses this batch for good, `offload export --skip-batch` (in your terminal) skips it"
            } else {
                ""
            }
        ));
    }
    line
}

fn replay(paths: &Paths, settings: &Settings, since: chrono::DateTime<Utc>) -> Result<u8, Error> {
    let origin = export::origin(settings);
    let mut code = 0;
    for t in settings.targets() {
        let (mut sent, mut requests, mut error) = (0u64, 0u64, None);
        let events = export::replay(paths, t.signal, Some(since), |batch| {
            requests += 1;
            match send::post(t, &export::encode(t, &origin, batch), &export::dir(paths)) {
                Sent::Accepted => {
                    sent += batch.events;
                    true
                }
                Sent::TooLarge(why) | Sent::Refused(why) | Sent::Failed(why) => {
                    error = Some(why);
                    false
                }
            }
        })
        .map_err(|e| Error::with_code(e, 1))?;
        export::note_replay(paths, t, since, sent);
        println!(
            "{} → {}: sent again {sent} of {events} events since {} in {requests} request{}",
            t.signal.as_str(),
            t.url,
            since.with_timezone(&Local).format("%Y-%m-%d %H:%M"),
            if requests == 1 { "" } else { "s" }
        );
        if let Some(e) = error {
            println!("  stopped: {e}");
            code = 1;
        }
    }
    Ok(code)
}

/// Print each request as OTLP/JSON, one per line.
fn dry_run(
    paths: &Paths,
    settings: &Settings,
    since: Option<chrono::DateTime<Utc>>,
    wanted: impl Fn(Signal) -> bool,
) -> Result<u8, Error> {
    let origin = export::origin(settings);
    for signal in [Signal::Metrics, Signal::Traces] {
        if !wanted(signal) {
            continue;
        }
        let t = Target {
            signal,
            url: String::new(),
            protocol: Protocol::Json,
            headers: vec![],
            timeout: shared::telemetry::DEFAULT_TIMEOUT,
            tls: Default::default(),
        };
        export::replay(paths, signal, since, |batch| {
            println!(
                "{}",
                String::from_utf8_lossy(&export::encode(&t, &origin, batch))
            );
            true
        })
        .map_err(|e| Error::with_code(e, 1))?;
    }
    Ok(0)
}

/// The user, in a terminal of their own: what an operation that changes the team's numbers
/// needs (the same checks as `offload approve`: no Claude Code process or variable above, a
/// terminal for input, and not a terminal a command made for itself).
fn users_own_terminal(what: &str) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::with_code(
            format!("{what}; only the user runs it, in a terminal of their own ({why})"),
            1,
        )
    };
    if let Some(why) = shared::claude_marker::inside_claude_code() {
        return Err(refuse(format!("this looks like Claude Code: {why}")));
    }
    if !shared::claude_marker::on_a_terminal() {
        return Err(refuse(
            "its input is not a terminal in the foreground".into(),
        ));
    }
    if let shared::claude_marker::Terminal::Refused(why) =
        shared::claude_marker::judge_terminal(None)
    {
        return Err(refuse(why));
    }
    Ok(())
}
