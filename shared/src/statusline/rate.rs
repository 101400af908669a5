//! Where the statusline's Codex rate limit comes from, cheaply.
//!
//! Two sources: the snapshot `offload run` recorded in `totals.json` after its last attempt,
//! and the rollouts codex itself writes under `$CODEX_HOME/sessions/YYYY/MM/DD/` (local date),
//! which also cover Codex used outside offload. The newer snapshot (by the time codex recorded
//! it) wins.
//!
//! Per render, without a walk of `CODEX_HOME` and without reading whole files: stat today's and
//! yesterday's day folders; list them only when their modification time changed since the last
//! render; stat the rollouts listed to find the newest; read its tail (256 KiB at most) only
//! when that file changed. What was found is cached in `statusline-cache.json` in offload's
//! state folder, keyed by those modification times and sizes.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Datelike, Local, Utc};
use serde::{Deserialize, Serialize};

use crate::codex::rollout::{RateLimitSnapshot, last_snapshot};
use crate::fsutil::write_atomic;

/// How much of a rollout's end is read for its last snapshot.
pub const TAIL_BYTES: u64 = 256 * 1024;

/// The snapshot to show, and a description of where it came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    pub snapshot: Option<RateLimitSnapshot>,
    pub from: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    /// Modification time in nanoseconds since the epoch; 0 when absent.
    mtime_ns: u64,
    len: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Cache {
    dirs: Vec<Stamp>,
    files: Vec<PathBuf>,
    newest: Option<Stamp>,
    snapshot: Option<RateLimitSnapshot>,
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok();
    Stamp {
        path: path.to_path_buf(),
        mtime_ns: meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64),
        len: meta.map_or(0, |m| m.len()),
    }
}

/// Today's and yesterday's rollout folders (codex names them by local date).
pub fn day_dirs(codex_home: &Path, now: DateTime<Utc>) -> [PathBuf; 2] {
    let today = now.with_timezone(&Local).date_naive();
    let dir = |d: chrono::NaiveDate| {
        codex_home
            .join("sessions")
            .join(format!("{:04}", d.year()))
            .join(format!("{:02}", d.month()))
            .join(format!("{:02}", d.day()))
    };
    [dir(today), dir(today - chrono::Duration::days(1))]
}

/// The newest snapshot of the two sources. `cache_file` may be absent or corrupt; it is
/// rewritten only when what it records changed.
pub fn freshest(
    recorded: Option<&RateLimitSnapshot>,
    codex_home: Option<&Path>,
    cache_file: &Path,
    now: DateTime<Utc>,
) -> Source {
    let from_rollout = codex_home.and_then(|home| newest_rollout_snapshot(home, cache_file, now));
    // A snapshot from the future (a writer whose clock is ahead) cannot be placed in time: a
    // rollout with a real time wins over it, so it cannot hide fresh ones while its clock is off.
    let soon = now + chrono::Duration::minutes(1);
    let at = |s: &RateLimitSnapshot| s.captured_at.filter(|t| *t <= soon);
    match (recorded, from_rollout) {
        (None, None) => Source {
            snapshot: None,
            from: "no snapshot (no offload run recorded one, no codex rollout today)".into(),
        },
        (Some(r), None) => Source {
            snapshot: Some(r.clone()),
            from: "totals.json (recorded by offload run)".into(),
        },
        (None, Some((s, path))) => Source {
            snapshot: Some(s),
            from: format!("rollout {}", path.display()),
        },
        (Some(r), Some((s, path))) => {
            if s.captured_at.is_some() && at(&s) >= at(r) {
                Source {
                    snapshot: Some(s),
                    from: format!("rollout {} (newer than totals.json)", path.display()),
                }
            } else {
                Source {
                    snapshot: Some(r.clone()),
                    from: "totals.json (recorded by offload run; newer than the rollouts)".into(),
                }
            }
        }
    }
}

