//! Sending the ledger to a collector: the cursor per destination, the flush, the replay, and
//! the cheap check that starts a flush.
//!
//! **The ledger is the queue.** Each destination (signal and URL) has a cursor in the state
//! folder (`otel/<signal>-<key>.{a,b}.json`): the log offset sent up to, the checksum of the
//! line ending there (as the summaries keep one, see [`crate::ledger`]), the end of the last
//! window sent, and the last error. Nothing the collector has not acknowledged moves it: a
//! collector that is down, refuses (any status but 2xx) or does not answer leaves the events
//! in the ledger, and the next flush sends them. Nothing is dropped on the collector's word;
//! `offload export --skip-batch` is the user's way past a batch a collector refuses for good.
//!
//! **A batch sent again is the same batch.** Before a batch goes out, its extent (log offsets,
//! time window, filters) is written to the cursor as *pending*; until the collector
//! acknowledges it, every flush rebuilds exactly that batch: the same points with the same
//! windows, the same spans with the same ids. An acknowledgement lost on the way (a timeout, a
//! dropped connection) therefore repeats identical data, which the collector's
//! `deltatocumulative` processor and Prometheus drop as duplicates, instead of a grown backlog
//! under new windows. OTLP over HTTP cannot promise more than at-least-once.
//!
//! **The cursor survives crashes, full disks and damage.** It is kept twice, written in turn
//! in place (no temporary file, so no new disk space once both exist) and synced: a torn or
//! damaged copy leaves the other one, a step behind at most (that step is a pending batch,
//! sent again identically). The pending write is also the check that progress can be
//! recorded: a cursor that cannot be written sends nothing (sending without recording would
//! send it again every time). Both copies damaged: that destination sends nothing until the
//! user moves them away (`offload doctor` says so).
//!
//! **A new destination** gets what was recorded from an hour before offload first sends to it
//! ([`NEW_DESTINATION_BACKLOG`]): the run or turn that just happened, never all history again
//! because the collector's address is spelled anew. Older history is sent on request
//! (`offload export --since`), which is recorded in every cursor it went to.
//!
//! **Started cheaply**: after `offload run` records its attempt, and by the hook on a user
//! prompt at most once a minute ([`HOOK_FLUSH_INTERVAL`]).
//!
//! **One flush at a time**: a flush holds `otel/flush.lock` (`flock`, not waited for: a flush
//! that finds it held leaves the work to the one running, which looks again before it ends).
//! Another destination's cursor is its own, so pointing `OTEL_EXPORTER_OTLP_ENDPOINT` at a
//! server of one's own for one command moves nothing for the team's collector.

use std::fs::File;
use std::io::{Read, Write};
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
/// How far back a destination's first export reaches.
pub const NEW_DESTINATION_BACKLOG: chrono::Duration = chrono::Duration::hours(1);

/// Where the cursors live.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.state_dir.join("otel")
}

/// A batch sent and not yet acknowledged: what rebuilds it identically.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pending {
    /// Log offset just past its last line, and that line's checksum.
    pub end: u64,
    pub end_sum: u64,
    /// Its window (metrics).
    pub start_ns: u64,
    pub end_ns: u64,
    /// Events at or before this time were left out (a new destination, a changed log).
    pub after: Option<DateTime<Utc>>,
    pub since: Option<DateTime<Utc>>,
    /// The resource it went with (a resend is the same request, even after an upgrade or a
    /// change of `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource: Vec<(String, String)>,
}

/// A window sent again on request (`offload export --since`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Replay {
    pub at: Option<DateTime<Utc>>,
    pub since: Option<DateTime<Utc>>,
    pub events: u64,
}

/// A batch the user chose to skip (`offload export --skip-batch`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Skipped {
    pub at: Option<DateTime<Utc>>,
    pub from: u64,
    pub to: u64,
    pub events: u64,
    pub why: Option<String>,
}

