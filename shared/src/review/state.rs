//! What the review gate keeps between hook runs, under `review/` in offload's state folder:
//!
//! - `turns/<session>.json`: the session's current turn (its start snapshot, or why there is
//!   none) and the rounds it used, written at UserPromptSubmit and at each block;
//! - `locks/<session>.<diff>.lock`: held (`flock`) by the one hook run reviewing that diff. A
//!   second Stop of the same diff finds it held and leaves the review to the first; the lock
//!   dies with its process, and the file names the holder and its deadline, so the statusline
//!   shows `review…` only while a live holder is within it;
//! - `results/<session>.<diff>.json`: a review's verdict, so the same diff is never reviewed
//!   twice;
//! - `runs/<session>.<diff>/`: a review's prompt and the runner's output;
//! - `objects/`: the git objects of the snapshots (see [`super::git`]).
//!
//! Everything here is pruned after a week ([`Store::maybe_prune`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::{create_private_dir, read_regular_text, write_atomic};
use crate::ledger::ReviewVerdict;
use crate::paths::session_file_stem;

/// How long the gate's files are kept.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The review gate's folder.
#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

/// A session's current turn, as the review gate knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Turn {
    pub started: Option<DateTime<Utc>>,
    /// The project folder of the turn.
    pub project: String,
    /// The git work tree's top, when the project is in one.
    pub top: Option<String>,
    /// The snapshot of the work tree when the turn started.
    pub tree: Option<String>,
    /// Why there is no snapshot.
    pub problem: Option<String>,
    /// The project is not in a git work tree (so the gate cannot review it).
    pub not_repo: bool,
    /// Stops of this turn the gate blocked.
    pub rounds: u32,
    /// A stop found a Codex job of the session running, so the changes since `tree` were not
    /// reviewed: the next turn keeps this start, and they are reviewed at its stop.
    pub held: bool,
}

/// A review's verdict, kept for the same diff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub verdict: ReviewVerdict,
    /// The findings, or Codex's remark beside ALLOW.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub attempt: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    pub at: DateTime<Utc>,
}

/// Who holds a review lock, as its file says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's start time (`/proc/<pid>/stat`), so a reused pid is not taken for it.
    #[serde(default)]
    pub start_time: Option<u64>,
    pub since: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

impl Holder {
    /// Its process still runs (and is the same process).
    pub fn alive(&self) -> bool {
        crate::process::start_time(self.pid).is_some_and(|t| self.start_time.is_none_or(|s| s == t))
    }
}

/// The review lock of one diff, held while this value lives; dropping it removes the file and
/// releases the lock.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    _file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed before the lock is released (the file closes after this): a run that opened
        // the file meanwhile finds it unlinked once it gets the lock, and tries again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The result of [`Store::acquire`].
