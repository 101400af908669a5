//! The turn's changes, from git: a snapshot of the working tree as a tree object when the turn
//! starts, another when Claude stops, and the diff between them.
//!
//! A snapshot is `git add -A` into a scratch index (a copy of the repository's own, so only
//! files changed since git last looked are read again; an empty one when the repository's
//! marks an entry skip-worktree or assume-unchanged, which `git add` would pass over) and `git write-tree`. It covers what
//! `git status` would show, untracked files included and ignored ones not, and it leaves the
//! repository as it was: the real index is never written, and the objects git writes go to a
//! store of offload's (`GIT_OBJECT_DIRECTORY`), reading the repository's own as alternates.
//! So a turn's diff holds only what changed during the turn, whatever was uncommitted before.
//!
//! Every git run has a deadline (its process group is killed past it) and no pager, external
//! diff, text conversion or file-system monitor. Clean filters the repository configures (Git
//! LFS, for one) run as they do for any `git add`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::run_captured;

/// A git work tree, as git itself resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    /// The top of the work tree.
    pub top: PathBuf,
    /// Its index file.
    pub index: PathBuf,
    /// Its object store.
    pub objects: PathBuf,
}

/// Why there is no snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitError {
    /// The project is not in a git work tree (or git is not installed): what git said.
    NotRepo(String),
    /// Git failed or ran out of time: what happened.
    Failed(String),
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitError::NotRepo(why) | GitError::Failed(why) => f.write_str(why),
        }
    }
}

/// The changes between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Changed paths, relative to the top of the work tree.
    pub files: Vec<String>,
    /// The unified diff; `None` when it is larger than the limit asked for. The changes of
    /// the files in `binary` are left out of it.
    pub text: Option<String>,
    /// Changed files whose content is not text (it holds a NUL byte), so that no diff of them
    /// can be shown.
    pub binary: Vec<String>,
}

/// Variables that would point git somewhere else than the project's repository.
const GIT_ENV: [&str; 8] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_EXTERNAL_DIFF",
];

/// The most output kept from a git command that is not the diff itself.
const SMALL: usize = 4 << 20;

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    for v in GIT_ENV {
        cmd.env_remove(v);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_PAGER", "cat")
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.untrackedCache=false",
            "-c",
            "core.ignoreStat=false",
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
            "-c",
            "core.quotePath=false",
            "-C",
        ])
        .arg(dir);
    cmd
}

/// Run `cmd` until `deadline`, keeping at most `cap` bytes of stdout: `Ok(None)` when it went
/// past the cap.
fn run(cmd: Command, what: &str, deadline: Instant, cap: usize) -> Result<Option<Vec<u8>>, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(10) {
        return Err(format!("no time left for git {what}"));
    }
    let out = run_captured(cmd, left, cap).map_err(|e| format!("cannot run git ({e})"))?;
    if out.over_cap {
        return Ok(None);
    }
    match out.failure(cap) {
        None => Ok(Some(out.stdout)),
        Some(why) => Err(format!("git {what}: {why}")),
    }
}

/// Copy the index to `to` with its modification time. git trusts an entry's stat data only
/// when the index is newer than the file (otherwise the file may have changed in the second git
/// indexed it, and git compares its content): a copy stamped with the time of copying would
/// make a file changed to the same size in that second look unchanged.
fn copy_index(from: &Path, to: &Path) -> std::io::Result<()> {
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::copy(from, to)?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(modified)
}

/// The work tree `project` is in.
pub fn repo(project: &Path, deadline: Instant) -> Result<Repo, GitError> {
    let mut cmd = git(project);
    cmd.args([
        "rev-parse",
        "--show-toplevel",
        "--git-path",
        "index",
        "--git-path",
        "objects",
    ]);
    let out = match run(cmd, "rev-parse", deadline, SMALL) {
        Ok(Some(out)) => out,
        Ok(None) => return Err(GitError::Failed("git rev-parse said too much".into())),
        Err(e) if e.starts_with("cannot run git") => {
            return Err(GitError::NotRepo(format!("git is not installed ({e})")));
        }
        Err(e) if e.contains("not a git repository") => {
            return Err(GitError::NotRepo(format!(
                "{} is not in a git repository",
                project.display()
            )));
        }
        Err(e) => return Err(GitError::Failed(e)),
    };
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    let [top, index, objects] = lines.as_slice() else {
        return Err(GitError::NotRepo(format!(
            "{} is not in a git work tree (a bare repository, or inside .git)",
            project.display()
        )));
    };
    let at = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            project.join(p)
        }
    };
    Ok(Repo {
        top: PathBuf::from(top),
        index: at(index),
        objects: at(objects),
    })
}

