//! Sending the ledger to a collector: the cursor per destination, the flush, the replay, and
//! the cheap check that starts a flush.
//!
//! **The ledger is the queue.** Each destination (signal and URL) has a cursor in the state
//! folder, `otel/<signal>-<hash>.json`: the log offset sent up to, the checksum of the line
//! ending there (as the summaries keep one, see [`crate::ledger`]), the end of the last window
//! sent, and the last error. A flush sends the events past the offset, in rounds of at most
//! [`ROUND_BYTES`] of log, and moves the cursor only when the collector took them (or refused
//! them for good). A collector that is down leaves the cursor where it was: nothing that is in
//! the ledger is lost, and the next flush sends it. A cursor whose line no longer matches (the
//! log was replaced or cut) restarts from the first event after the last one it sent.
//!
//! **One flush at a time**: a flush holds `otel/flush.lock` (`flock`, not waited for: a flush
//! that finds it held leaves the work to the one running, which looks again before it ends).
//! Another destination's cursor is its own, so pointing `OTEL_EXPORTER_OTLP_ENDPOINT` at a
//! server of one's own for one command moves nothing for the team's collector.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::metrics::{Batch, nanos};
use super::otlp::{self, Origin, Value};
use super::send::{self, Sent};
use super::{Protocol, Settings, Signal, Target};
use crate::ledger::{Ledger, Line};
use crate::paths::Paths;

/// Log bytes one round sends at most (some 60 000 events).
pub const ROUND_BYTES: u64 = 16 << 20;
/// Spans in one request at most.
pub const MAX_SPANS: usize = 2000;
/// Rounds one flush makes at most (then the next flush goes on).
const MAX_ROUNDS: usize = 64;

/// Where the cursors live.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.state_dir.join("otel")
}

/// How far one destination has been sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    pub v: u32,
    pub signal: String,
    pub url: String,
    /// Log offset sent up to (a line end).
    pub offset: u64,
    /// [`crate::ledger::line_sum`] of the line ending at `offset`.
    pub tail_sum: u64,
    /// Time of the newest event sent (to find the place again in a log that changed).
    pub last_event: Option<DateTime<Utc>>,
    /// End of the last window sent (ns since the epoch): the next window starts there.
    pub window_end_ns: u64,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Requests the collector refused for good (their events are skipped).
    pub rejected: u64,
    /// Points or spans sent, all told.
    pub sent: u64,
}

/// FNV-1a of the URL, for the cursor's file name.
fn url_key(url: &str) -> String {
    otlp::hex(&super::trace::derived::<6>(url))
}

pub fn cursor_path(paths: &Paths, t: &Target) -> PathBuf {
    dir(paths).join(format!("{}-{}.json", t.signal.as_str(), url_key(&t.url)))
}

/// The cursor of a destination (`None`: never sent to; a damaged file reads as none).
pub fn read_cursor(paths: &Paths, t: &Target) -> Option<Cursor> {
    let bytes = crate::fsutil::read_regular(&cursor_path(paths, t), 1 << 20)
        .ok()
        .flatten()?;
    serde_json::from_slice::<Cursor>(&bytes)
        .ok()
        .filter(|c| c.url == t.url)
}

fn write_cursor(paths: &Paths, t: &Target, c: &Cursor) -> std::io::Result<()> {
    crate::fsutil::create_private_dir(&dir(paths))?;
    let bytes = serde_json::to_vec_pretty(c).unwrap_or_default();
    crate::fsutil::write_atomic(&cursor_path(paths, t), &bytes)
}

/// Whether the log holds events a destination has not been sent: its length differs from
/// the cursor's offset (a `stat` and one small read). What decides, cheaply, whether a flush
/// is worth starting.
pub fn behind(paths: &Paths, settings: &Settings) -> bool {
    let len = std::fs::metadata(paths.events()).map_or(0, |m| m.len());
    len > 0
        && settings
            .targets()
            .any(|t| read_cursor(paths, t).is_none_or(|c| c.offset != len))
}

/// The resource every export carries.
pub fn origin(settings: &Settings) -> Origin {
    let mut resource: otlp::Attrs = vec![
        ("service.name".into(), Value::Str("offload".into())),
        (
            "service.version".into(),
            Value::Str(env!("CARGO_PKG_VERSION").into()),
        ),
    ];
    if let Some(h) = hostname() {
        resource.push(("host.name".into(), Value::Str(h)));
    }
    resource.push(("os.type".into(), Value::Str(std::env::consts::OS.into())));
    for (k, v) in &settings.resource {
        resource.push((k.clone(), Value::Str(v.clone())));
    }
    Origin {
        resource,
        scope_name: "offload",
        scope_version: env!("CARGO_PKG_VERSION"),
    }
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let h = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!h.is_empty()).then_some(h)
}

/// What one destination's flush did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flushed {
    pub signal: &'static str,
    pub url: String,
    /// Events sent (folded into points, or spans).
    pub events: u64,
    /// Points or spans sent.
    pub sent: u64,
    pub requests: u64,
    /// Why it stopped short, if it did (the cursor stays there).
    pub error: Option<String>,
    /// Requests refused for good (their events skipped).
    pub rejected: Vec<String>,
}