#[derive(Debug)]
pub enum Acquired {
    Held(Lock),
    /// Another run holds it (`None`: its file could not be read).
    Busy(Option<Holder>),
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join("review"),
        }
    }

    /// offload's state folder, which holds this one.
    pub fn state_dir(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    /// Where the snapshots' git objects go.
    pub fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    /// A scratch index file for one snapshot by this process.
    pub fn scratch_index(&self) -> PathBuf {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        self.root
            .join("tmp")
            .join(format!("index-{}-{nanos}", std::process::id()))
    }

    fn turn_path(&self, session: &str) -> PathBuf {
        self.root
            .join("turns")
            .join(format!("{}.json", session_file_stem(session)))
    }

    fn lock_path(&self, session: &str, key: &str) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}.{key}.lock", session_file_stem(session)))
    }

    fn result_path(&self, session: &str, key: &str) -> PathBuf {
        self.root
            .join("results")
            .join(format!("{}.{key}.json", session_file_stem(session)))
    }

    /// The session's current turn, if the gate recorded one.
    pub fn turn(&self, session: &str) -> Option<Turn> {
        let text = read_regular_text(&self.turn_path(session), 1 << 20)?;
        serde_json::from_str(&text).ok()
    }

    pub fn save_turn(&self, session: &str, turn: &Turn) -> std::io::Result<()> {
        let path = self.turn_path(session);
        create_private_dir(path.parent().unwrap_or(&self.root))?;
        let bytes = serde_json::to_vec(turn).map_err(std::io::Error::other)?;
        write_atomic(&path, &bytes)
    }

    /// The verdict already given for this diff, if any.
    pub fn result(&self, session: &str, key: &str) -> Option<Stored> {
        let text = read_regular_text(&self.result_path(session, key), 1 << 20)?;
        serde_json::from_str(&text).ok()
    }

    pub fn save_result(&self, session: &str, key: &str, r: &Stored) -> std::io::Result<()> {
        let path = self.result_path(session, key);
        create_private_dir(path.parent().unwrap_or(&self.root))?;
        let bytes = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        write_atomic(&path, &bytes)
    }

    /// Take the review lock of a diff, or learn who holds it. Never waits for the lock; only
    /// for a holder that just took it to name itself, [`HOLDER_WAIT`] at most.
    pub fn acquire(
        &self,
        session: &str,
        key: &str,
        deadline: DateTime<Utc>,
    ) -> std::io::Result<Acquired> {
        let path = self.lock_path(session, key);
        create_private_dir(path.parent().unwrap_or(&self.root))?;
        // A file unlinked by the holder that just finished is tried again; twice is plenty.
        for _ in 0..3 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    // The holder writes its name just after it takes the lock.
                    let until = std::time::Instant::now() + HOLDER_WAIT;
                    loop {
                        let holder = holder_in(&file);
                        if holder.is_some() || std::time::Instant::now() >= until {
                            return Ok(Acquired::Busy(holder));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
            let same = match (file.metadata(), std::fs::symlink_metadata(&path)) {
                (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
                _ => false,
            };
            if !same {
                continue;
            }
            let pid = std::process::id();
            let holder = Holder {
                pid,
                start_time: crate::process::start_time(pid),
                since: Utc::now(),
                deadline,
            };
            file.set_len(0)?;
            file.write_all(&serde_json::to_vec(&holder).map_err(std::io::Error::other)?)?;
            return Ok(Acquired::Held(Lock { path, _file: file }));
        }
        Err(std::io::Error::other(format!(
            "{} keeps being replaced",
            path.display()
        )))
    }

    /// A review of this session that runs now: a lock file whose holder lives and is within
    /// its deadline. One small folder listing (the statusline asks on each render).
    pub fn reviewing(&self, session: &str, now: DateTime<Utc>) -> Option<Holder> {
        let prefix = format!("{}.", session_file_stem(session));
        let dir = std::fs::read_dir(self.root.join("locks")).ok()?;
        dir.flatten()
            .take(1000)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(".lock")
            })
            .filter_map(|e| read_regular_text(&e.path(), 4096))
            .filter_map(|t| serde_json::from_str::<Holder>(&t).ok())
            .find(|h| h.deadline > now && h.alive())
    }

    /// Remove what is older than a week, at most once a day (one `stat` otherwise).
    pub fn maybe_prune(&self) {
        let marker = self.root.join("pruned");
        let fresh = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|d| d < Duration::from_secs(24 * 3600));
        if fresh || !self.root.is_dir() {
            return;
        }
        let _ = write_atomic(&marker, b"");
        for sub in ["turns", "results", "locks", "runs", "tmp", "objects"] {
            prune_older(&self.root.join(sub), KEEP, 3);
        }
    }
}