fn newest_rollout_snapshot(
    codex_home: &Path,
    cache_file: &Path,
    now: DateTime<Utc>,
) -> Option<(RateLimitSnapshot, PathBuf)> {
    let cached: Cache = crate::fsutil::read_regular(cache_file, 4 << 20)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut cache = cached.clone();
    let dirs: Vec<Stamp> = day_dirs(codex_home, now).iter().map(|d| stamp(d)).collect();
    if dirs != cache.dirs {
        cache.files = dirs
            .iter()
            .filter(|d| d.mtime_ns != 0)
            .flat_map(|d| std::fs::read_dir(&d.path).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
            })
            .collect();
        cache.dirs = dirs;
    }
    let newest = cache
        .files
        .iter()
        .map(|p| stamp(p))
        .filter(|s| s.mtime_ns != 0)
        .max_by_key(|s| s.mtime_ns);
    if newest != cache.newest {
        cache.snapshot = newest
            .as_ref()
            .and_then(|n| last_snapshot(&n.path, TAIL_BYTES).ok().flatten());
        cache.newest = newest;
    }
    if cache != cached
        && let Ok(bytes) = serde_json::to_vec(&cache)
    {
        let _ = write_atomic(cache_file, &bytes);
    }
    Some((cache.snapshot?, cache.newest?.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex::rollout::RateWindow;

    fn line(ts: &str, used: f64) -> String {
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":null,"rate_limits":{{"limit_id":"codex","primary":{{"used_percent":{used},"window_minutes":300,"resets_at":1795504590}},"secondary":null}}}}}}"#
        )
    }

    fn snap(ts: &str, used: f64) -> RateLimitSnapshot {
        RateLimitSnapshot {
            captured_at: Some(ts.parse().unwrap()),
            windows: vec![RateWindow {
                window_minutes: 300,
                used_percent: used,
                resets_at: None,
            }],
            plan_type: None,
        }
    }

    #[test]
    fn newer_source_wins_and_cache_follows_changes() {
        let home = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let cache = state.path().join("statusline-cache.json");
        let now = Utc::now();
        let today = &day_dirs(home.path(), now)[0];
        std::fs::create_dir_all(today).unwrap();
        let rec = snap("2026-11-24T06:00:00Z", 10.0);
        let s = freshest(Some(&rec), Some(home.path()), &cache, now);
        assert_eq!(
            s.snapshot.unwrap().windows[0].used_percent,
            10.0,
            "no rollouts: the recorded one"
        );

        let a = today.join("rollout-2026-11-24T07-00-00-a.jsonl");
        std::fs::write(&a, line("2026-11-24T07:00:00Z", 30.0) + "\n").unwrap();
        let s = freshest(Some(&rec), Some(home.path()), &cache, now);
        assert_eq!(
            s.snapshot.unwrap().windows[0].used_percent,
            30.0,
            "a newer rollout wins"
        );
        assert!(s.from.contains("rollout"), "{}", s.from);

        let newer = snap("2026-11-24T08:00:00Z", 50.0);
        let s = freshest(Some(&newer), Some(home.path()), &cache, now);
        assert_eq!(
            s.snapshot.unwrap().windows[0].used_percent,
            50.0,
            "a newer record wins"
        );

        // Appending to the rollout (same folder listing) is seen through its new size and time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut text = std::fs::read_to_string(&a).unwrap();
        text.push_str(&(line("2026-11-24T09:00:00Z", 70.0) + "\n"));
        std::fs::write(&a, text).unwrap();
        let s = freshest(Some(&newer), Some(home.path()), &cache, now);
        assert_eq!(s.snapshot.unwrap().windows[0].used_percent, 70.0);

        // A record from a clock a day ahead does not hide the rollout.
        let future = (now + chrono::Duration::days(1)).to_rfc3339();
        let ahead = snap(&future, 10.0);
        let s = freshest(Some(&ahead), Some(home.path()), &cache, now);
        assert_eq!(s.snapshot.unwrap().windows[0].used_percent, 70.0);

        // A corrupt cache is ignored and replaced.
        std::fs::write(&cache, "{garbage").unwrap();
        let s = freshest(None, Some(home.path()), &cache, now);
        assert_eq!(s.snapshot.unwrap().windows[0].used_percent, 70.0);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&cache).unwrap()).is_ok()
        );
    }

    #[test]
    fn unchanged_files_are_not_read_again() {
        let home = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let cache = state.path().join("c.json");
        let now = Utc::now();
        let today = &day_dirs(home.path(), now)[0];
        std::fs::create_dir_all(today).unwrap();
        let a = today.join("rollout-x-a.jsonl");
        std::fs::write(&a, line("2026-11-24T07:00:00Z", 30.0) + "\n").unwrap();
        let first = freshest(None, Some(home.path()), &cache, now);
        assert_eq!(first.snapshot.unwrap().windows[0].used_percent, 30.0);
        // Same size, same modification time, different content: a render that trusts its cache
        // does not open the file, so it still shows 30.
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        std::fs::write(&a, line("2026-11-24T07:00:00Z", 40.0) + "\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let cached = freshest(None, Some(home.path()), &cache, now);
        assert_eq!(cached.snapshot.unwrap().windows[0].used_percent, 30.0);
        // A new modification time is noticed.
        let later = mtime + std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let fresh = freshest(None, Some(home.path()), &cache, now);
        assert_eq!(fresh.snapshot.unwrap().windows[0].used_percent, 40.0);
    }

    #[test]
    fn missing_codex_home_and_folders() {
        let state = tempfile::tempdir().unwrap();
        let cache = state.path().join("c.json");
        let s = freshest(None, Some(Path::new("/nonexistent")), &cache, Utc::now());
        assert_eq!(s.snapshot, None);
        let s = freshest(None, None, &cache, Utc::now());
        assert_eq!(s.snapshot, None);
    }
}