/// The body of one request for a target.
pub fn encode(t: &Target, origin: &Origin, batch: &Batch) -> Vec<u8> {
    match (t.signal, t.protocol) {
        (Signal::Metrics, Protocol::Protobuf) => otlp::metrics_protobuf(origin, &batch.metrics()),
        (Signal::Metrics, Protocol::Json) => otlp::metrics_json(origin, &batch.metrics()),
        (Signal::Traces, Protocol::Protobuf) => otlp::traces_protobuf(origin, batch.spans()),
        (Signal::Traces, Protocol::Json) => otlp::traces_json(origin, batch.spans()),
    }
}

/// Send what each destination has not had yet. `None` when another flush holds the lock.
pub fn flush(paths: &Paths, settings: &Settings) -> Option<Vec<Flushed>> {
    let _ = crate::fsutil::create_private_dir(&dir(paths));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir(paths).join("flush.lock"))
        .ok()?;
    if lock.try_lock().is_err() {
        return None;
    }
    let ledger = Ledger::new(paths.clone());
    let origin = origin(settings);
    let mut all = Vec::new();
    for t in settings.targets() {
        all.push(flush_one(paths, &ledger, t, &origin));
    }
    Some(all)
}

fn flush_one(paths: &Paths, ledger: &Ledger, t: &Target, origin: &Origin) -> Flushed {
    let mut out = Flushed {
        signal: t.signal.as_str(),
        url: t.url.clone(),
        ..Flushed::default()
    };
    let mut cur = read_cursor(paths, t).unwrap_or_else(|| Cursor {
        v: 1,
        signal: t.signal.as_str().into(),
        url: t.url.clone(),
        ..Cursor::default()
    });
    // The log under the cursor must still be the log it was sent from.
    let mut after: Option<DateTime<Utc>> = None;
    if cur.offset > 0 && ledger.sum_at(cur.offset) != Some(cur.tail_sum) {
        after = cur.last_event;
        cur.offset = 0;
        cur.tail_sum = 0;
    }
    let spans = t.signal == Signal::Traces;
    for _ in 0..MAX_ROUNDS {
        let now = nanos(Utc::now());
        let start = (cur.window_end_ns > 0).then_some(cur.window_end_ns.min(now));
        let mut batch = Batch::new(start, now);
        let mut last_event = cur.last_event;
        let mut full = false;
        let from = cur.offset;
        let mut stop_at = None;
        let read = ledger.for_each_line_from(from, ROUND_BYTES, |line| {
            if full {
                return;
            }
            if let Line::Event(ev, end) = line {
                if after.is_some_and(|a| ev.ts <= a) {
                    return;
                }
                batch.add_event(ev, spans);
                last_event = Some(last_event.map_or(ev.ts, |l| l.max(ev.ts)));
                if spans && batch.span_count() >= MAX_SPANS {
                    full = true;
                    stop_at = Some(end);
                }
            }
        });
        let (end, _len) = match read {
            Ok(r) => r,
            Err(e) => {
                out.error = Some(format!("cannot read the ledger: {e}"));
                break;
            }
        };
        let end = stop_at.unwrap_or(end);
        if end <= from {
            break;
        }
        if !batch.is_empty() {
            let body = encode(t, origin, &batch);
            out.requests += 1;
            match send::post(t, &body, &dir(paths)) {
                Sent::Accepted => {
                    out.events += batch.events;
                    let n = if spans {
                        batch.span_count() as u64
                    } else {
                        points(&batch)
                    };
                    out.sent += n;
                    cur.sent = cur.sent.saturating_add(n);
                    cur.last_ok = Some(Utc::now());
                    cur.last_error = None;
                }
                Sent::Rejected(why) => {
                    out.rejected.push(why.clone());
                    cur.rejected = cur.rejected.saturating_add(1);
                    cur.last_error = Some(format!("refused for good, skipped: {why}"));
                    cur.last_error_at = Some(Utc::now());
                }
                Sent::Failed(why) => {
                    cur.last_error = Some(why.clone());
                    cur.last_error_at = Some(Utc::now());
                    out.error = Some(why);
                    let _ = write_cursor(paths, t, &cur);
                    return out;
                }
            }
        }
        cur.offset = end;
        cur.tail_sum = ledger.sum_at(end).unwrap_or_default();
        cur.last_event = last_event;
        if !spans {
            cur.window_end_ns = now;
        }
        after = None;
        if let Err(e) = write_cursor(paths, t, &cur) {
            out.error = Some(format!(
                "cannot write {}: {e}",
                cursor_path(paths, t).display()
            ));
            break;
        }
    }
    out
}

fn points(batch: &Batch) -> u64 {
    batch
        .metrics()
        .iter()
        .map(|m| match &m.data {
            otlp::Data::Sum(p) => p.len() as u64,
            otlp::Data::Histogram(p) => p.len() as u64,
        })
        .sum()
}