/// How far one destination has been sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    pub v: u32,
    /// Written in turn to the two copies; the higher valid one is current.
    pub seq: u64,
    pub signal: String,
    pub url: String,
    /// Log offset sent up to (a line end).
    pub offset: u64,
    /// [`crate::ledger::line_sum`] of the line ending at `offset`.
    pub tail_sum: u64,
    /// Time of the newest event sent (to find the place again in a log that changed).
    pub last_event: Option<DateTime<Utc>>,
    /// Events at or before this time are not for this destination (see
    /// [`NEW_DESTINATION_BACKLOG`]).
    pub after: Option<DateTime<Utc>>,
    /// End of the last window sent (ns since the epoch): the next window starts there.
    pub window_end_ns: u64,
    pub pending: Option<Pending>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// The pending batch was refused as data (400, 415, …), not just not taken: only such a
    /// batch can be skipped.
    pub refused: bool,
    /// Log bytes per batch since a 413 (0: [`ROUND_BYTES`]), kept for a day, then the full
    /// size is tried again.
    pub batch_bytes: u64,
    pub batch_limited_at: Option<DateTime<Utc>>,
    /// Points or spans sent, all told.
    pub sent: u64,
    /// The last few windows sent again on request.
    pub replays: Vec<Replay>,
    /// The last few batches skipped on request.
    pub skipped: Vec<Skipped>,
}

/// The URL as a cursor knows it: scheme and host in lowercase, the port as a number (the
/// default one left out), no trailing slash.
pub fn normalized_url(url: &str) -> String {
    match send::Url::parse(url) {
        Ok(u) => {
            let default = if u.https { 443 } else { 80 };
            let port = if u.port == default {
                String::new()
            } else {
                format!(":{}", u.port)
            };
            let host = if u.host.contains(':') {
                format!("[{}]", u.host.to_ascii_lowercase())
            } else {
                u.host.to_ascii_lowercase()
            };
            let path = u.path.trim_end_matches('/');
            format!(
                "{}://{host}{port}{path}",
                if u.https { "https" } else { "http" }
            )
        }
        Err(_) => url.trim().to_string(),
    }
}

fn url_key(url: &str) -> String {
    otlp::hex(&super::trace::derived::<6>(&normalized_url(url)))
}

/// The cursor's two copies.
pub fn cursor_paths(paths: &Paths, t: &Target) -> [PathBuf; 2] {
    let stem = format!("{}-{}", t.signal.as_str(), url_key(&t.url));
    [
        dir(paths).join(format!("{stem}.a.json")),
        dir(paths).join(format!("{stem}.b.json")),
    ]
}

/// A copy: `Ok(None)` absent, `Err` present and unreadable.
fn read_copy(path: &Path) -> Result<Option<Cursor>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!("{}: not a file", path.display()));
    }
    let mut bytes = Vec::new();
    f.take(64 << 10)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice::<Cursor>(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The cursor of a destination: `Ok(None)` when it was never sent to, `Err` when its copies
/// exist and none can be read (sending would guess: it sends nothing).
pub fn read_cursor(paths: &Paths, t: &Target) -> Result<Option<Cursor>, String> {
    let want = normalized_url(&t.url);
    let mut best: Option<Cursor> = None;
    let mut errors = Vec::new();
    let mut any = false;
    for p in cursor_paths(paths, t) {
        match read_copy(&p) {
            Ok(None) => {}
            Ok(Some(c)) if normalized_url(&c.url) == want => {
                any = true;
                if best.as_ref().is_none_or(|b| c.seq > b.seq) {
                    best = Some(c);
                }
            }
            Ok(Some(_)) => {
                any = true;
                errors.push(format!("{}: another destination's", p.display()));
            }
            Err(e) => {
                any = true;
                errors.push(e);
            }
        }
    }
    match best {
        Some(c) => Ok(Some(c)),
        None if any => Err(errors.join("; ")),
        None => Ok(None),
    }
}

/// Write the next copy in place (created when missing), synced.
fn write_cursor(paths: &Paths, t: &Target, c: &mut Cursor) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::fsutil::create_private_dir(&dir(paths))
        .map_err(|e| format!("{}: {e}", dir(paths).display()))?;
    c.seq = c.seq.saturating_add(1);
    c.replays = c.replays.split_off(c.replays.len().saturating_sub(10));
    c.skipped = c.skipped.split_off(c.skipped.len().saturating_sub(10));
    let path = &cursor_paths(paths, t)[(c.seq % 2) as usize];
    let bytes = serde_json::to_vec_pretty(c).unwrap_or_default();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)?;
        if !f.metadata()?.is_file() {
            return Err(std::io::Error::other("not a file"));
        }
        f.write_all(&bytes)?;
        f.set_len(bytes.len() as u64)?;
        f.sync_data()
    };
    write().map_err(|e| {
        format!(
            "cannot record the export's progress in {}: {e}",
            path.display()
        )
    })
}