impl Repo {
    /// Snapshot the work tree: the id of a tree object in `store` (created if needed), using
    /// `scratch` as the index file (removed after).
    pub fn snapshot(
        &self,
        store: &Path,
        scratch: &Path,
        deadline: Instant,
    ) -> Result<String, String> {
        for dir in [store, scratch.parent().unwrap_or(store)] {
            crate::fsutil::create_private_dir(dir)
                .map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
        }
        let _ = std::fs::remove_file(scratch);
        // Starting from the repository's index, git reads again only what changed since.
        match copy_index(&self.index, scratch) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot copy {} ({e})", self.index.display())),
        }
        let result = (|| {
            // An entry marked skip-worktree or assume-unchanged in the repository's index
            // would make `git add` pass over its file whatever it holds now: then the scratch
            // index starts empty, and every file is read.
            let mut flags = self.in_store(store);
            flags
                .env("GIT_INDEX_FILE", scratch)
                .args(["ls-files", "-v", "-z"]);
            let listed = run(flags, "ls-files", deadline, SMALL)?;
            let marked = listed.is_none_or(|l| {
                l.split(|b| *b == 0).any(|e| {
                    e.first()
                        .is_some_and(|t| *t == b'S' || t.is_ascii_lowercase())
                })
            });
            if marked {
                let _ = std::fs::remove_file(scratch);
            }
            let mut add = self.in_store(store);
            add.env("GIT_INDEX_FILE", scratch)
                .args(["add", "--all", "--ignore-errors", "--", "."]);
            run(add, "add", deadline, SMALL)?;
            let mut write = self.in_store(store);
            write.env("GIT_INDEX_FILE", scratch).arg("write-tree");
            let out = run(write, "write-tree", deadline, SMALL)?.unwrap_or_default();
            let id = String::from_utf8_lossy(&out).trim().to_owned();
            if id.len() < 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("git write-tree gave {id:?}, not a tree id"));
            }
            Ok(id)
        })();
        let _ = std::fs::remove_file(scratch);
        let mut lock = scratch.as_os_str().to_owned();
        lock.push(".lock");
        let _ = std::fs::remove_file(PathBuf::from(lock));
        result
    }

    /// The changes from tree `from` to tree `to`; the text only when it fits in `max_bytes`.
    pub fn diff(
        &self,
        store: &Path,
        from: &str,
        to: &str,
        max_bytes: usize,
        deadline: Instant,
    ) -> Result<Diff, String> {
        let base = |extra: &[&str]| {
            let mut cmd = self.in_store(store);
            // Nothing the repository or the user configures may make git print `Binary files
            // … differ` for a text file: no attributes from the user's or the system's files,
            // no size past which a file counts as binary, and `--text` over the `binary` and
            // `-diff` attributes the repository's own files may set.
            cmd.env("GIT_ATTR_NOSYSTEM", "1")
                .args(["-c", "core.attributesFile=/dev/null"])
                .args(["-c", "core.bigFileThreshold=1g"])
                .args([
                    "diff",
                    "--no-color",
                    "--no-ext-diff",
                    "--no-textconv",
                    "--text",
                    "-M",
                ])
                .args(extra)
                .args([from, to, "--"]);
            cmd
        };
        let names = run(base(&["--name-only", "-z"]), "diff", deadline, SMALL)?
            .ok_or("git diff --name-only said too much")?;
        let files: Vec<String> = names
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        if files.is_empty() {
            return Ok(Diff::default());
        }
        let Some(raw) = run(base(&[]), "diff", deadline, max_bytes)? else {
            return Ok(Diff {
                files,
                ..Diff::default()
            });
        };
        let (text, binary) = without_binary(&raw, &files);
        Ok(Diff {
            files,
            text: Some(text),
            binary,
        })
    }

    fn in_store(&self, store: &Path) -> Command {
        let mut cmd = git(&self.top);
        cmd.env("GIT_OBJECT_DIRECTORY", store)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.objects);
        cmd
    }
}

