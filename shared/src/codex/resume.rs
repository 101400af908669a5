//! Continuing a codex thread (`offload run --resume <thread-id>|last`): which thread, and how
//! many tokens the new turn itself used.
//!
//! **Which thread.** An id given by the user is taken as it is once it has the shape of one
//! (codex's thread ids are UUIDs, [`is_thread_id`]). `last` is the newest thread offload's
//! ledger recorded for this Claude Code session, else for this project folder (the folder the
//! attempt worked in): [`ThreadScan`] finds both in one pass over the log.
//!
//! **Its own tokens.** `turn.completed.usage` of a resumed thread is cumulative over the whole
//! thread (codex 0.171.0: a first turn of 1000 input tokens and a resumed one of 1500 report
//! 2500). The ledger records each attempt's own tokens, so that sums over attempts (`offload
//! stats`, the statusline) stay true: the thread's usage before the run ([`Prior`]) is taken
//! from its rollout (the last `token_count` total, see [`super::rollout::last_total_usage`]),
//! else from the sum of what the ledger recorded for the thread, and subtracted from what codex
//! reports ([`turn_own`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::ledger::{Body, Event, Tokens};

/// How far into a rollout's tail its last usage total is looked for.
const ROLLOUT_TAIL: u64 = 8 << 20;

/// What `--resume` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The newest thread of this session, else of this project.
    Last,
    /// A thread id, as given.
    Thread(String),
}

impl Target {
    /// `last`, or a thread id (see [`is_thread_id`]); anything else is refused with a reason.
    pub fn parse(s: &str) -> Result<Target, String> {
        let s = s.trim();
        if s == "last" {
            return Ok(Target::Last);
        }
        if is_thread_id(s) {
            return Ok(Target::Thread(s.to_ascii_lowercase()));
        }
        let shown: String = s.chars().take(60).collect();
        Err(format!(
            "--resume {shown:?} is not a codex thread id (a UUID such as \
             01a22949-b252-7403-8c20-d445b026120d, from an earlier run's `thread_id`) nor `last`"
        ))
    }
}

/// Whether `s` has the shape of a codex thread id: a UUID, `8-4-4-4-12` hexadecimal digits.
pub fn is_thread_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// When the thread began, from its id: codex's ids are UUIDv7, whose first 48 bits are the
/// creation time in Unix milliseconds. `None` for other UUIDs. Tells which day folder holds
/// the thread's rollout, however long ago it began.
pub fn created_at(thread_id: &str) -> Option<DateTime<Utc>> {
    if !is_thread_id(thread_id) || thread_id.as_bytes()[14] != b'7' {
        return None;
    }
    let hex: String = thread_id.split('-').take(2).collect();
    let ms = i64::from_str_radix(&hex, 16).ok()?;
    DateTime::from_timestamp_millis(ms)
}

/// The rollout of `thread_id` under `codex_home`, looked for in the day folders around when the
/// thread began (from its id), when the ledger saw it, and now: never a walk of the whole tree.
pub fn rollout_of(
    codex_home: &Path,
    thread_id: &str,
    seen: Option<DateTime<Utc>>,
) -> Option<PathBuf> {
    [created_at(thread_id), seen, Some(Utc::now())]
        .into_iter()
        .flatten()
        .find_map(|near| super::rollout::find_rollout(codex_home, thread_id, near))
}

/// One attempt the ledger recorded on a thread.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadRecord {
    pub thread_id: String,
    /// The model of that attempt.
    pub model: String,
    /// The folder it worked in.
    pub cwd: String,
    pub session: Option<String>,
    pub at: DateTime<Utc>,
}

/// One pass over the ledger: the newest thread of a session and of a project, and what the
/// ledger holds of one wanted thread. Folds in parts (see `Ledger::fold_parts`): parts merge
/// in log order with [`ThreadScan::merge`].
#[derive(Clone, Debug, Default)]
pub struct ThreadScan {
    session: Option<String>,
    projects: Vec<String>,
    want: Option<String>,
    /// The newest attempt with a thread in the session.
    pub in_session: Option<ThreadRecord>,
    /// The newest attempt with a thread in one of the project folders.
    pub in_project: Option<ThreadRecord>,
    /// The newest attempt on the wanted thread.
    pub wanted: Option<ThreadRecord>,
    /// The tokens the ledger recorded for the wanted thread (each attempt's own).
    pub wanted_tokens: Tokens,
    /// Whether any attempt on the wanted thread recorded its tokens.
    pub wanted_attempts: u64,
}

