//! Codex attempts that are running now.
//!
//! `offload run` writes a marker per attempt (`running/<attempt>.json` in the state folder)
//! before codex starts, and removes it once the attempt's finish is recorded. A marker names its
//! process (pid and start time, so a reused pid is not mistaken for it), session, project,
//! sandbox and the prompt's first words. With it:
//! - the guard denies native work of a session while one of its attempts runs ("Codex is still
//!   working on it"), instead of routing Claude to start a second codex on the same tree (Claude
//!   Code moves a long Bash call to the background, and the next Edit would otherwise say "run
//!   this with your Bash tool");
//! - `offload run` refuses a second `workspace-write` run on a project while one runs there
//!   (`--parallel` overrides);
//! - a run whose process died without recording its finish (killed, the machine went down) is
//!   closed as failed by whoever notices first: the hook or `offload run`.
//!
//! The markers are an index, not the record: the ledger stays the source of truth.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::{AttemptFinished, Body, Event};
use crate::outcome::Outcome;

/// One running attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub attempt: String,
    #[serde(default)]
    pub session: Option<String>,
    pub pid: u32,
    /// The process's start time (`/proc/<pid>/stat`, clock ticks since boot).
    pub pid_start: u64,
    pub started: DateTime<Utc>,
    pub model: String,
    pub sandbox: String,
    #[serde(default)]
    pub work_type: Option<String>,
    /// The folder codex works in.
    pub cwd: String,
    /// The prompt's first words.
    pub prompt: String,
}

/// The folder of the markers.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("running")
}

/// A marker written; removed when dropped.
pub struct Marker {
    path: PathBuf,
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Running {
    /// A marker for an attempt of this process.
    pub fn of_this_process(
        attempt: &str,
        session: Option<&str>,
        model: &str,
        sandbox: &str,
        work_type: Option<&str>,
        cwd: &str,
        prompt: &str,
    ) -> Running {
        let pid = std::process::id();
        let mut head: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
        if head.chars().count() > 60 {
            head = head.chars().take(60).collect::<String>() + "…";
        }
        Running {
            attempt: attempt.to_owned(),
            session: session.map(str::to_owned),
            pid,
            pid_start: crate::process::start_time(pid).unwrap_or(0),
            started: Utc::now(),
            model: model.to_owned(),
            sandbox: sandbox.to_owned(),
            work_type: work_type.map(str::to_owned),
            cwd: cwd.to_owned(),
            prompt: head,
        }
    }

    /// Write the marker; it is removed when the returned value is dropped.
    pub fn mark(&self, state_dir: &Path) -> io::Result<Marker> {
        let d = dir(state_dir);
        crate::fsutil::create_private_dir(&d)?;
        let path = d.join(format!(
            "{}.json",
            crate::fsutil::safe_name(&self.attempt, 120)
        ));
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::fsutil::write_atomic(&path, &bytes)?;
        Ok(Marker { path })
    }

    /// Whether its process still runs (the same process: same pid and start time).
    pub fn alive(&self) -> bool {
        crate::process::runs(self.pid, self.pid_start)
    }

    /// The finish of an attempt whose process died without recording one: failed.
    pub fn died(&self) -> Event {
        self.ended(
            Outcome::Failed,
            &format!(
                "its process ({}) ended without recording a finish (killed, or the machine went down)",
                self.pid
            ),
        )
    }

    /// The finish of an attempt closed by someone else than its process: `outcome`, `why`.
    pub fn ended(&self, outcome: Outcome, why: &str) -> Event {
        Event {
            session: self.session.clone(),
            ..Event::now(
                None,
                Body::AttemptFinished(Box::new(AttemptFinished {
                    unconfigured_codex: None,
                    attempt: self.attempt.clone(),
                    outcome,
                    exit_code: outcome.exit_code(true),
                    codex_exit: None,
                    model: self.model.clone(),
                    sandbox: self.sandbox.clone(),
                    work_type: self.work_type.clone(),
                    cwd: self.cwd.clone(),
                    duration_ms: (Utc::now() - self.started).num_milliseconds().max(0) as u64,
                    tokens: Default::default(),
                    thread_id: None,
                    error: Some(why.to_owned()),
                    resumed_from: None,
                    job: None,
                    trace: None,
                })),
            )
        }
    }

    /// Whether its process died without recording a finish, claimed for closing by this
    /// caller: the process is gone and this caller removed its marker. (A run removes its own
    /// marker before it exits, so a marker still there after its process is gone was left by a
    /// run that died; of several callers noticing at once, one removes it and closes it.)
    ///
    /// A run killed after it recorded its finish but before it removed its marker is not closed
    /// again: the end of the log (its last 4 MiB, where such a finish is) is searched for it.
    ///
    /// The caller that claims it also ends whatever of the run still runs: every process
    /// carrying its tag ([`crate::env::OFFLOAD_ATTEMPT`]), which is codex and what it started
    /// when offload and its reaper were both killed at once.
    pub fn claim_if_dead(&self, state_dir: &Path) -> bool {
        let claimed = !self.alive()
            && std::fs::remove_file(dir(state_dir).join(format!(
                "{}.json",
                crate::fsutil::safe_name(&self.attempt, 120)
            )))
            .is_ok();
        if claimed && !self.attempt.is_empty() {
            crate::process::end_tagged(crate::env::OFFLOAD_ATTEMPT, &self.attempt);
            // And what its catalog question left (killed while it asked).
            crate::process::end_tagged(
                crate::env::OFFLOAD_PROBE,
                &crate::codex::catalog::probe_tag_of(self.pid, self.pid_start),
            );
        }
        claimed && !finished_in_log_tail(&state_dir.join("events.jsonl"), &self.attempt)
    }
}

/// Whether the last 4 MiB of the log hold the finish of `attempt`.
fn finished_in_log_tail(log: &Path, attempt: &str) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(f) = crate::ledger::open_log_read(log) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(4 << 20);
    let mut buf = vec![0u8; (len - start) as usize];
    if f.read_exact_at(&mut buf, start).is_err() {
        return false;
    }
    let id = format!("\"attempt\":{}", serde_json::Value::from(attempt));
    buf.split(|b| *b == b'\n').any(|line| {
        let text = String::from_utf8_lossy(line);
        text.contains("\"kind\":\"attempt.finished\"") && text.contains(&id)
    })
}