/// Split a `--text` diff into its files' sections and leave out those holding a NUL byte (a
/// binary file's content, unreadable as text): the text, and the files left out (from `files`,
/// the diff's paths; a section whose path is not recognised is named by its header).
fn without_binary(raw: &[u8], files: &[String]) -> (String, Vec<String>) {
    let mut starts: Vec<usize> = Vec::new();
    let header = b"diff --git ";
    for i in 0..raw.len() {
        if raw[i..].starts_with(header) && (i == 0 || raw[i - 1] == b'\n') {
            starts.push(i);
        }
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut text = String::new();
    let mut binary = Vec::new();
    for (n, &from) in starts.iter().enumerate() {
        let to = starts.get(n + 1).copied().unwrap_or(raw.len());
        let section = &raw[from..to];
        if !section.contains(&0) {
            text.push_str(&String::from_utf8_lossy(section));
            continue;
        }
        let line = section.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let name = files
            .iter()
            .find(|f| line.ends_with(&format!(" b/{f}")))
            .cloned()
            .unwrap_or_else(|| line.trim_start_matches("diff --git ").to_owned());
        text.push_str(&format!("{line}\n(not text: its changes are not shown)\n"));
        binary.push(name);
    }
    (text, binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let ok = Command::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    /// A repository with one commit of `src/lib.rs` (and `src/m.rs`) holding these lines.
    fn committed(files: &[&str]) -> (tempfile::TempDir, PathBuf, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        std::fs::create_dir_all(w.join("src")).unwrap();
        for (name, text) in ["src/lib.rs", "src/m.rs"].iter().zip(files) {
            std::fs::write(w.join(name), format!("{text}\n")).unwrap();
        }
        sh(&w, "git init -q && git add -A && git commit -qm one");
        let repo = repo(&w, soon()).unwrap();
        (dir, w, repo)
    }

    #[test]
    fn a_turn_diff_holds_only_what_changed_since_its_start_and_leaves_the_repo_alone() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        std::fs::create_dir_all(w.join("src")).unwrap();
        sh(
            &w,
            "git init -q && printf 'fn a() {}\\n' > src/lib.rs && printf 'x\\n' > notes.txt && \
             printf 'target/\\n' > .gitignore && git add -A && git commit -qm one && \
             printf 'fn a() { 1 }\\n' > src/lib.rs",
        );
        let store = dir.path().join("store");
        let scratch = dir.path().join("index.tmp");
        let repo = repo(&w.join("src"), soon()).unwrap();
        assert_eq!(repo.top, w.canonicalize().unwrap());
        let status_before = Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(&w)
            .output()
            .unwrap()
            .stdout;
        let index_before = std::fs::read(&repo.index).unwrap();
        let start = repo.snapshot(&store, &scratch, soon()).unwrap();
        // The turn: a change to an uncommitted file, a new file, an ignored one.
        std::fs::write(w.join("src/lib.rs"), "fn a() { 2 }\n").unwrap();
        std::fs::write(w.join("src/new.rs"), "fn n() {}\n").unwrap();
        std::fs::create_dir_all(w.join("target")).unwrap();
        std::fs::write(w.join("target/out.rs"), "ignored").unwrap();
        let end = repo.snapshot(&store, &scratch, soon()).unwrap();
        assert_ne!(start, end);
        let d = repo.diff(&store, &start, &end, 1 << 20, soon()).unwrap();
        assert_eq!(d.files, ["src/lib.rs", "src/new.rs"]);
        let text = d.text.unwrap();
        assert!(text.contains("-fn a() { 1 }\n+fn a() { 2 }"), "{text}");
        assert!(text.contains("+fn n() {}"), "{text}");
        assert!(!text.contains("ignored"), "{text}");
        // Nothing of the repository changed: its index, status and objects are as they were.
        assert_eq!(std::fs::read(&repo.index).unwrap(), index_before);
        let status_after = Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(&w)
            .output()
            .unwrap()
            .stdout;
        let mut expected = String::from_utf8(status_before).unwrap();
        expected.push_str("?? src/new.rs\n");
        assert_eq!(String::from_utf8(status_after).unwrap(), expected);
        let cat = Command::new("git")
            .args(["cat-file", "-e", &end])
            .current_dir(&w)
            .status()
            .unwrap();
        assert!(
            !cat.success(),
            "the snapshot's tree is in offload's store only"
        );
        assert!(!scratch.exists());
        // No change: an empty diff. Too big: no text, but the files.
        let again = repo.snapshot(&store, &scratch, soon()).unwrap();
        assert_eq!(again, end);
        assert_eq!(
            repo.diff(&store, &end, &again, 1 << 20, soon()).unwrap(),
            Diff::default()
        );
        let big = repo.diff(&store, &start, &end, 10, soon()).unwrap();
        assert_eq!((big.files.len(), big.text), (2, None));
    }

    /// A file changed in the second git indexed it, to the same size, looks unchanged by its
    /// stat data; git then compares its content ("racily clean"), but only while the index is
    /// no older than the file. The scratch index keeps the repository index's time, so a stop
    /// a second later still sees the change (a copy stamped "now" hid it).
    #[test]
    fn a_change_in_the_second_git_indexed_the_file_is_seen_however_late_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        std::fs::create_dir_all(w.join("src")).unwrap();
        // ctime cannot be set back: left out of git's comparison, as the same second would.
        sh(
            &w,
            "git init -q && git config core.trustctime false && \
             printf 'fn a() {}\\n' > src/lib.rs && git add -A && git commit -qm one",
        );
        let repo = repo(&w, soon()).unwrap();
        // The file and the index written in one second, long ago.
        let then = std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(1_600_000_000_500);
        let set_mtime = |p: &Path| {
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(then).unwrap();
        };
        set_mtime(&w.join("src/lib.rs"));
        sh(&w, "git update-index --refresh -q");
        set_mtime(&repo.index);
        let (store, scratch) = (dir.path().join("store"), dir.path().join("index.tmp"));
        let start = repo.snapshot(&store, &scratch, soon()).unwrap();
        // Changed in that same second: same size, same inode, same mtime.
        std::fs::write(w.join("src/lib.rs"), "fn b() {}\n").unwrap();
        set_mtime(&w.join("src/lib.rs"));
        let end = repo.snapshot(&store, &scratch, soon()).unwrap();
        assert_ne!(start, end, "the change was missed");
        let d = repo.diff(&store, &start, &end, 1 << 20, soon()).unwrap();
        assert_eq!(d.files, ["src/lib.rs"]);
    }

    #[test]
    fn attributes_and_config_cannot_hide_a_text_change_and_a_binary_one_is_named() {
        let tricks = [
            "git config core.bigFileThreshold 1",
            "printf '*.rs binary\\n' > .git/info/attributes",
            "printf '* -diff\\n' > .gitattributes",
            "printf '*.rs binary\\n' > ../attrs && git config core.attributesFile \"$PWD/../attrs\"",
        ];
        for trick in tricks {
            let (dir, w, repo) = committed(&["fn a() {}"]);
            sh(&w, trick);
            let (store, scratch) = (dir.path().join("store"), dir.path().join("ix"));
            let start = repo.snapshot(&store, &scratch, soon()).unwrap();
            std::fs::write(w.join("src/lib.rs"), "fn b() {}\n").unwrap();
            let end = repo.snapshot(&store, &scratch, soon()).unwrap();
            let d = repo.diff(&store, &start, &end, 1 << 20, soon()).unwrap();
            let text = d.text.unwrap();
            assert!(text.contains("-fn a() {}\n+fn b() {}"), "{trick}: {text}");
            assert!(d.binary.is_empty(), "{trick}");
        }
        // A NUL byte: the file is named, its content left out, the other file shown.
        let (dir, w, repo) = committed(&["fn a() {}", "x"]);
        let (store, scratch) = (dir.path().join("store"), dir.path().join("ix"));
        let start = repo.snapshot(&store, &scratch, soon()).unwrap();
        std::fs::write(w.join("src/lib.rs"), "fn b() {}\n\0evil()\n").unwrap();
        std::fs::write(w.join("src/m.rs"), "y\n").unwrap();
        let end = repo.snapshot(&store, &scratch, soon()).unwrap();
        let d = repo.diff(&store, &start, &end, 1 << 20, soon()).unwrap();
        assert_eq!(d.binary, ["src/lib.rs"]);
        let text = d.text.unwrap();
        assert!(text.contains("-x\n+y"), "{text}");
        assert!(!text.contains('\0') && !text.contains("evil"), "{text}");
        assert!(text.contains("src/lib.rs\n(not text"), "{text}");
    }

    #[test]
    fn skip_worktree_and_assume_unchanged_bits_hide_no_change() {
        let (dir, w, repo) = committed(&["fn a() {}", "x"]);
        let (store, scratch) = (dir.path().join("store"), dir.path().join("ix"));
        let start = repo.snapshot(&store, &scratch, soon()).unwrap();
        sh(
            &w,
            "git update-index --skip-worktree src/lib.rs && git update-index --assume-unchanged src/m.rs",
        );
        std::fs::write(w.join("src/lib.rs"), "fn b() {}\n").unwrap();
        std::fs::write(w.join("src/m.rs"), "y\n").unwrap();
        let end = repo.snapshot(&store, &scratch, soon()).unwrap();
        let d = repo.diff(&store, &start, &end, 1 << 20, soon()).unwrap();
        assert_eq!(d.files, ["src/lib.rs", "src/m.rs"]);
        let text = d.text.unwrap();
        assert!(
            text.contains("-fn a() {}\n+fn b() {}") && text.contains("-x\n+y"),
            "{text}"
        );
    }

    #[test]
    fn not_a_repository_and_no_time_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        match repo(dir.path(), soon()) {
            Err(GitError::NotRepo(why)) => assert!(why.contains("not in a git"), "{why}"),
            other => panic!("{other:?}"),
        }
        match repo(dir.path(), Instant::now()) {
            Err(GitError::Failed(why)) => assert!(why.contains("no time left"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