impl ThreadScan {
    /// A scan for the newest thread of `session` (if any) and of `projects` (a folder as the
    /// ledger records it, and its other spellings), and for what is known of `want`.
    pub fn new(session: Option<&str>, projects: Vec<String>, want: Option<&str>) -> ThreadScan {
        ThreadScan {
            session: session.map(str::to_owned),
            projects,
            want: want.map(str::to_owned),
            ..ThreadScan::default()
        }
    }

    /// Fold in one event (in log order).
    pub fn see(&mut self, ev: &Event) {
        let Body::AttemptFinished(f) = &ev.body else {
            return;
        };
        let Some(thread) = f.thread_id.as_deref().filter(|t| !t.is_empty()) else {
            return;
        };
        let record = || ThreadRecord {
            thread_id: thread.to_owned(),
            model: f.model.clone(),
            cwd: f.cwd.clone(),
            session: ev.session.clone(),
            at: ev.ts,
        };
        let newer = |old: &Option<ThreadRecord>| old.as_ref().is_none_or(|o| ev.ts >= o.at);
        if self.session.is_some() && ev.session == self.session && newer(&self.in_session) {
            self.in_session = Some(record());
        }
        if self.projects.contains(&f.cwd) && newer(&self.in_project) {
            self.in_project = Some(record());
        }
        if self.want.as_deref() == Some(thread) {
            if newer(&self.wanted) {
                self.wanted = Some(record());
            }
            self.wanted_tokens.add(&f.tokens.capped());
            self.wanted_attempts = self.wanted_attempts.saturating_add(1);
        }
    }

    /// Fold in the scan of the part of the log that follows this one.
    pub fn merge(&mut self, later: ThreadScan) {
        fn keep(mine: &mut Option<ThreadRecord>, theirs: Option<ThreadRecord>) {
            if let Some(t) = theirs
                && mine.as_ref().is_none_or(|m| t.at >= m.at)
            {
                *mine = Some(t);
            }
        }
        keep(&mut self.in_session, later.in_session);
        keep(&mut self.in_project, later.in_project);
        keep(&mut self.wanted, later.wanted);
        self.wanted_tokens.add(&later.wanted_tokens);
        self.wanted_attempts = self.wanted_attempts.saturating_add(later.wanted_attempts);
    }

    /// The thread `last` means: this session's newest, else this project's.
    pub fn last(&self) -> Option<&ThreadRecord> {
        self.in_session.as_ref().or(self.in_project.as_ref())
    }
}

/// Where the thread's usage before the run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorSource {
    /// The last usage total in the thread's rollout.
    Rollout,
    /// The sum of the ledger's records of the thread.
    Ledger,
    /// Neither knew the thread: counted as nothing before.
    Unknown,
}

/// The thread's cumulative usage before the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prior {
    pub tokens: Tokens,
    pub source: PriorSource,
}

impl Prior {
    /// From the rollout when it holds a total, else from the ledger's records of the thread
    /// (`recorded` tokens over `attempts` attempts), else nothing.
    pub fn choose(rollout: Option<Tokens>, recorded: Tokens, attempts: u64) -> Prior {
        match rollout {
            Some(tokens) => Prior {
                tokens,
                source: PriorSource::Rollout,
            },
            None if attempts > 0 => Prior {
                tokens: recorded,
                source: PriorSource::Ledger,
            },
            None => Prior {
                tokens: Tokens::default(),
                source: PriorSource::Unknown,
            },
        }
    }

    /// [`Prior::choose`] with the rollout read from `rollout` (a missing or unreadable file, or
    /// one without a total, falls back to the ledger). `recorded` (the ledger's tokens for the
    /// thread, over how many attempts) is asked only then: it costs a pass over the log.
    pub fn read(rollout: Option<&Path>, recorded: impl FnOnce() -> (Tokens, u64)) -> Prior {
        let from_rollout = rollout
            .and_then(|p| super::rollout::last_total_usage(p, ROLLOUT_TAIL).ok())
            .flatten();
        match from_rollout {
            Some(t) => Prior::choose(Some(t), Tokens::default(), 0),
            None => {
                let (tokens, attempts) = recorded();
                Prior::choose(None, tokens, attempts)
            }
        }
    }
}