/// Remove files older than `age` under `dir` (to `depth` levels), and folders left empty.
fn prune_older(dir: &Path, age: Duration, depth: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten().take(100_000) {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() && depth > 0 {
            prune_older(&e.path(), age, depth - 1);
            let _ = std::fs::remove_dir(e.path());
        } else if m.is_file()
            && m.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|d| d > age)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// How long a hook run that finds a diff's lock held waits for its holder to name itself.
pub const HOLDER_WAIT: Duration = Duration::from_millis(200);

/// The holder a lock file names, if it is written (whole) yet.
fn holder_in(file: &File) -> Option<Holder> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = file.read_at(&mut buf, 0).ok()?;
    serde_json::from_slice(&buf[..n]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook run that finds the lock taken a moment before its holder wrote its name still
    /// says who holds it.
    #[test]
    fn a_holder_that_has_not_named_itself_yet_is_waited_for_a_moment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let path = store.lock_path("s1", "k");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let taken = File::create(&path).unwrap();
        taken.try_lock().unwrap();
        let deadline = Utc::now() + chrono::Duration::minutes(5);
        let holder = Holder {
            pid: std::process::id(),
            start_time: crate::process::start_time(std::process::id()),
            since: Utc::now(),
            deadline,
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                (&taken)
                    .write_all(&serde_json::to_vec(&holder).unwrap())
                    .unwrap();
            });
            match store.acquire("s1", "k", deadline).unwrap() {
                Acquired::Busy(Some(h)) => assert_eq!(h.pid, std::process::id()),
                other => panic!("{other:?}"),
            }
        });
        // One that never names itself is given up on.
        let other = store.lock_path("s1", "k2");
        let silent = File::create(&other).unwrap();
        silent.try_lock().unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            store.acquire("s1", "k2", deadline).unwrap(),
            Acquired::Busy(None)
        ));
        assert!(started.elapsed() < HOLDER_WAIT * 5);
    }

    #[test]
    fn one_lock_per_diff_across_threads_and_it_goes_with_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let deadline = Utc::now() + chrono::Duration::minutes(5);
        let barrier = std::sync::Barrier::new(8);
        let held: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let got = store.acquire("s1", "k", deadline).unwrap();
                        let held = matches!(got, Acquired::Held(_));
                        // Keep it until every thread has tried.
                        std::thread::sleep(Duration::from_millis(200));
                        drop(got);
                        held
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(held.iter().filter(|h| **h).count(), 1, "{held:?}");
        // Released: the next one gets it; another diff or session has its own.
        let a = store.acquire("s1", "k", deadline).unwrap();
        let Acquired::Held(lock) = a else {
            panic!("{a:?}")
        };
        assert!(matches!(
            store.acquire("s1", "other", deadline).unwrap(),
            Acquired::Held(_)
        ));
        match store.acquire("s1", "k", deadline).unwrap() {
            Acquired::Busy(Some(h)) => {
                assert_eq!(h.pid, std::process::id());
                assert_eq!(h.deadline.timestamp(), deadline.timestamp());
            }
            other => panic!("{other:?}"),
        }
        assert!(store.reviewing("s1", Utc::now()).is_some());
        assert!(store.reviewing("s2", Utc::now()).is_none());
        assert!(
            store
                .reviewing("s1", deadline + chrono::Duration::seconds(1))
                .is_none(),
            "past its deadline it is not shown"
        );
        drop(lock);
        assert!(store.reviewing("s1", Utc::now()).is_none());
    }

    #[test]
    fn a_stale_lock_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let path = store.lock_path("s1", "k");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A holder that died (its lock went with it) left its file, naming a dead process.
        let dead = Holder {
            pid: u32::MAX - 1,
            start_time: Some(1),
            since: Utc::now(),
            deadline: Utc::now() + chrono::Duration::minutes(5),
        };
        std::fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        assert!(store.reviewing("s1", Utc::now()).is_none(), "a dead holder");
        let got = store
            .acquire("s1", "k", Utc::now() + chrono::Duration::minutes(1))
            .unwrap();
        assert!(matches!(got, Acquired::Held(_)), "{got:?}");
        assert!(store.reviewing("s1", Utc::now()).is_some());
    }

    #[test]
    fn what_is_older_than_a_week_is_pruned_once_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let old = store.root.join("objects/ab/cdef");
        let fresh = store.root.join("runs/s.k/prompt.txt");
        for f in [&old, &fresh] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "x").unwrap();
        }
        let aged = std::process::Command::new("touch")
            .args(["-d", "10 days ago"])
            .arg(&old)
            .status()
            .unwrap();
        assert!(aged.success());
        store.maybe_prune();
        assert!(!old.exists() && !old.parent().unwrap().exists());
        assert!(fresh.exists());
        // Not again within the day.
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "x").unwrap();
        std::process::Command::new("touch")
            .args(["-d", "10 days ago"])
            .arg(&old)
            .status()
            .unwrap();
        store.maybe_prune();
        assert!(old.exists());
    }

    #[test]
    fn turns_and_results_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.turn("a/b"), None);
        let t = Turn {
            started: Some(Utc::now()),
            project: "/w".into(),
            tree: Some("t".into()),
            rounds: 1,
            ..Turn::default()
        };
        store.save_turn("a/b", &t).unwrap();
        assert_eq!(store.turn("a/b"), Some(t));
        let r = Stored {
            verdict: ReviewVerdict::Findings,
            text: "- x".into(),
            attempt: Some("a1".into()),
            model: None,
            at: Utc::now(),
        };
        store.save_result("a/b", "k", &r).unwrap();
        assert_eq!(store.result("a/b", "k"), Some(r));
        assert_eq!(store.result("a/b", "other"), None);
    }
}