/// Whether the log holds events a destination has not been sent: its length differs from
/// the cursor's offset (a `stat` and a small read or two). What decides, cheaply, whether a
/// flush is worth starting.
pub fn behind(paths: &Paths, settings: &Settings) -> bool {
    let len = std::fs::metadata(paths.events()).map_or(0, |m| m.len());
    len > 0
        && settings.targets().any(|t| match read_cursor(paths, t) {
            Ok(Some(c)) => c.offset != len,
            Ok(None) => true,
            Err(_) => false,
        })
}

/// An [`Origin`] with this resource (as a pending batch recorded it).
fn origin_of(resource: &[(String, String)]) -> Origin {
    Origin {
        resource: resource
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect(),
        scope_name: "offload",
        scope_version: env!("CARGO_PKG_VERSION"),
    }
}

/// The resource as text pairs (what a pending batch keeps).
fn resource_text(origin: &Origin) -> Vec<(String, String)> {
    origin
        .resource
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Double(d) => d.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
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
    /// Events skipped on request (`--skip-batch`).
    pub skipped: u64,
    /// It stopped on a refusal of the data (what `--skip-batch` can skip).
    pub refused: bool,
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

/// Why a flush could not start.
#[derive(Debug, PartialEq)]
pub enum NotFlushed {
    /// Another flush holds the lock (it sends everything recorded so far).
    Busy,
    /// The lock cannot be opened (a read-only or damaged state folder).
    Lock(String),
}

/// Send what each destination has not had yet; `skip` skips (records, sends nothing) each
/// destination's first batch instead.
pub fn flush(paths: &Paths, settings: &Settings, skip: bool) -> Result<Vec<Flushed>, NotFlushed> {
    let otel = dir(paths);
    crate::fsutil::create_private_dir(&otel)
        .map_err(|e| NotFlushed::Lock(format!("{}: {e}", otel.display())))?;
    // Request bodies a killed flush left (https: the body curl reads).
    crate::fsutil::sweep_temp_files(&otel, Duration::from_secs(600));
    let lock_path = otel.join("flush.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| NotFlushed::Lock(format!("{}: {e}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(NotFlushed::Busy);
    }
    // When a flush last started (what the hook's kick looks at).
    let _ = lock.set_modified(std::time::SystemTime::now());
    let ledger = Ledger::new(paths.clone());
    let origin = origin(settings);
    Ok(settings
        .targets()
        .map(|t| flush_one(paths, &ledger, t, &origin, skip))
        .collect())
}

/// Fold the events of `[from, to)` (or up to `max` bytes and `max_spans` spans when `to` is
/// `None`) into a batch over `[start, end_ns]`; returns the batch and the offset it ends at.
#[allow(clippy::too_many_arguments)]
fn build(
    ledger: &Ledger,
    signal: Signal,
    from: u64,
    to: Option<u64>,
    max: u64,
    max_spans: usize,
    start: Option<u64>,
    end_ns: u64,
    after: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
) -> Result<(Batch, u64, Option<DateTime<Utc>>), String> {
    let spans = signal == Signal::Traces;
    let mut batch = Batch::new(start, end_ns);
    let mut last_event = None;
    let mut cut = None;
    let limit = to.map_or(max, |t| t.saturating_sub(from));
    let (end, _) = ledger
        .for_each_line_from(from, limit, |line| {
            if cut.is_some() {
                return;
            }
            let (ev, end) = match line {
                Line::Event(ev, end) => (ev, end),
                Line::Bad(_) => return,
            };
            if to.is_some_and(|t| end > t) {
                cut = Some(to.unwrap_or(end));
                return;
            }
            if after.is_some_and(|a| ev.ts <= a) || since.is_some_and(|s| ev.ts < s) {
                return;
            }
            batch.add_event(ev, spans);
            last_event = Some(last_event.map_or(ev.ts, |l: DateTime<Utc>| l.max(ev.ts)));
            if to.is_none() && spans && batch.span_count() >= max_spans {
                cut = Some(end);
            }
        })
        .map_err(|e| format!("cannot read the ledger: {e}"))?;
    let end = match (to, cut) {
        (Some(t), _) => t.min(end.max(t)),
        (None, Some(c)) => c,
        (None, None) => end,
    };
    Ok((batch, end, last_event))
}

fn flush_one(paths: &Paths, ledger: &Ledger, t: &Target, origin: &Origin, skip: bool) -> Flushed {
    let mut out = Flushed {
        signal: t.signal.as_str(),
        url: t.url.clone(),
        ..Flushed::default()
    };
    let mut cur = match read_cursor(paths, t) {
        Ok(Some(c)) => c,
        Ok(None) => Cursor {
            v: 1,
            signal: t.signal.as_str().into(),
            url: t.url.clone(),
            after: Some(Utc::now() - NEW_DESTINATION_BACKLOG),
            ..Cursor::default()
        },
        Err(e) => {
            out.error = Some(format!(
                "its progress file is damaged, so nothing is sent (it could only guess what the \
                 collector has): {e}; move the files away to send the last hour again"
            ));
            return out;
        }
    };
    // The log under the cursor must still be the log it was sent from: if not, the place is
    // found again by time (what came after the last event sent).
    // A pending batch that may have arrived and can no longer be rebuilt (its lines are gone):
    // what comes next starts after its window and its events.
    let drop_pending = |cur: &mut Cursor| {
        if let Some(p) = cur.pending.take() {
            cur.window_end_ns = cur.window_end_ns.max(p.end_ns);
            cur.after = cur.after.max(Some(DateTime::<Utc>::from_timestamp_nanos(
                p.end_ns.min(i64::MAX as u64) as i64,
            )));
        }
    };
    if cur.offset > 0 && ledger.sum_at(cur.offset) != Some(cur.tail_sum) {
        cur.after = cur.last_event.or(cur.after);
        cur.offset = 0;
        cur.tail_sum = 0;
        drop_pending(&mut cur);
    }
    if cur
        .pending
        .as_ref()
        .is_some_and(|p| p.end <= cur.offset || ledger.sum_at(p.end) != Some(p.end_sum))
    {
        drop_pending(&mut cur);
    }
    if cur
        .batch_limited_at
        .is_some_and(|t| Utc::now() - t > chrono::Duration::days(1))
    {
        cur.batch_bytes = 0;
        cur.batch_limited_at = None;
    }
    let mut round_bytes = if cur.batch_bytes == 0 {
        ROUND_BYTES
    } else {
        cur.batch_bytes.clamp(1, ROUND_BYTES)
    };
    let mut max_spans = MAX_SPANS;
    // Only a batch the collector refused as data can be skipped.
    let mut skip = skip && cur.pending.is_some() && cur.refused;
    for _ in 0..MAX_ROUNDS {
        let from = cur.offset;
        let built = match &cur.pending {
            Some(p) => build(
                ledger,
                t.signal,
                from,
                Some(p.end),
                0,
                usize::MAX,
                Some(p.start_ns),
                p.end_ns,
                p.after,
                p.since,
            )
            .map(|(b, _, last)| (b, p.clone(), last)),
            None => {
                let now = nanos(Utc::now());
                let start = (cur.window_end_ns > 0).then_some(cur.window_end_ns.min(now));
                build(
                    ledger,
                    t.signal,
                    from,
                    None,
                    round_bytes,
                    max_spans,
                    start,
                    now,
                    cur.after,
                    None,
                )
                .map(|(b, end, last)| {
                    let p = Pending {
                        end,
                        end_sum: ledger.sum_at(end).unwrap_or_default(),
                        start_ns: b.start_ns(),
                        end_ns: now,
                        after: cur.after,
                        since: None,
                        resource: resource_text(origin),
                    };
                    (b, p, last)
                })
            }
        };
        let (batch, pending, last_event) = match built {
            Ok(b) => b,
            Err(e) => {
                out.error = Some(e);
                break;
            }
        };
        if pending.end <= from {
            break;
        }
        if !batch.is_empty() && !skip {
            // Recorded before it goes: the check that progress can be recorded, and what
            // rebuilds this very batch if the acknowledgement never comes.
            if cur.pending.is_none() {
                cur.pending = Some(pending.clone());
                if let Err(e) = write_cursor(paths, t, &mut cur) {
                    out.error = Some(format!(
                        "{e}; nothing sent (it would be sent again every time)"
                    ));
                    return out;
                }
            }
            out.requests += 1;
            let sent_as = if pending.resource.is_empty() {
                origin.clone()
            } else {
                origin_of(&pending.resource)
            };
            match send::post(t, &encode(t, &sent_as, &batch), &dir(paths)) {
                Sent::Accepted => {
                    let n = if t.signal == Signal::Traces {
                        batch.span_count() as u64
                    } else {
                        batch.point_count()
                    };
                    out.events += batch.events;
                    out.sent += n;
                    cur.sent = cur.sent.saturating_add(n);
                    cur.last_ok = Some(Utc::now());
                    cur.last_error = None;
                    cur.refused = false;
                }
                Sent::TooLarge(why)
                    if (t.signal == Signal::Metrics && round_bytes > 1)
                        || (t.signal == Signal::Traces && max_spans > 1) =>
                {
                    // Not taken: cut smaller batches (a new pending one), down to one event's;
                    // the size that gets through is kept for the next flushes.
                    round_bytes = (round_bytes.min(pending.end - from) / 4).max(1);
                    max_spans = (max_spans.min(batch.span_count()) / 4).max(1);
                    cur.batch_bytes = round_bytes;
                    cur.batch_limited_at = Some(Utc::now());
                    cur.pending = None;
                    cur.last_error = Some(why);
                    cur.last_error_at = Some(Utc::now());
                    continue;
                }
                Sent::TooLarge(why) | Sent::Refused(why) => {
                    cur.last_error = Some(why.clone());
                    cur.last_error_at = Some(Utc::now());
                    cur.refused = true;
                    let _ = write_cursor(paths, t, &mut cur);
                    out.error = Some(why);
                    out.refused = true;
                    return out;
                }
                Sent::Failed(why) => {
                    cur.last_error = Some(why.clone());
                    cur.last_error_at = Some(Utc::now());
                    cur.refused = false;
                    let _ = write_cursor(paths, t, &mut cur);
                    out.error = Some(why);
                    return out;
                }
            }
        } else if skip && !batch.is_empty() {
            out.skipped += batch.events;
            cur.skipped.push(Skipped {
                at: Some(Utc::now()),
                from,
                to: pending.end,
                events: batch.events,
                why: cur.last_error.clone(),
            });
            skip = false;
        }
        cur.offset = pending.end;
        cur.tail_sum = pending.end_sum;
        cur.last_event = last_event.or(cur.last_event);
        if t.signal == Signal::Metrics {
            cur.window_end_ns = pending.end_ns;
        }
        cur.pending = None;
        cur.refused = false;
        if let Err(e) = write_cursor(paths, t, &mut cur) {
            out.error = Some(e);
            break;
        }
    }
    out
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
    let mut from = 0;
    let mut events = 0;
    loop {
        let (batch, end, _) = build(
            &ledger,
            signal,
            from,
            None,
            ROUND_BYTES,
            MAX_SPANS,
            start,
            now,
            None,
            since,
        )?;
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

/// Note a replay in a destination's cursor (what `offload doctor` shows).
pub fn note_replay(paths: &Paths, t: &Target, since: DateTime<Utc>, events: u64) {
    if let Ok(Some(mut c)) = read_cursor(paths, t) {
        c.replays.push(Replay {
            at: Some(Utc::now()),
            since: Some(since),
            events,
        });
        let _ = write_cursor(paths, t, &mut c);
    }
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

/// The hook's [`kick`]: at most one flush a minute (a prompt records a turn, so there is
/// always something to send; what waits goes with the next run's or prompt's flush).
pub fn kick_from_hook(paths: &Paths, settings: &Settings, exe: &Path) -> bool {
    if !settings.enabled() {
        return false;
    }
    let recent = std::fs::metadata(dir(paths).join("flush.lock"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < HOOK_FLUSH_INTERVAL);
    !recent && kick(paths, settings, exe)
}

/// How often the hook starts a flush at most.
pub const HOOK_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

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
    // Only stdin, stdout and stderr (all /dev/null) go to the flush: a descriptor the caller
    // left open (the write end of a pipe someone reads to its end) would hold that reader for
    // as long as the flush takes.
    cloexec_from_3();
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
        match flush(&paths, &settings, false) {
            Ok(r) if r.iter().all(|f| f.error.is_none()) && behind(&paths, &settings) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => break,
        }
    }
    0
}

/// Mark every descriptor from 3 up close-on-exec (this process is about to end; only a child
/// it starts is affected).
fn cloexec_from_3() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
            )
        };
        if r == 0 {
            return;
        }
    }
    let dir = if cfg!(target_os = "linux") {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    let fds: Vec<i32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(65_536)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number; a closed one just fails.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_one_destination_however_it_is_spelled() {
        let n = normalized_url;
        assert_eq!(
            n("http://Collector:4318/v1/metrics/"),
            "http://collector:4318/v1/metrics"
        );
        assert_eq!(
            n("HTTP://127.0.0.1:04318/v1/metrics"),
            n("http://127.0.0.1:4318/v1/metrics")
        );
        assert_eq!(n("http://c:80/v1/traces"), n("http://c/v1/traces"));
        assert_eq!(n("https://c:443/x"), "https://c/x");
        assert_ne!(n("http://c:4318/v1/metrics"), n("http://c:4319/v1/metrics"));
    }
}