/// The turn's own usage: what codex reported for the thread, less what the thread had used
/// before, figure by figure, never below zero; total = input + output, as for any attempt.
pub fn turn_own(reported: Tokens, before: Tokens) -> Tokens {
    let input = reported.input.saturating_sub(before.input);
    let output = reported.output.saturating_sub(before.output);
    Tokens {
        input,
        cached_input: reported.cached_input.saturating_sub(before.cached_input),
        output,
        reasoning: reported.reasoning.saturating_sub(before.reasoning),
        total: input.saturating_add(output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::AttemptFinished;
    use crate::outcome::Outcome;

    const ID: &str = "01a22949-b252-7403-8c20-d445b026120d";

    fn t(input: u64, cached: u64, output: u64, reasoning: u64) -> Tokens {
        Tokens {
            input,
            cached_input: cached,
            output,
            reasoning,
            total: input + output,
        }
    }

    fn finished(session: Option<&str>, cwd: &str, thread: Option<&str>, at: i64) -> Event {
        Event {
            v: 1,
            ts: DateTime::from_timestamp(1_795_000_000 + at, 0).unwrap(),
            session: session.map(str::to_owned),
            body: Body::AttemptFinished(Box::new(AttemptFinished {
                attempt: format!("a{at}"),
                outcome: Outcome::Success,
                exit_code: 0,
                codex_exit: Some(0),
                model: format!("m{at}"),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: cwd.into(),
                duration_ms: 1,
                tokens: t(100, 10, 5, 1),
                thread_id: thread.map(str::to_owned),
                error: None,
                unconfigured_codex: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        }
    }

    fn scan(events: &[Event], session: Option<&str>, want: Option<&str>) -> ThreadScan {
        let mut s = ThreadScan::new(session, vec!["/p".into(), "/real/p".into()], want);
        for e in events {
            s.see(e);
        }
        s
    }

    #[test]
    fn targets() {
        assert_eq!(Target::parse("last"), Ok(Target::Last));
        assert_eq!(Target::parse(ID), Ok(Target::Thread(ID.into())));
        assert_eq!(
            Target::parse(&ID.to_ascii_uppercase()),
            Ok(Target::Thread(ID.into()))
        );
        for bad in [
            "",
            "Last",
            "latest",
            "01a22949",
            "01a22949-b252-7403-8c20-d445b026120",
            "01a22949-b252-7403-8c20-d445b026120dd",
            "01a22949-b252-7403-8c20-d445b02612zz",
            "01a22949b2527403-8c20-d445b026120d-",
            "../../etc/passwd",
            "01a22949-b252-7403-8c20-d445b026120d/x",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.contains("not a codex thread id"), "{bad:?}: {e}");
        }
        // A long paste is shown cut short.
        assert!(Target::parse(&"x".repeat(10_000)).unwrap_err().len() < 300);
    }

    #[test]
    fn a_uuid_v7_tells_when_its_thread_began() {
        // Seen from the real codex: this thread began at 2026-11-29T21:50:25.362Z.
        assert_eq!(
            created_at(ID).unwrap().to_rfc3339(),
            "2026-11-29T21:50:25.362+00:00"
        );
        assert_eq!(created_at("6f1c2b9e-0d4a-4c3e-9a57-1b2c3d4e5f60"), None); // v4
        assert_eq!(created_at("not-a-thread"), None);
    }

    #[test]
    fn the_rollout_of_an_old_thread_is_found_by_when_it_began() {
        // Long before now, so that the day folders around now cannot hold it.
        let old = "019469d5-b200-7abc-8def-0123456789ab"; // 2025-01-15T12:00:00Z
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("sessions/2025/01/15");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("rollout-2025-01-15T12-00-00-{old}.jsonl"));
        std::fs::write(&file, "").unwrap();
        assert_eq!(rollout_of(home.path(), old, None), Some(file));
        // An id that does not tell its time: found where the ledger saw it, not elsewhere.
        let v4 = "6f1c2b9e-0d4a-4c3e-9a57-1b2c3d4e5f60";
        let file = dir.join(format!("rollout-2025-01-15T12-00-00-{v4}.jsonl"));
        std::fs::write(&file, "").unwrap();
        assert_eq!(rollout_of(home.path(), v4, None), None);
        let seen = DateTime::parse_from_rfc3339("2025-01-15T13:00:00Z").unwrap();
        assert_eq!(
            rollout_of(home.path(), v4, Some(seen.with_timezone(&Utc))),
            Some(file)
        );
    }

    #[test]
    fn last_is_the_sessions_newest_thread_then_the_projects() {
        let events = [
            finished(Some("s"), "/elsewhere", Some("t-s-old"), 1),
            finished(Some("other"), "/p", Some("t-p-old"), 2),
            finished(Some("s"), "/elsewhere", Some("t-s-new"), 3),
            finished(Some("s"), "/elsewhere", None, 4), // no thread (codex missing): skipped
            finished(None, "/real/p", Some("t-p-new"), 5),
            finished(Some("other"), "/p/sub", Some("t-sub"), 6), // another folder
        ];
        let s = scan(&events, Some("s"), None);
        let last = s.last().unwrap();
        assert_eq!(
            (last.thread_id.as_str(), last.model.as_str()),
            ("t-s-new", "m3")
        );
        // No thread in this session (or no session): the project's newest.
        for session in [Some("fresh"), None] {
            let s = scan(&events, session, None);
            assert_eq!(s.last().unwrap().thread_id, "t-p-new", "{session:?}");
        }
        // Neither: nothing to resume.
        let mut s = ThreadScan::new(Some("fresh"), vec!["/nowhere".into()], None);
        events.iter().for_each(|e| s.see(e));
        assert_eq!(s.last(), None);
        assert_eq!(scan(&[], Some("s"), None).last(), None);
    }

    #[test]
    fn a_scan_in_parts_equals_one_pass() {
        let events: Vec<Event> = (0..12)
            .map(|i| {
                let thread = format!("t{}", i % 3);
                let session = if i % 2 == 0 { "s" } else { "o" };
                finished(Some(session), "/p", Some(&thread), i)
            })
            .collect();
        let whole = scan(&events, Some("s"), Some("t1"));
        for cut in 0..=events.len() {
            let mut first = scan(&events[..cut], Some("s"), Some("t1"));
            first.merge(scan(&events[cut..], Some("s"), Some("t1")));
            assert_eq!(first.last(), whole.last(), "cut at {cut}");
            assert_eq!(first.in_project, whole.in_project, "cut at {cut}");
            assert_eq!(first.wanted, whole.wanted, "cut at {cut}");
            assert_eq!(first.wanted_tokens, whole.wanted_tokens, "cut at {cut}");
            assert_eq!(first.wanted_attempts, 4);
        }
        assert_eq!(whole.last().unwrap().thread_id, "t1"); // event 10: session s, thread t1
        assert_eq!(whole.wanted.as_ref().unwrap().model, "m10");
        assert_eq!(whole.wanted_tokens, t(400, 40, 20, 4));
    }

    #[test]
    fn the_turns_own_tokens_are_the_report_less_the_thread_before() {
        // codex 0.171.0: turns of 1000/200/50/5 then 1500/1000/30/3 report 2500/1200/80/8.
        assert_eq!(
            turn_own(t(2500, 1200, 80, 8), t(1000, 200, 50, 5)),
            t(1500, 1000, 30, 3)
        );
        // A new thread has nothing before.
        assert_eq!(
            turn_own(t(1000, 200, 50, 5), Tokens::default()),
            t(1000, 200, 50, 5)
        );
        // More before than reported (a rollout ahead of what codex said, or a count that was
        // wrong): never below zero, and the total follows the figures.
        assert_eq!(
            turn_own(t(900, 100, 80, 8), t(1000, 200, 50, 5)),
            t(0, 0, 30, 3)
        );
        let max = t(u64::MAX, u64::MAX, 0, 0);
        assert_eq!(turn_own(t(1, 1, 1, 1), max), t(0, 0, 1, 1));
    }

    #[test]
    fn the_prior_comes_from_the_rollout_else_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let rollout = dir.path().join("rollout.jsonl");
        std::fs::write(
            &rollout,
            r#"{"timestamp":"2026-11-29T21:50:25Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1000,"cached_input_tokens":200,"output_tokens":50,"reasoning_output_tokens":5,"total_tokens":1050}},"rate_limits":null}}
"#,
        )
        .unwrap();
        let recorded = t(999, 0, 1, 0);
        let unasked =
            || -> (Tokens, u64) { panic!("the ledger is not read when the rollout tells") };
        assert_eq!(
            Prior::read(Some(&rollout), unasked),
            Prior {
                tokens: t(1000, 200, 50, 5),
                source: PriorSource::Rollout
            }
        );
        // The rollout is gone, unreadable or holds no total: the ledger's sum.
        let gone = dir.path().join("gone.jsonl");
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "{\"type\":\"session_meta\"}\n").unwrap();
        for path in [
            None,
            Some(gone.as_path()),
            Some(empty.as_path()),
            Some(dir.path()),
        ] {
            assert_eq!(
                Prior::read(path, || (recorded, 2)),
                Prior {
                    tokens: recorded,
                    source: PriorSource::Ledger
                },
                "{path:?}"
            );
        }
        // Neither knows the thread.
        assert_eq!(
            Prior::read(None, || (Tokens::default(), 0)),
            Prior {
                tokens: Tokens::default(),
                source: PriorSource::Unknown
            }
        );
    }
}