/// Every marker (at most 1000, each a regular file of at most 64 KiB; unreadable ones are
/// skipped).
pub fn list(state_dir: &Path) -> Vec<Running> {
    std::fs::read_dir(dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .take(1000)
        .filter_map(|e| {
            let bytes = crate::fsutil::read_regular(&e.path(), 64 << 10).ok()??;
            serde_json::from_slice::<Running>(&bytes).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_lives_with_its_process_and_a_dead_one_closes_as_failed() {
        let t = tempfile::tempdir().unwrap();
        let r = Running::of_this_process(
            "a1",
            Some("s1"),
            "m",
            "workspace-write",
            Some("code"),
            "/w",
            "fix   the\nparser please",
        );
        assert_eq!(r.prompt, "fix the parser please");
        assert!(r.alive());
        {
            let _m = r.mark(t.path()).unwrap();
            assert_eq!(list(t.path()), std::slice::from_ref(&r));
        }
        assert!(list(t.path()).is_empty(), "removed when dropped");
        let dead = Running {
            pid_start: r.pid_start + 1,
            ..r.clone()
        };
        assert!(!dead.alive(), "a reused pid is not the same process");
        // Closing is claimed by removing the marker: once, by one caller; never a live run's,
        // nor one whose run removed its marker on the way out.
        let _kept = dead.mark(t.path()).unwrap();
        assert!(dead.claim_if_dead(t.path()));
        assert!(!dead.claim_if_dead(t.path()), "claimed once");
        let _live = r.mark(t.path()).unwrap();
        assert!(!r.claim_if_dead(t.path()));
        assert_eq!(list(t.path()), std::slice::from_ref(&r));
        // A run killed after it recorded its finish, before it removed its marker: not
        // closed a second time.
        let finished_first = Running {
            attempt: "a2".into(),
            ..dead.clone()
        };
        let _left = finished_first.mark(t.path()).unwrap();
        let mut fin = dead.died();
        if let Body::AttemptFinished(f) = &mut fin.body {
            f.attempt = "a2".into();
            f.outcome = Outcome::Success;
        }
        crate::ledger::Ledger::new(crate::paths::Paths::in_folder(t.path().to_path_buf()))
            .append(&[fin])
            .unwrap();
        assert!(
            !finished_first.claim_if_dead(t.path()),
            "its finish is in the log"
        );
        let ev = dead.died();
        assert_eq!(ev.session.as_deref(), Some("s1"));
        match ev.body {
            Body::AttemptFinished(f) => {
                assert_eq!(f.outcome, Outcome::Failed);
                assert_eq!(f.attempt, "a1");
            }
            other => panic!("{other:?}"),
        }
        std::fs::create_dir_all(dir(t.path())).unwrap();
        std::fs::write(dir(t.path()).join("bad.json"), "{").unwrap();
        assert_eq!(
            list(t.path()),
            std::slice::from_ref(&r),
            "a broken marker is skipped"
        );
    }
}