/// The batches for the events from `since` on (the whole log with `None`), one per round,
/// regardless of any cursor: what `offload export --since` sends again, and `--dry-run` shows.
pub fn replay(
    paths: &Paths,
    signal: Signal,
    since: Option<DateTime<Utc>>,
    mut each: impl FnMut(&Batch) -> bool,
) -> Result<u64, String> {
    let ledger = Ledger::new(paths.clone());
    let now = nanos(Utc::now());
    let start = since.map(nanos);
    let spans = signal == Signal::Traces;
    let mut from = 0;
    let mut events = 0;
    loop {
        let mut batch = Batch::new(start, now);
        let mut stop_at = None;
        let (end, _) = ledger
            .for_each_line_from(from, ROUND_BYTES, |line| {
                if stop_at.is_some() {
                    return;
                }
                if let Line::Event(ev, end) = line
                    && since.is_none_or(|s| ev.ts >= s)
                {
                    batch.add_event(ev, spans);
                    if spans && batch.span_count() >= MAX_SPANS {
                        stop_at = Some(end);
                    }
                }
            })
            .map_err(|e| format!("cannot read the ledger: {e}"))?;
        let end = stop_at.unwrap_or(end);
        if end <= from {
            break;
        }
        events += batch.events;
        if !batch.is_empty() && !each(&batch) {
            break;
        }
        from = end;
    }
    Ok(events)
}

/// The argument that makes `offload` or `offload-hook` run a background flush.
pub const FLUSH_ARG: &str = "__export";

/// Start a detached flush (`exe __export`) when telemetry is on and the log holds events a
/// destination has not had: for `offload run` after it recorded its attempt, and the hook on a
/// user prompt. Costs a few `stat`s when there is nothing to send, and a `fork`/`exec` when
/// there is; never waits. The child gets the resolved `OTEL_*` settings in its environment
/// (Claude Code does not pass them to its hooks and Bash commands).
pub fn kick(paths: &Paths, settings: &Settings, exe: &Path) -> bool {
    if !settings.enabled() || !behind(paths, settings) {
        return false;
    }
    spawn_flush(paths, settings, exe).is_ok()
}

/// The environment a flush child resolves the same settings from.
pub fn child_env(settings: &Settings) -> Vec<(String, String)> {
    let mut env = vec![];
    for t in settings.targets() {
        let up = match t.signal {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
        };
        env.push((format!("OTEL_{up}_EXPORTER"), "otlp".to_string()));
        env.push((format!("OTEL_EXPORTER_OTLP_{up}_ENDPOINT"), t.url.clone()));
        env.push((
            format!("OTEL_EXPORTER_OTLP_{up}_PROTOCOL"),
            t.protocol.as_str().to_string(),
        ));
        env.push((
            format!("OTEL_EXPORTER_OTLP_{up}_TIMEOUT"),
            t.timeout.as_millis().to_string(),
        ));
        let headers: Vec<String> = t
            .headers
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        env.push((
            format!("OTEL_EXPORTER_OTLP_{up}_HEADERS"),
            headers.join(","),
        ));
    }
    let attrs: Vec<String> = settings
        .resource
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    env.push(("OTEL_RESOURCE_ATTRIBUTES".into(), attrs.join(",")));
    env
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn spawn_flush(paths: &Paths, settings: &Settings, exe: &Path) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(exe);
    cmd.arg(FLUSH_ARG)
        .env_remove("OTEL_SDK_DISABLED")
        .envs(child_env(settings))
        .env(crate::env::OFFLOAD_HOME, paths.state_dir.as_os_str())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if paths.state_dir != paths.config_dir() {
        // Platform folders: the child finds them itself.
        cmd.env_remove(crate::env::OFFLOAD_HOME);
    }
    // Its own process group, out of reach of a signal to the caller's (Claude Code ending a
    // hook or a Bash command); set by posix_spawn itself, which keeps the start cheap (no
    // fork of this process's memory, no code between fork and exec).
    cmd.process_group(0);
    // Not waited for: it outlives this process (init reaps it).
    cmd.spawn().map(drop)
}

/// The background flush's body (`offload __export`, `offload-hook __export`): resolve the
/// settings from the environment and offload's config, flush, exit. Bounded by each target's
/// deadline per request and [`MAX_ROUNDS`].
pub fn flush_main() -> u8 {
    let Ok(paths) = Paths::from_env() else {
        return 1;
    };
    let config = crate::config::Config::load(&paths.config_file).config;
    // The parent resolved Claude Code's settings already; its result is in the environment.
    let settings = Settings::resolve(crate::env::var, &config.telemetry, Default::default);
    // Look again after a round in case a run recorded meanwhile (its own kick found the lock
    // held), a few times at most.
    for _ in 0..3 {
        match flush(&paths, &settings) {
            Some(r) if r.iter().all(|f| f.error.is_none()) && behind(&paths, &settings) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => break,
        }
    }
    0
}
