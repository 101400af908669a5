//! The effect check: the guard's backstop behind the Bash analyzer.
//!
//! The analyzer ([`super::bash`]) reads a command's text and answers before it runs, which is
//! best for Claude. But a command can run code the analyzer cannot read (a script, an
//! interpreter, a program it does not know, a name computed at run time). While native edits are
//! locked, such a command is *watched*: PreToolUse takes a [`Snapshot`] of the project's code
//! files, the command runs, and PostToolUse compares. A code file the command created or changed
//! is put back as it was, and what the command wrote is kept in an undo record that
//! `offload restore <id>` puts back in one command. Nothing is lost either way.
//!
//! ## What a snapshot is, and why it is cheap
//!
//! - **Which files**: the project's code files (by the guard's globs), found by walking the
//!   project the way git would see it: `.gitignore`, `.git/info/exclude` and the global excludes
//!   are honoured, so `target/` and `node_modules/` are never walked; `.git/` is skipped.
//! - **What is recorded**: each file's size, modification and change times (nanoseconds) and
//!   inode: a change to the file changes its ctime, which no user-space program can set back.
//! - **How the old content is kept**: a file that git's index says is clean (same stat data as
//!   the index entry, and not "racily" clean) is backed by its blob in the repository: nothing is
//!   copied. Every other code file (modified, untracked, or any file outside a git repository) is
//!   copied once into a shadow store keyed by its stat data, and the copy is reused by every later
//!   snapshot while the file does not change. In a repository where the user is working on a few
//!   files, a snapshot copies nothing after the first.
//! - **Only what was touched**: with the project's [`super::watch`]er running, a snapshot is
//!   the last one plus the files the watcher saw touched since ([`take_touched`]), and the check
//!   looks at the files touched during the command ([`check_touched`]). A snapshot is *based*: a
//!   whole table written once (a walk) and searched by binary search without being parsed,
//!   plus its own small table of what differs. Without a watcher it can trust, the hook walks.
//!
//! ## What it cannot see
//!
//! - A command still running when PostToolUse fires (a command Claude Code moved to the
//!   background, `run_in_background`): what it writes afterwards. The guard denies a watched
//!   command with `run_in_background` while edits are locked for that reason.
//! - Files outside the project, ignored files, and files that are not code by the globs.
//! - Who made a change: a change made by another program during the command (the user's editor)
//!   cannot be told apart from the command's own, and is undone and kept the same way. The undo
//!   compares before it writes: a file that changed again since the check is left alone.
//! - A blob git has garbage-collected between the snapshot and the check (`git gc --prune=now`
//!   in the command itself): that file is reported as not restorable.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fsutil;
use crate::policy::scope::Scope;

/// Claude Code's settings files of a project, and its `.mcp.json` (the MCP servers Claude Code
/// starts in it), watched with its code.
pub(crate) const SETTINGS: [&str; 3] = [
    ".claude/settings.json",
    ".claude/settings.local.json",
    MCP_JSON,
];

/// The project's MCP servers file, judged by the servers it defines.
const MCP_JSON: &str = ".mcp.json";

/// The largest code file a snapshot copies; a bigger file that git does not hold makes the
/// snapshot fail (closed).
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Bytes a snapshot may copy in one go.
const MAX_COPY_BYTES: u64 = 256 << 20;
/// Code files a project may have.
const MAX_FILES: usize = 200_000;
/// The git index is read up to this size.
const MAX_INDEX_BYTES: u64 = 512 << 20;

/// A file's identity and state, from `lstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub mode: u32,
}

impl Sig {
    fn of(meta: &fs::Metadata) -> Sig {
        Sig {
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            ino: meta.ino(),
            mode: meta.mode(),
        }
    }

    /// The same state with the mode left out (the listing cache does not store it).
    fn without_mode(self) -> Sig {
        Sig { mode: 0, ..self }
    }

    fn key(&self) -> String {
        format!(
            "{:x}-{:x}-{:x}-{:x}",
            self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }
}

/// A git object id (SHA-1 or SHA-256), raw: it is written out in hexadecimal only to fetch it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Oid {
    bytes: [u8; 32],
    len: u8,
}

impl Oid {
    fn of(raw: &[u8]) -> Oid {
        let mut bytes = [0u8; 32];
        let len = raw.len().min(32);
        bytes[..len].copy_from_slice(&raw[..len]);
        Oid {
            bytes,
            len: len as u8,
        }
    }

    pub fn hex(&self) -> String {
        hex(&self.bytes[..self.len as usize])
    }

    /// From lowercase or uppercase hexadecimal (40 or 64 digits).
    fn from_hex(text: &[u8]) -> Option<Oid> {
        if text.len() != 40 && text.len() != 64 {
            return None;
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut raw = Vec::with_capacity(32);
        for pair in text.chunks(2) {
            raw.push(digit(pair[0])? << 4 | digit(pair[1])?);
        }
        Some(Oid::of(&raw))
    }
}

impl std::fmt::Debug for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Where a file's content at snapshot time can be found again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backup {
    /// The blob with this object id in the repository.
    Git(Oid),
    /// A copy in the shadow store, under this key.
    Shadow(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    sig: Sig,
    backup: Backup,
}

impl Entry {
    /// Whether a file now in state `now` is still as this entry recorded it. An entry backed by
    /// git compares the way git's index stores it (inode and size as 32 bits).
    fn same(&self, now: &Sig) -> bool {
        match self.backup {
            Backup::Git(_) => {
                self.sig.mtime_ns == now.mtime_ns
                    && self.sig.ctime_ns == now.ctime_ns
                    && self.sig.size as u32 == now.size as u32
                    && self.sig.ino as u32 == now.ino as u32
            }
            Backup::Shadow(_) => self.sig == *now,
        }
    }
}

/// The project's code files at one moment.
///
/// A snapshot is either whole (every file in its own table) or *based*: a whole snapshot saved
/// once in its own file (the base, never changed after), and this snapshot's own table of what
/// differs from it (`None`: the file is gone). The watcher's checks look up a few files, and a
/// base is found in by binary search without being parsed, so a command that touches nothing
/// costs no parsing and no writing of the project's whole table.
#[derive(Debug)]
pub struct Snapshot {
    pub project: PathBuf,
    /// The repository holding the project, if any (its work tree root).
    pub repo: Option<PathBuf>,
    own: HashMap<Vec<u8>, Option<Entry>>,
    base: Option<Base>,
    /// The watcher that saw the project since this snapshot, and its mark when it was taken:
    /// what was touched since is asked of it instead of looking at every file.
    pub watch: Option<(String, u64)>,
}

/// offload's folders for the effect check, under the state folder.
#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join("guard"),
        }
    }

    fn shadow(&self) -> PathBuf {
        self.root.join("shadow")
    }

    pub fn pending_dir(&self) -> PathBuf {
        self.root.join("pending")
    }

    /// The pending snapshot of one tool call.
    pub fn pending(&self, session: Option<&str>, tool_use_id: Option<&str>) -> PathBuf {
        self.pending_dir().join(format!(
            "{}--{}.snap",
            fsutil::safe_name(session.unwrap_or("none"), 80),
            fsutil::safe_name(tool_use_id.unwrap_or("none"), 80)
        ))
    }

    /// Whole snapshots that later ones are based on.
    fn bases(&self) -> PathBuf {
        self.root.join("bases")
    }

    pub fn undone_dir(&self) -> PathBuf {
        self.root.join("undone")
    }

    /// The last snapshot of `project` under `scope`'s globs, which the next one starts from.
    pub fn baseline(&self, project: &Path, scope: &Scope) -> PathBuf {
        let mut p = self.listing_cache(project, scope).into_os_string();
        p.push(".snap");
        PathBuf::from(p)
    }

    /// The saved folder listings of `project` under `scope`'s globs (a different config is a
    /// different file, so a changed glob never reuses a stale listing).
    fn listing_cache(&self, project: &Path, scope: &Scope) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        project.hash(&mut h);
        scope.globs_key().hash(&mut h);
        self.root.join(format!("listings-{:016x}", h.finish()))
    }
}

/// The project's code files as they are now: relative path → state.
///
/// A walk of the project as git sees it: `.git/` is skipped, and a `.gitignore` is parsed only in
/// the folders whose listing shows one (plus `.git/info/exclude` at the root), so a folder costs
/// one directory read. The code files are then `lstat`ed on two threads: on a virtual machine a
/// `stat` costs microseconds, and it is the bulk of the work.
fn scan(
    project: &Path,
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<HashMap<Vec<u8>, Sig>, String> {
    let files = walk(project, scope, store, deadline)?.files;
    // Two threads of lstat.
    let half = files.len() / 2;
    let (a, b) = files.split_at(half);
    let stat_all = |part: &[(Vec<u8>, PathBuf)]| -> Vec<Option<Sig>> {
        part.iter()
            .map(|(_, p)| {
                fs::symlink_metadata(p)
                    .ok()
                    .filter(|m| m.file_type().is_file())
                    .map(|m| Sig::of(&m))
            })
            .collect()
    };
    let (sa, sb) = std::thread::scope(|sc| {
        let h = sc.spawn(|| stat_all(b));
        let sa = stat_all(a);
        (sa, h.join().unwrap_or_default())
    });
    if Instant::now() >= deadline {
        return Err(
            "listing the project's code files took longer than the guard's deadline".to_string(),
        );
    }
    let mut out = HashMap::with_capacity(files.len());
    for ((rel, _), sig) in files.into_iter().zip(sa.into_iter().chain(sb)) {
        if let Some(sig) = sig {
            out.insert(rel, sig);
        }
    }
    Ok(out)
}

/// What a walk of the project found: its folders and its code files (relative path, path).
pub(crate) struct Walked {
    pub dirs: Vec<(Vec<u8>, PathBuf)>,
    pub files: Vec<(Vec<u8>, PathBuf)>,
}

/// Walk the project the way git sees it (see [`scan`]), without `stat`ing the files. The
/// folders include the project itself (relative path empty); the files include git's
/// configuration and hooks.
pub(crate) fn walk(
    project: &Path,
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<Walked, String> {
    use std::os::unix::ffi::OsStrExt;
    let late =
        || "listing the project's code files took longer than the guard's deadline".to_string();
    let cache_path = store.listing_cache(project, scope);
    let old = Listings::load(&cache_path);
    let mut new = Listings::default();
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let mut relisted = 0usize;
    let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    let mut walked_dirs: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    // (folder, its path relative to the project, the ignore matchers in force there, whether
    // an ancestor's rules changed since the cache was written)
    let mut stack: Vec<Pending> = Vec::new();
    let mut root_rules = Vec::new();
    let exclude = project.join(".git/info/exclude");
    let exclude_sig = fs::symlink_metadata(&exclude)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| Sig::of(&m).without_mode());
    if exclude_sig.is_some()
        && let Some(g) = ignore_rules(project, &exclude)
    {
        root_rules.push(std::rc::Rc::new(g));
    }
    new.exclude = exclude_sig;
    stack.push((
        project.to_path_buf(),
        Vec::new(),
        root_rules,
        old.exclude != exclude_sig,
    ));
    let mut dirs = 0usize;
    while let Some((dir, rel, mut rules, rules_changed)) = stack.pop() {
        dirs += 1;
        if dirs.is_multiple_of(64) && Instant::now() >= deadline {
            return Err(late());
        }
        let Ok(meta) = fs::symlink_metadata(&dir) else {
            continue;
        };
        let mtime = Sig::of(&meta).mtime_ns;
        let gitignore = dir.join(".gitignore");
        let cached = old.dirs.get(&rel).filter(|c| {
            // A listing is trusted when the folder has not changed since, its `.gitignore`
            // either, and it was not changing when it was read (timestamps are coarse).
            !rules_changed
                && c.mtime_ns == mtime
                && c.read_ns - mtime > 100_000_000
                // A new `.gitignore` changes the folder's time; an edited one only its own.
                && (c.gitignore.is_none()
                    || c.gitignore
                        == fs::symlink_metadata(&gitignore)
                            .ok()
                            .filter(|m| m.is_file())
                            .map(|m| Sig::of(&m).without_mode()))
        });
        let listing = match cached {
            Some(c) => {
                if c.gitignore.is_some()
                    && let Some(g) = ignore_rules(&dir, &gitignore)
                {
                    rules.push(std::rc::Rc::new(g));
                }
                c.clone()
            }
            None => {
                relisted += 1;
                let Ok(listing) = fs::read_dir(&dir) else {
                    continue;
                };
                let entries: Vec<fs::DirEntry> = listing.flatten().collect();
                let mut l = Listing {
                    mtime_ns: mtime,
                    read_ns: now_ns,
                    gitignore: None,
                    dirs: Vec::new(),
                    files: Vec::new(),
                };
                if entries.iter().any(|e| e.file_name() == ".gitignore") {
                    l.gitignore = fs::symlink_metadata(&gitignore)
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| Sig::of(&m).without_mode());
                    if let Some(g) = ignore_rules(&dir, &gitignore) {
                        rules.push(std::rc::Rc::new(g));
                    }
                }
                for e in entries {
                    let name = e.file_name();
                    let Ok(ft) = e.file_type() else { continue };
                    if name == ".git" {
                        continue;
                    }
                    let path = e.path();
                    let is_dir = ft.is_dir();
                    // The innermost rule that matches decides (a `!` deeper re-includes).
                    let ignored = rules
                        .iter()
                        .rev()
                        .find_map(|g| match g.matched(&path, is_dir) {
                            ignore::Match::Ignore(_) => Some(true),
                            ignore::Match::Whitelist(_) => Some(false),
                            ignore::Match::None => None,
                        });
                    if ignored == Some(true) {
                        continue;
                    }
                    let mut r = rel.clone();
                    if !r.is_empty() {
                        r.push(b'/');
                    }
                    r.extend_from_slice(name.as_bytes());
                    if is_dir {
                        l.dirs.push(name.as_bytes().to_vec());
                    } else if ft.is_file() && scope.is_code_rel(&String::from_utf8_lossy(&r)) {
                        l.files.push(name.as_bytes().to_vec());
                    }
                }
                l
            }
        };
        let changed = rules_changed
            || old
                .dirs
                .get(&rel)
                .is_none_or(|c| c.gitignore != listing.gitignore);
        for name in &listing.files {
            if files.len() >= MAX_FILES {
                return Err(format!("the project has more than {MAX_FILES} code files"));
            }
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(name);
            files.push((r, dir.join(bytes_path(name))));
        }
        for name in &listing.dirs {
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(name);
            stack.push((dir.join(bytes_path(name)), r, rules.clone(), changed));
        }
        new.dirs.insert(rel.clone(), listing);
        walked_dirs.push((rel, dir));
    }
    // git's own configuration and hooks run programs: watched like code (the walk skips `.git`).
    let dot_git = project.join(".git");
    if fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_dir()) {
        for name in ["config", "info/attributes"] {
            files.push((format!(".git/{name}").into_bytes(), dot_git.join(name)));
        }
        for e in fs::read_dir(dot_git.join("hooks"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name();
            if !name.as_bytes().ends_with(b".sample") {
                let mut rel = b".git/hooks/".to_vec();
                rel.extend_from_slice(name.as_bytes());
                files.push((rel, e.path()));
            }
        }
    }
    // Claude Code's project settings wire offload's hooks, and its `.mcp.json` starts programs:
    // watched, and judged by what they do to the guard (see `benign`).
    for rel in SETTINGS {
        files.push((rel.as_bytes().to_vec(), project.join(rel)));
    }
    if relisted > 0 || new.dirs.len() != old.dirs.len() {
        let _ = fsutil::create_private_dir(&store.root)
            .and_then(|()| fsutil::write_atomic(&cache_path, &new.encode()));
    }
    Ok(Walked {
        dirs: walked_dirs,
        files,
    })
}

/// A folder still to scan: its path, its path relative to the project, the ignore rules in
/// force there, and whether an ancestor's rules changed since the listings were saved.
type Pending = (
    PathBuf,
    Vec<u8>,
    Vec<std::rc::Rc<ignore::gitignore::Gitignore>>,
    bool,
);

/// One folder's listing as the last scan saw it: its subfolders and code files (after the
/// ignore rules and the code globs), and what it depended on.
#[derive(Clone, Debug, Default)]
struct Listing {
    mtime_ns: i128,
    /// When it was read.
    read_ns: i128,
    gitignore: Option<Sig>,
    dirs: Vec<Vec<u8>>,
    files: Vec<Vec<u8>>,
}

/// Every folder's listing, kept between scans so that a folder whose modification time did not
/// change is not read again (a directory read costs several times a `stat`).
#[derive(Default)]
struct Listings {
    exclude: Option<Sig>,
    dirs: HashMap<Vec<u8>, Listing>,
}

impl Listings {
    fn encode(&self) -> Vec<u8> {
        let mut out = b"offload-listings 1\n".to_vec();
        let sig = |out: &mut Vec<u8>, s: &Option<Sig>| match s {
            None => out.push(b'-'),
            Some(s) => {
                for n in [s.size as i128, s.mtime_ns, s.ctime_ns, s.ino as i128] {
                    push_num(out, n);
                    out.push(b',');
                }
            }
        };
        sig(&mut out, &self.exclude);
        out.push(b'\n');
        for (rel, l) in &self.dirs {
            out.extend_from_slice(b"D\t");
            out.extend_from_slice(&escape(rel));
            out.push(b'\t');
            push_num(&mut out, l.mtime_ns);
            out.push(b'\t');
            push_num(&mut out, l.read_ns);
            out.push(b'\t');
            sig(&mut out, &l.gitignore);
            out.push(b'\n');
            for d in &l.dirs {
                out.extend_from_slice(b"d\t");
                out.extend_from_slice(&escape(d));
                out.push(b'\n');
            }
            for f in &l.files {
                out.extend_from_slice(b"f\t");
                out.extend_from_slice(&escape(f));
                out.push(b'\n');
            }
        }
        out
    }

    /// The saved listings; empty when there are none or they cannot be read (then every folder
    /// is read, which is slower and never wrong).
    fn load(path: &Path) -> Listings {
        let parse = || -> Option<Listings> {
            let bytes = fsutil::read_regular(path, 256 << 20).ok()??;
            let mut lines = bytes.split(|&b| b == b'\n');
            if lines.next()? != b"offload-listings 1" {
                return None;
            }
            let sig = |b: &[u8]| -> Option<Option<Sig>> {
                if b == b"-" {
                    return Some(None);
                }
                let mut n = b
                    .split(|&c| c == b',')
                    .filter(|p| !p.is_empty())
                    .map(|p| std::str::from_utf8(p).ok()?.parse::<i128>().ok());
                Some(Some(Sig {
                    size: u64::try_from(n.next()??).ok()?,
                    mtime_ns: n.next()??,
                    ctime_ns: n.next()??,
                    ino: u64::try_from(n.next()??).ok()?,
                    mode: 0,
                }))
            };
            let mut out = Listings {
                exclude: sig(lines.next()?)?,
                dirs: HashMap::new(),
            };
            let mut cur: Option<(Vec<u8>, Listing)> = None;
            for line in lines {
                let mut f = line.split(|&b| b == b'\t');
                match f.next()? {
                    b"D" => {
                        if let Some((k, v)) = cur.take() {
                            out.dirs.insert(k, v);
                        }
                        let rel = unescape(f.next()?);
                        let num = |b: &[u8]| -> Option<i128> {
                            std::str::from_utf8(b).ok()?.parse().ok()
                        };
                        let l = Listing {
                            mtime_ns: num(f.next()?)?,
                            read_ns: num(f.next()?)?,
                            gitignore: sig(f.next()?)?,
                            dirs: Vec::new(),
                            files: Vec::new(),
                        };
                        cur = Some((rel, l));
                    }
                    b"d" => cur.as_mut()?.1.dirs.push(unescape(f.next()?)),
                    b"f" => cur.as_mut()?.1.files.push(unescape(f.next()?)),
                    b"" => {}
                    _ => return None,
                }
            }
            if let Some((k, v)) = cur {
                out.dirs.insert(k, v);
            }
            Some(out)
        };
        parse().unwrap_or_default()
    }
}

/// The rules of one ignore file (`.gitignore`, `.git/info/exclude`) for folder `dir`. Only a
/// regular file is read (a FIFO there must not hang the hook), and only up to 256 KiB: the
/// rules of a bigger one are not applied, so the walk covers more, never less.
pub(crate) fn ignore_rules(dir: &Path, file: &Path) -> Option<ignore::gitignore::Gitignore> {
    let text = fsutil::read_regular(file, 256 << 10).ok()??;
    if text.len() >= 256 << 10 {
        return None;
    }
    let mut b = ignore::gitignore::GitignoreBuilder::new(dir);
    for line in String::from_utf8_lossy(&text).lines() {
        let _ = b.add_line(Some(file.to_path_buf()), line);
    }
    b.build().ok()
}

/// The work tree root of the git repository holding `project`, and its git folder.
fn find_repo(project: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut dir = project.to_path_buf();
    for _ in 0..64 {
        let dot = dir.join(".git");
        if let Ok(meta) = fs::symlink_metadata(&dot) {
            if meta.is_dir() {
                return Some((dir, dot));
            }
            if meta.is_file() {
                let text = fsutil::read_regular_text(&dot, 4096)?;
                let gitdir = text.trim().strip_prefix("gitdir:")?.trim();
                let gitdir = dir.join(gitdir);
                return Some((dir, gitdir));
            }
        }
        if !dir.pop() {
            return None;
        }
    }
    None
}

/// A git index's stage-0 entries by path, and the index file's modification time.
type Index = (HashMap<Vec<u8>, IndexEntry>, i128);

/// A base's bytes, and where each of its file lines starts and ends.
type Lines = (Vec<u8>, Vec<(u32, u32)>);

/// One index entry: its stat data and object id.
struct IndexEntry {
    ctime: (u32, u32),
    mtime: (u32, u32),
    ino: u32,
    size: u32,
    oid: Oid,
}

/// The stage-0 entries of a git index (versions 2 to 4), by path relative to the work tree, and
/// the index file's own modification time (for git's "racily clean" rule). `None` when the
/// index cannot be read: then every file is copied, which is slower and never wrong.
fn read_index(gitdir: &Path) -> Option<(HashMap<Vec<u8>, IndexEntry>, i128)> {
    parse_index(&gitdir.join("index"), Some(gitdir))
}

/// Parse the index file at `path`; `gitdir` (for its config) tells SHA-256 repositories apart,
/// and without it the object id length is taken from the file's own checksum trailer.
fn parse_index(path: &Path, gitdir: Option<&Path>) -> Option<(HashMap<Vec<u8>, IndexEntry>, i128)> {
    let meta = fs::metadata(path).ok()?;
    let index_mtime = Sig::of(&meta).mtime_ns;
    let data = fsutil::read_regular(path, MAX_INDEX_BYTES).ok()??;
    let sha256 = match gitdir {
        Some(g) => fsutil::read_regular_text(&g.join("config"), 1 << 20)
            .is_some_and(|c| c.to_ascii_lowercase().contains("objectformat = sha256")),
        None => sha256_index(&data),
    };
    let oid_len = if sha256 { 32 } else { 20 };
    if data.len() < 12 || &data[..4] != b"DIRC" {
        return None;
    }
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let version = be32(&data, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(&data, 8)? as usize;
    let mut out = HashMap::with_capacity(count.min(1 << 20));
    let mut at = 12;
    let mut prev: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let fixed = 40 + oid_len + 2;
        let e = data.get(at..at + fixed)?;
        let flags = u16::from_be_bytes([e[40 + oid_len], e[41 + oid_len]]);
        at += fixed;
        if version >= 3 && flags & 0x4000 != 0 {
            at += 2;
        }
        let name: Vec<u8> = if version == 4 {
            // A varint: how many bytes of the previous name to drop.
            let mut strip: usize = 0;
            loop {
                let b = *data.get(at)?;
                at += 1;
                strip = (strip << 7) | (b & 0x7f) as usize;
                if b & 0x80 == 0 {
                    break;
                }
                strip += 1;
            }
            let end = at + data.get(at..)?.iter().position(|&b| b == 0)?;
            let keep = prev.len().checked_sub(strip)?;
            let mut n = prev[..keep].to_vec();
            n.extend_from_slice(&data[at..end]);
            at = end + 1;
            n
        } else {
            let end = at + data.get(at..)?.iter().position(|&b| b == 0)?;
            let n = data[at..end].to_vec();
            let len = end - start + 1;
            at = start + len.div_ceil(8) * 8;
            n
        };
        prev.clone_from(&name);
        let stage = (flags >> 12) & 3;
        if stage != 0 {
            continue;
        }
        let oid = Oid::of(&e[40..40 + oid_len]);
        out.insert(
            name,
            IndexEntry {
                ctime: (be32(e, 0)?, be32(e, 4)?),
                mtime: (be32(e, 8)?, be32(e, 12)?),
                ino: be32(e, 20)?,
                size: be32(e, 36)?,
                oid,
            },
        );
    }
    Some((out, index_mtime))
}

/// Whether an index was written by a SHA-256 repository: its first entry's fixed part is 40
/// bytes of stat data, a 32-byte id and 2 flag bytes, so its name starts 74 bytes in, after
/// which a SHA-1 reading would find the name 12 bytes early. Decided by which reading gives a
/// name length (the flags' low 12 bits) that ends in a NUL.
fn sha256_index(data: &[u8]) -> bool {
    let fits = |oid: usize| -> bool {
        let at = 12 + 40 + oid;
        let Some(f) = data.get(at..at + 2) else {
            return false;
        };
        let len = (u16::from_be_bytes([f[0], f[1]]) & 0x0fff) as usize;
        len < 0x0fff && data.get(at + 2 + len) == Some(&0)
    };
    !fits(20) && fits(32)
}

/// Lowercase hexadecimal, without the formatting machinery (10 000 object ids per snapshot).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Append a decimal number (the snapshot has six per file).
fn push_num(out: &mut Vec<u8>, n: i128) {
    if n < 0 {
        out.push(b'-');
    }
    let mut v = n.unsigned_abs();
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Whether git tracks `rel` (relative to `project`): its index has an entry for it.
pub fn tracked(project: &Path, rel: &str) -> bool {
    let Some((root, gitdir)) = find_repo(project) else {
        return false;
    };
    let Some((entries, _)) = read_index(&gitdir) else {
        return false;
    };
    let mut key: Vec<u8> = match project.strip_prefix(&root) {
        Ok(p) if !p.as_os_str().is_empty() => format!("{}/", p.display()).into_bytes(),
        _ => Vec::new(),
    };
    key.extend_from_slice(rel.as_bytes());
    entries.contains_key(&key)
}

/// Whether a file with `sig` is what the index entry says (git's own "clean" test, stricter:
/// a file modified in the same instant as the index was written counts as changed).
fn clean(sig: &Sig, e: &IndexEntry, index_mtime: i128) -> bool {
    let secs = |ns: i128| (ns.div_euclid(1_000_000_000)) as u32;
    let nsec = |ns: i128| (ns.rem_euclid(1_000_000_000)) as u32;
    let same = |ns: i128, (s, n): (u32, u32)| secs(ns) == s && (n == 0 || nsec(ns) == n);
    same(sig.mtime_ns, e.mtime)
        && same(sig.ctime_ns, e.ctime)
        && sig.size as u32 == e.size
        && sig.ino as u32 == e.ino
        && sig.mtime_ns < index_mtime
}

/// Take a snapshot of `project`'s code files. Fails (and the guard denies) when it cannot keep
/// every file's content: too many files, a file too big to copy, or the deadline passing.
pub fn take(
    project: &Path,
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<Snapshot, String> {
    let now = scan(project, scope, store, deadline)?;
    let mut keeper = Keeper::new(project, store);
    let mut files = HashMap::with_capacity(now.len());
    for (rel, sig) in now {
        let entry = keeper.entry(&rel, sig, deadline)?;
        files.insert(rel, entry);
    }
    Ok(keeper.snapshot(files))
}

/// A snapshot of `project` from an earlier one, `base`, and the files touched since it was
/// taken (what the [`super::watch`]er saw): only those are looked at. The result is what
/// [`take`] would give, for a small fraction of its cost.
pub fn take_touched(
    base: &Snapshot,
    touched: &[Vec<u8>],
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<Snapshot, String> {
    let mut keeper = Keeper::new(&base.project, store);
    let mut own = base.own.clone();
    for rel in touched {
        let was = base
            .get(rel)
            .ok_or("the last snapshot's base could not be read back")?;
        match now_code(&base.project, rel, scope, was.is_some()) {
            Some(sig) => {
                if was.as_ref().is_none_or(|e| e.sig != sig) {
                    let entry = keeper.entry(rel, sig, deadline)?;
                    own.insert(rel.clone(), Some(entry));
                }
            }
            None => {
                if was.is_some() {
                    own.insert(rel.clone(), None);
                }
            }
        }
    }
    if own.len() > MAX_FILES {
        return Err(format!("the project has more than {MAX_FILES} code files"));
    }
    Ok(Snapshot {
        project: base.project.clone(),
        repo: keeper.repo.map(|(root, _)| root),
        own,
        base: base.base.as_ref().map(|b| Base::at(b.path.clone())),
        watch: None,
    })
}

/// The state of `rel` if it is a code file of `project` now, as a walk would find it: a
/// regular file, not inside a `.git` folder (but git's configuration and hooks), of code by
/// the globs and not ignored. `known` (the file is in the snapshot) skips the last two tests:
/// a file the walk found is code.
fn now_code(project: &Path, rel: &[u8], scope: &Scope, known: bool) -> Option<Sig> {
    let meta = fs::symlink_metadata(project.join(bytes_path(rel))).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    if !known {
        // A name that is not UTF-8 is judged on its lossy form, as the walk judges it.
        let text = String::from_utf8_lossy(rel);
        let text = text.as_ref();
        let git_own = SETTINGS.contains(&text)
            || text == ".git/config"
            || text == ".git/info/attributes"
            || text
                .strip_prefix(".git/hooks/")
                .is_some_and(|h| !h.contains('/') && !h.ends_with(".sample"));
        if !git_own {
            if text
                .split('/')
                .any(|part| part == ".git" || part.is_empty())
            {
                return None;
            }
            if !scope.is_code_rel(text) || scope.ignored_rel(text) {
                return None;
            }
        }
    }
    Some(Sig::of(&meta))
}

/// Keeps the content of the files a snapshot records: git's index for the clean ones, the
/// shadow store for the others.
struct Keeper<'a> {
    project: &'a Path,
    store: &'a Store,
    repo: Option<(PathBuf, PathBuf)>,
    /// Read on first need.
    index: Option<Option<Index>>,
    prefix: Vec<u8>,
    copied: u64,
}

impl<'a> Keeper<'a> {
    fn new(project: &'a Path, store: &'a Store) -> Keeper<'a> {
        let repo = find_repo(project);
        let prefix: Vec<u8> = match &repo {
            Some((root, _)) => {
                use std::os::unix::ffi::OsStrExt;
                match project.strip_prefix(root) {
                    Ok(p) if p.as_os_str().is_empty() => Vec::new(),
                    Ok(p) => {
                        let mut v = p.as_os_str().as_bytes().to_vec();
                        v.push(b'/');
                        v
                    }
                    Err(_) => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        Keeper {
            project,
            store,
            repo,
            index: None,
            prefix,
            copied: 0,
        }
    }

    /// How file `rel`, now in state `sig`, is kept.
    fn entry(&mut self, rel: &[u8], sig: Sig, deadline: Instant) -> Result<Entry, String> {
        if self.index.is_none() {
            self.index = Some(self.repo.as_ref().and_then(|(_, g)| read_index(g)));
        }
        let in_index =
            self.index
                .as_ref()
                .and_then(|i| i.as_ref())
                .and_then(|(entries, index_mtime)| {
                    let mut key = self.prefix.clone();
                    key.extend_from_slice(rel);
                    entries
                        .get(&key)
                        .filter(|e| clean(&sig, e, *index_mtime))
                        .map(|e| e.oid)
                });
        if let Some(oid) = in_index {
            return Ok(Entry {
                sig,
                backup: Backup::Git(oid),
            });
        }
        if Instant::now() >= deadline {
            return Err(
                "copying the project's changed code files took longer than the guard's deadline"
                    .into(),
            );
        }
        let shadow = self.store.shadow();
        let key = sig.key();
        let dest = shadow.join(&key);
        if fs::symlink_metadata(&dest).is_ok() {
            // Reused: mark it recent, so pruning (copies unused for six hours) keeps it while
            // this snapshot may need it.
            let _ = fs::File::options()
                .write(true)
                .open(&dest)
                .and_then(|f| f.set_modified(SystemTime::now()));
        } else {
            if sig.size > MAX_FILE_BYTES {
                return Err(format!(
                    "{} is larger than {} MiB and not committed to git, so offload could not keep a copy",
                    String::from_utf8_lossy(rel),
                    MAX_FILE_BYTES >> 20
                ));
            }
            self.copied += sig.size;
            if self.copied > MAX_COPY_BYTES {
                return Err(format!(
                    "the project's uncommitted code files exceed {} MiB, more than offload copies for one command",
                    MAX_COPY_BYTES >> 20
                ));
            }
            let src = self.project.join(bytes_path(rel));
            copy_into_shadow(&src, &sig, &shadow, &key).map_err(|e| {
                format!(
                    "could not keep a copy of {}: {e}",
                    String::from_utf8_lossy(rel)
                )
            })?;
        }
        Ok(Entry {
            sig,
            backup: Backup::Shadow(key),
        })
    }

    fn snapshot(self, files: HashMap<Vec<u8>, Entry>) -> Snapshot {
        Snapshot {
            project: self.project.to_path_buf(),
            repo: self.repo.map(|(root, _)| root),
            own: files.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            base: None,
            watch: None,
        }
    }
}

pub(crate) fn bytes_path(rel: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(rel))
}

/// Copy `src` into the shadow store under `key`, and check it did not change meanwhile.
fn copy_into_shadow(src: &Path, sig: &Sig, shadow: &Path, key: &str) -> io::Result<()> {
    fsutil::create_private_dir(shadow)?;
    let bytes = fsutil::read_regular(src, MAX_FILE_BYTES + 1)?
        .ok_or_else(|| io::Error::other("not a regular file"))?;
    let after = fs::symlink_metadata(src).map(|m| Sig::of(&m))?;
    if after != *sig || bytes.len() as u64 != sig.size {
        return Err(io::Error::other("it changed while it was being copied"));
    }
    fsutil::write_atomic(&shadow.join(key), &bytes)
}

impl Snapshot {
    /// Save to `path` (see [`Snapshot::encode`]).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        fsutil::write_atomic(path, &self.encode())
    }

    /// A header line (`offload-snapshot 3`, the project, the repository, the watcher and its
    /// mark, the base), then one line per file of its own table, sorted: its path, state, and
    /// where its content is kept (`g:<object id>` in git, `s:<key>` in the shadow store), or
    /// `-` for a file gone since the base.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.own.len() * 96 + 256);
        out.extend_from_slice(b"offload-snapshot 3\t");
        out.extend_from_slice(&escape(self.project.as_os_str().as_encoded_bytes()));
        out.push(b'\t');
        if let Some(r) = &self.repo {
            out.extend_from_slice(&escape(r.as_os_str().as_encoded_bytes()));
        }
        out.push(b'\t');
        if let Some((id, mark)) = &self.watch {
            out.extend_from_slice(&escape(id.as_bytes()));
            out.push(b'\t');
            push_num(&mut out, *mark as i128);
        } else {
            out.push(b'\t');
        }
        out.push(b'\t');
        if let Some(b) = &self.base {
            out.extend_from_slice(&escape(b.path.as_os_str().as_encoded_bytes()));
        }
        out.push(b'\n');
        let mut lines: Vec<(Vec<u8>, &Option<Entry>)> =
            self.own.iter().map(|(k, v)| (escape(k), v)).collect();
        lines.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (rel, e) in lines {
            out.extend_from_slice(&rel);
            let Some(e) = e else {
                out.extend_from_slice(b"\t-\n");
                continue;
            };
            let s = e.sig;
            for n in [
                s.size as i128,
                s.mtime_ns,
                s.ctime_ns,
                s.ino as i128,
                s.mode as i128,
            ] {
                out.push(b'\t');
                push_num(&mut out, n);
            }
            match &e.backup {
                Backup::Git(oid) => {
                    out.extend_from_slice(b"\tg:");
                    out.extend_from_slice(oid.hex().as_bytes());
                }
                Backup::Shadow(k) => {
                    out.extend_from_slice(b"\ts:");
                    out.extend_from_slice(k.as_bytes());
                }
            }
            out.push(b'\n');
        }
        out
    }

    /// Read back what [`Snapshot::save`] wrote at `path` (its base is read when needed).
    pub fn load(path: &Path) -> Option<Snapshot> {
        let bytes = fsutil::read_regular(path, 1 << 30).ok()??;
        let mut lines = bytes.split(|&b| b == b'\n');
        let head = Header::parse(lines.next()?)?;
        let mut own = HashMap::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (rel, e) = parse_line(line)?;
            own.insert(rel, e);
        }
        Some(Snapshot {
            project: head.project,
            repo: head.repo,
            own,
            base: head.base.map(Base::at),
            watch: head.watch,
        })
    }

    /// The entry of `rel`: `Some(None)` when the snapshot has no such file, `None` when its
    /// base cannot be read.
    fn get(&self, rel: &[u8]) -> Option<Option<Entry>> {
        if let Some(e) = self.own.get(rel) {
            return Some(e.clone());
        }
        match &self.base {
            None => Some(None),
            Some(b) => b.get(rel),
        }
    }

    /// Every file of the snapshot (its base read whole); `None` when the base cannot be read.
    fn all(&self) -> Option<HashMap<Vec<u8>, Entry>> {
        let mut out = match &self.base {
            None => HashMap::with_capacity(self.own.len()),
            Some(b) => b.all()?,
        };
        for (k, v) in &self.own {
            match v {
                Some(e) => out.insert(k.clone(), e.clone()),
                None => out.remove(k),
            };
        }
        Some(out)
    }

    /// This snapshot as a base saved in `store` (written whole, once) and an empty own table.
    pub fn rebase(self, store: &Store) -> io::Result<Snapshot> {
        let all = self
            .all()
            .ok_or_else(|| io::Error::other("the snapshot's base could not be read"))?;
        let whole = Snapshot {
            project: self.project.clone(),
            repo: self.repo.clone(),
            own: all.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            base: None,
            watch: None,
        };
        fsutil::create_private_dir(&store.bases())?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = store
            .bases()
            .join(format!("{nanos:x}-{}.snap", std::process::id()));
        whole.save(&path)?;
        Ok(Snapshot {
            project: self.project,
            repo: self.repo,
            own: HashMap::new(),
            base: Some(Base::at(path)),
            watch: self.watch,
        })
    }

    /// Entries of its own (what differs from its base).
    pub fn own_len(&self) -> usize {
        self.own.len()
    }

    /// Remove what [`Snapshot::save`] wrote (never its base: others may use it).
    pub fn discard(path: &Path) {
        let _ = fs::remove_file(path);
    }

    /// How many files it holds (`0` when its base cannot be read).
    pub fn len(&self) -> usize {
        self.all().map_or(0, |a| a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long ago its base was written (`None` without a base or when it cannot be read).
    pub fn base_age(&self) -> Option<Duration> {
        let b = self.base.as_ref()?;
        fs::symlink_metadata(&b.path)
            .and_then(|m| m.modified())
            .ok()?
            .elapsed()
            .ok()
    }
}

/// A snapshot file's first line.
struct Header {
    project: PathBuf,
    repo: Option<PathBuf>,
    watch: Option<(String, u64)>,
    base: Option<PathBuf>,
}

impl Header {
    fn parse(line: &[u8]) -> Option<Header> {
        let mut h = line.split(|&b| b == b'\t');
        if h.next()? != b"offload-snapshot 3" {
            return None;
        }
        let project = bytes_path(&unescape(h.next()?));
        let repo = h
            .next()
            .filter(|r| !r.is_empty())
            .map(|r| bytes_path(&unescape(r)));
        let id = String::from_utf8(unescape(h.next()?)).ok()?;
        let mark = h.next()?;
        let watch = if id.is_empty() {
            None
        } else {
            Some((id, std::str::from_utf8(mark).ok()?.parse::<u64>().ok()?))
        };
        let base = h
            .next()
            .filter(|r| !r.is_empty())
            .map(|r| bytes_path(&unescape(r)));
        Some(Header {
            project,
            repo,
            watch,
            base,
        })
    }
}

/// One file's line of a snapshot: its path and entry (`None`: gone since the base).
fn parse_line(line: &[u8]) -> Option<(Vec<u8>, Option<Entry>)> {
    let num = |b: &[u8]| -> Option<i128> { std::str::from_utf8(b).ok()?.parse().ok() };
    let mut f = line.split(|&b| b == b'\t');
    let rel = unescape(f.next()?);
    let first = f.next()?;
    if first == b"-" {
        return Some((rel, None));
    }
    let sig = Sig {
        size: u64::try_from(num(first)?).ok()?,
        mtime_ns: num(f.next()?)?,
        ctime_ns: num(f.next()?)?,
        ino: u64::try_from(num(f.next()?)?).ok()?,
        mode: u32::try_from(num(f.next()?)?).ok()?,
    };
    let b = f.next()?;
    let backup = if let Some(hex) = b.strip_prefix(b"g:") {
        Backup::Git(Oid::from_hex(hex)?)
    } else {
        Backup::Shadow(std::str::from_utf8(b.strip_prefix(b"s:")?).ok()?.to_owned())
    };
    Some((rel, Some(Entry { sig, backup })))
}

/// A whole snapshot saved as a base, read on first need and searched without being parsed.
#[derive(Debug)]
struct Base {
    path: PathBuf,
    /// Its bytes and where each file's line starts and ends (sorted by path, as saved).
    data: std::cell::OnceCell<Option<Lines>>,
}

impl Base {
    fn at(path: PathBuf) -> Base {
        Base {
            path,
            data: std::cell::OnceCell::new(),
        }
    }

    fn data(&self) -> Option<&Lines> {
        self.data
            .get_or_init(|| {
                let bytes = fsutil::read_regular(&self.path, u32::MAX as u64).ok()??;
                let head_end = bytes.iter().position(|&b| b == b'\n')?;
                let head = Header::parse(&bytes[..head_end])?;
                if head.base.is_some() {
                    return None;
                }
                let mut lines = Vec::new();
                let mut at = head_end + 1;
                while at < bytes.len() {
                    let end = bytes[at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |p| at + p);
                    if end > at {
                        lines.push((at as u32, end as u32));
                    }
                    at = end + 1;
                }
                Some((bytes, lines))
            })
            .as_ref()
    }

    fn get(&self, rel: &[u8]) -> Option<Option<Entry>> {
        let (bytes, lines) = self.data()?;
        let key = escape(rel);
        let field = |&(a, b): &(u32, u32)| -> &[u8] {
            let line = &bytes[a as usize..b as usize];
            let tab = line.iter().position(|&c| c == b'\t').unwrap_or(line.len());
            &line[..tab]
        };
        match lines.binary_search_by(|l| field(l).cmp(&key[..])) {
            Ok(i) => {
                let (a, b) = lines[i];
                let (_, e) = parse_line(&bytes[a as usize..b as usize])?;
                Some(e)
            }
            Err(_) => Some(None),
        }
    }

    fn all(&self) -> Option<HashMap<Vec<u8>, Entry>> {
        let (bytes, lines) = self.data()?;
        let mut out = HashMap::with_capacity(lines.len());
        for &(a, b) in lines {
            let (rel, e) = parse_line(&bytes[a as usize..b as usize])?;
            out.insert(rel, e?);
        }
        Some(out)
    }
}

pub(crate) fn escape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut it = b.iter();
    while let Some(&c) = it.next() {
        if c == b'\\' {
            match it.next() {
                Some(b't') => out.push(b'\t'),
                Some(b'n') => out.push(b'\n'),
                Some(&o) => out.push(o),
                None => out.push(b'\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// How one code file changed between a snapshot and now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Created,
    Modified,
    Deleted,
}

/// One file the effect check found changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    pub rel: Vec<u8>,
    pub change: Change,
    /// The state seen by the check (`None` for a deleted file).
    now: Option<Sig>,
}

impl Changed {
    pub fn path(&self) -> String {
        String::from_utf8_lossy(&self.rel).into_owned()
    }
}

/// Compare `snap` with the project now: every code file created or changed (content, not only
/// times: a file rewritten with the same bytes is unchanged), and, when any was, the deleted ones.
pub fn check(
    snap: &Snapshot,
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<Vec<Changed>, String> {
    let now = scan(&snap.project, scope, store, deadline)?;
    let files = snap
        .all()
        .ok_or("the snapshot's base could not be read back")?;
    let mut out = Vec::new();
    for (rel, sig) in &now {
        if let Some(c) = compare(snap, files.get(rel), store, rel, sig) {
            out.push(c);
        }
    }
    {
        for rel in files.keys() {
            if !now.contains_key(rel) {
                out.push(Changed {
                    rel: rel.clone(),
                    change: Change::Deleted,
                    now: None,
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.retain(|c| !benign(snap, store, c));
    Ok(out)
}

/// Whether a change is git's own configuration rewritten into one that runs no program
/// (`git config core.autocrlf false`): git's configuration is watched because it can make git
/// run programs, not for its other settings.
fn benign_git_config(project: &Path, c: &Changed) -> bool {
    c.rel == b".git/config"
        && c.change != Change::Deleted
        && fsutil::read_regular_text(&project.join(".git/config"), 1 << 20)
            .is_some_and(|t| !crate::policy::bash::git_config_runs_programs(&t))
}

/// Whether a change is harmless to the guard although it touched a file watched for what it
/// does, not for being code: git's configuration rewritten to run no program, Claude Code's
/// settings changed in a way that leaves offload's wiring as it was (see
/// [`crate::settings::weakens`]), or the project's `.mcp.json` changed without adding or
/// changing a server (see [`crate::settings::mcp_servers_change`]).
fn benign(snap: &Snapshot, store: &Store, c: &Changed) -> bool {
    if benign_git_config(&snap.project, c) {
        return true;
    }
    if !SETTINGS.iter().any(|s| s.as_bytes() == c.rel.as_slice()) {
        return false;
    }
    let old = match snap.get(&c.rel).flatten() {
        Some(e) => match old_content(snap, store, &c.rel, &e.backup) {
            Ok(bytes) => Some(bytes),
            Err(_) => return false,
        },
        None => None,
    };
    let new = match c.change {
        Change::Deleted => None,
        _ => match fsutil::read_regular(&snap.project.join(bytes_path(&c.rel)), 4 << 20) {
            Ok(Some(bytes)) => Some(bytes),
            _ => return false,
        },
    };
    if c.rel == MCP_JSON.as_bytes() {
        return crate::settings::mcp_servers_change_text(old.as_deref(), new.as_deref(), false)
            .is_none();
    }
    crate::settings::weakens_text(old.as_deref(), new.as_deref()).is_none()
}

/// [`check`] for the files touched since `snap` was taken (what the [`super::watch`]er saw):
/// only those are looked at.
pub fn check_touched(
    snap: &Snapshot,
    touched: &[Vec<u8>],
    scope: &Scope,
    store: &Store,
    deadline: Instant,
) -> Result<Vec<Changed>, String> {
    let mut out = Vec::new();
    for (i, rel) in touched.iter().enumerate() {
        if i % 256 == 255 && Instant::now() >= deadline {
            return Err("checking the touched files took longer than the guard's deadline".into());
        }
        let was = snap
            .get(rel)
            .ok_or("the snapshot's base could not be read back")?;
        let known = was.is_some();
        match now_code(&snap.project, rel, scope, known) {
            Some(sig) => {
                if let Some(c) = compare(snap, was.as_ref(), store, rel, &sig) {
                    out.push(c);
                }
            }
            None if known => out.push(Changed {
                rel: rel.clone(),
                change: Change::Deleted,
                now: None,
            }),
            None => {}
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.dedup_by(|a, b| a.rel == b.rel);
    out.retain(|c| !benign(snap, store, c));
    Ok(out)
}

/// How code file `rel`, now in state `sig`, differs from the snapshot, if it does.
fn compare(
    snap: &Snapshot,
    was: Option<&Entry>,
    store: &Store,
    rel: &[u8],
    sig: &Sig,
) -> Option<Changed> {
    {
        match was {
            None => Some(Changed {
                rel: rel.to_vec(),
                change: Change::Created,
                now: Some(*sig),
            }),
            Some(e) if !e.same(sig) => {
                let same = old_content(snap, store, rel, &e.backup)
                    .ok()
                    .is_some_and(|old| {
                        fsutil::read_regular(
                            &snap.project.join(bytes_path(rel)),
                            MAX_FILE_BYTES + 1,
                        )
                        .ok()
                        .flatten()
                        .is_some_and(|cur| cur == old)
                    });
                (!same).then(|| Changed {
                    rel: rel.to_vec(),
                    change: Change::Modified,
                    now: Some(*sig),
                })
            }
            Some(_) => None,
        }
    }
}

/// The content a file had when the snapshot was taken.
fn old_content(snap: &Snapshot, store: &Store, rel: &[u8], backup: &Backup) -> io::Result<Vec<u8>> {
    match backup {
        Backup::Shadow(key) => fsutil::read_regular(&store.shadow().join(key), MAX_FILE_BYTES + 1)?
            .ok_or_else(|| io::Error::other("the kept copy is not a regular file")),
        Backup::Git(oid) => {
            let repo = snap
                .repo
                .as_deref()
                .ok_or_else(|| io::Error::other("no repository"))?;
            git_blob(repo, &oid.hex()).map_err(|e| {
                io::Error::other(format!("{} from git: {e}", String::from_utf8_lossy(rel)))
            })
        }
    }
}

/// `git cat-file blob OID`, bounded in time and size.
fn git_blob(repo: &Path, oid: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    if !oid.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(io::Error::other("bad object id"));
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "blob", oid])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let pid = child.id();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = (&mut stdout).take(MAX_FILE_BYTES + 1).read_to_end(&mut out);
        r.map(|_| out)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait()? {
            let out = reader
                .join()
                .map_err(|_| io::Error::other("reader failed"))??;
            return if status.success() {
                Ok(out)
            } else {
                Err(io::Error::other(format!("git cat-file failed ({status})")))
            };
        }
        if Instant::now() >= deadline {
            crate::process::kill_group(pid, libc::SIGKILL);
            let _ = child.wait();
            return Err(io::Error::other("git cat-file did not answer within 5 s"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One file of an undo record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UndoneFile {
    /// Relative to the project.
    pub path: String,
    pub change: Change,
    /// The file in the record holding what the command wrote (created and modified files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// Whether the project now holds the snapshot's state again.
    pub undone: bool,
    /// Why it was not, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// An undo record: `undone/<id>/manifest.json` and the kept files beside it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UndoRecord {
    pub id: String,
    pub ts: String,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub what: String,
    pub files: Vec<UndoneFile>,
}

/// Put the changed files back as the snapshot had them, keeping what the command wrote in a new
/// undo record. Each file is compared again right before it is written: one that changed since
/// the check is left alone (reported), so a concurrent writer's newer change is never clobbered.
pub fn undo(
    snap: &Snapshot,
    changes: &[Changed],
    store: &Store,
    session: Option<&str>,
    what: &str,
) -> io::Result<UndoRecord> {
    let id = new_id();
    let dir = store.undone_dir().join(&id);
    let kept_dir = dir.join("files");
    fsutil::create_private_dir(&kept_dir)?;
    let mut files = Vec::new();
    for (n, c) in changes.iter().enumerate() {
        let path = snap.project.join(bytes_path(&c.rel));
        let mut f = UndoneFile {
            path: c.path(),
            change: c.change,
            kept: None,
            undone: false,
            problem: None,
        };
        let result = (|| -> io::Result<()> {
            // Keep what the command wrote first: whatever happens next, it is not lost.
            if let Some(now) = c.now {
                let bytes = fsutil::read_regular(&path, MAX_FILE_BYTES + 1)?
                    .ok_or_else(|| io::Error::other("no longer a regular file"))?;
                let name = format!("{n}");
                fsutil::write_atomic(&kept_dir.join(&name), &bytes)?;
                f.kept = Some(name);
                let still = fs::symlink_metadata(&path).map(|m| Sig::of(&m)).ok();
                if still != Some(now) {
                    return Err(io::Error::other(
                        "it changed again after the check; left as it is",
                    ));
                }
            }
            match c.change {
                Change::Created => fs::remove_file(&path),
                Change::Modified | Change::Deleted => {
                    let entry = snap
                        .get(&c.rel)
                        .flatten()
                        .ok_or_else(|| io::Error::other("not in the snapshot"))?;
                    if c.change == Change::Deleted && path.symlink_metadata().is_ok() {
                        return Err(io::Error::other("it exists again; left as it is"));
                    }
                    let old = old_content(snap, store, &c.rel, &entry.backup)?;
                    write_like(&path, &old, entry.sig.mode)
                }
            }
        })();
        match result {
            Ok(()) => f.undone = true,
            Err(e) => f.problem = Some(e.to_string()),
        }
        files.push(f);
    }
    let record = UndoRecord {
        id,
        ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        project: snap.project.display().to_string(),
        session: session.map(str::to_owned),
        what: what.chars().take(2000).collect(),
        files,
    };
    let json = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
    fsutil::write_atomic(&dir.join("manifest.json"), &json)?;
    Ok(record)
}

/// Write `bytes` to `path` atomically with permission bits `mode`.
fn write_like(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.offload-undo.{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o7777)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn new_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let t = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    format!(
        "{t}-{:04x}",
        (now.subsec_nanos() ^ std::process::id()) & 0xffff
    )
}

/// Every undo record, newest first (unreadable ones are skipped).
pub fn records(store: &Store) -> Vec<UndoRecord> {
    let mut out: Vec<UndoRecord> = fs::read_dir(store.undone_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let text = fsutil::read_regular_text(&e.path().join("manifest.json"), 16 << 20)?;
            serde_json::from_str(&text).ok()
        })
        .collect();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

/// Put back what the command of record `id` wrote (`offload restore`). The current content of
/// each file is first kept in a new record, so a restore can itself be undone.
pub fn restore(store: &Store, id: &str) -> io::Result<(UndoRecord, Vec<String>)> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(io::Error::other(format!("no undo record named {id:?}")));
    }
    let dir = store.undone_dir().join(id);
    let text =
        fsutil::read_regular_text(&dir.join("manifest.json"), 16 << 20).ok_or_else(|| {
            io::Error::other(format!(
                "no undo record named {id:?} in {}",
                store.undone_dir().display()
            ))
        })?;
    let record: UndoRecord = serde_json::from_str(&text).map_err(io::Error::other)?;
    let project = PathBuf::from(&record.project);
    // Keep the current state of every file first.
    let backup_id = new_id();
    let backup_dir = store.undone_dir().join(&backup_id);
    fsutil::create_private_dir(&backup_dir.join("files"))?;
    let mut backup = UndoRecord {
        id: backup_id,
        ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        project: record.project.clone(),
        session: record.session.clone(),
        what: format!("the state before `offload restore {id}`"),
        files: Vec::new(),
    };
    let mut done = Vec::new();
    for (n, f) in record.files.iter().enumerate() {
        let path = project.join(&f.path);
        let current = fsutil::read_regular(&path, MAX_FILE_BYTES + 1)
            .ok()
            .flatten();
        let kept = match &current {
            Some(bytes) => {
                let name = format!("{n}");
                fsutil::write_atomic(&backup_dir.join("files").join(&name), bytes)?;
                Some(name)
            }
            None => None,
        };
        backup.files.push(UndoneFile {
            path: f.path.clone(),
            change: if current.is_some() {
                Change::Modified
            } else {
                Change::Deleted
            },
            kept,
            undone: true,
            problem: None,
        });
        match (&f.kept, f.change) {
            (Some(k), Change::Created | Change::Modified) => {
                let bytes =
                    fsutil::read_regular(&dir.join("files").join(k), MAX_FILE_BYTES + 1)?
                        .ok_or_else(|| io::Error::other("the kept file is not a regular file"))?;
                let mode = fs::symlink_metadata(&path)
                    .map(|m| m.mode())
                    .unwrap_or(0o644);
                write_like(&path, &bytes, mode)?;
                done.push(f.path.clone());
            }
            (_, Change::Deleted) if current.is_some() => {
                fs::remove_file(&path)?;
                done.push(f.path.clone());
            }
            _ => {}
        }
    }
    let json = serde_json::to_vec_pretty(&backup).map_err(io::Error::other)?;
    fsutil::write_atomic(&backup_dir.join("manifest.json"), &json)?;
    Ok((backup, done))
}

/// Remove pending snapshots older than a day (their PostToolUse never came) and shadow copies no
/// snapshot has used for six hours (snapshots are based on a walk at most an hour old, see
/// the hook). Best effort.
pub fn prune(store: &Store) {
    let now = SystemTime::now();
    let older = |p: &Path, age: Duration| {
        fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|d| d > age)
    };
    for (dir, age) in [
        (store.pending_dir(), Duration::from_secs(86_400)),
        (store.bases(), Duration::from_secs(86_400)),
        (store.shadow(), Duration::from_secs(6 * 3600)),
    ] {
        for e in fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .take(10_000)
        {
            if older(&e.path(), age) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GuardConfig;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    struct Fx {
        _t: tempfile::TempDir,
        project: PathBuf,
        store: Store,
        scope: Scope,
    }

    fn fixture(with_git: bool) -> Fx {
        let t = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(t.path()).unwrap();
        let project = root.join("p");
        fs::create_dir_all(project.join("src")).unwrap();
        fs::create_dir_all(project.join("target/debug")).unwrap();
        fs::write(project.join(".gitignore"), "target/\n").unwrap();
        fs::write(project.join("src/lib.rs"), "pub fn a() {}\n").unwrap();
        fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
        fs::write(project.join("README.md"), "# r\n").unwrap();
        fs::write(project.join("target/debug/gen.rs"), "ignored\n").unwrap();
        if with_git {
            git(&project, &["init", "-q"]);
            git(&project, &["add", "-A"]);
            git(&project, &["commit", "-qm", "init"]);
        }
        // An uncommitted change and an untracked file.
        fs::write(
            project.join("src/main.rs"),
            "fn main() { println!(\"wip\"); }\n",
        )
        .unwrap();
        fs::write(project.join("src/new.rs"), "// mine\n").unwrap();
        let store = Store::new(&root.join("state"));
        let scope = Scope::new(&project, &GuardConfig::default(), &[]);
        Fx {
            _t: t,
            project,
            store,
            scope,
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn a_write_is_found_undone_and_restorable() {
        for with_git in [true, false] {
            let f = fixture(with_git);
            let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
            let expected = if with_git { 4 } else { 3 };
            assert_eq!(
                snap.len(),
                expected,
                "three code files and .git/config, the ignored one left out"
            );
            if with_git {
                assert!(
                    snap.all()
                        .unwrap()
                        .values()
                        .any(|e| matches!(e.backup, Backup::Git(_))),
                    "a clean committed file is backed by git"
                );
            }
            let saved = f.store.pending(Some("s"), Some("t"));
            fsutil::create_private_dir(&f.store.pending_dir()).unwrap();
            snap.save(&saved).unwrap();
            let round = Snapshot::load(&saved).unwrap();
            let (a, b) = (snap.all().unwrap(), round.all().unwrap());
            assert_eq!(a, b);
            for (k, e) in &a {
                assert!(b[k].same(&e.sig), "{}", String::from_utf8_lossy(k));
            }
            // The command: modify two files, create one, touch the README, write under target/.
            fs::write(f.project.join("src/lib.rs"), "pub fn a() { evil() }\n").unwrap();
            fs::write(f.project.join("src/main.rs"), "fn main() { evil() }\n").unwrap();
            fs::write(f.project.join("src/gen.rs"), "fn gen() {}\n").unwrap();
            fs::write(f.project.join("README.md"), "# changed\n").unwrap();
            fs::write(f.project.join("target/debug/x.rs"), "x\n").unwrap();
            let changes = check(&round, &f.scope, &f.store, later()).unwrap();
            let names: Vec<(String, Change)> =
                changes.iter().map(|c| (c.path(), c.change)).collect();
            assert_eq!(
                names,
                [
                    ("src/gen.rs".to_string(), Change::Created),
                    ("src/lib.rs".to_string(), Change::Modified),
                    ("src/main.rs".to_string(), Change::Modified),
                ]
            );
            let rec = undo(&round, &changes, &f.store, Some("s1"), "python3 -").unwrap();
            assert!(rec.files.iter().all(|x| x.undone), "{rec:?}");
            assert_eq!(
                fs::read_to_string(f.project.join("src/lib.rs")).unwrap(),
                "pub fn a() {}\n"
            );
            assert_eq!(
                fs::read_to_string(f.project.join("src/main.rs")).unwrap(),
                "fn main() { println!(\"wip\"); }\n",
                "the user's uncommitted work comes back, not the committed version"
            );
            assert!(!f.project.join("src/gen.rs").exists());
            assert_eq!(
                fs::read_to_string(f.project.join("src/new.rs")).unwrap(),
                "// mine\n"
            );
            assert_eq!(
                fs::read_to_string(f.project.join("README.md")).unwrap(),
                "# changed\n"
            );
            // Nothing is lost: one command puts the command's writes back.
            let (_, done) = restore(&f.store, &rec.id).unwrap();
            assert_eq!(done.len(), 3);
            assert_eq!(
                fs::read_to_string(f.project.join("src/gen.rs")).unwrap(),
                "fn gen() {}\n"
            );
            assert_eq!(
                fs::read_to_string(f.project.join("src/lib.rs")).unwrap(),
                "pub fn a() { evil() }\n"
            );
            assert_eq!(
                records(&f.store).len(),
                2,
                "the restore kept a record of what it replaced"
            );
        }
    }

    #[test]
    fn saved_listings_never_hide_a_change() {
        let f = fixture(true);
        std::thread::sleep(Duration::from_millis(150));
        // The first scan saves the listings; later scans trust those of unchanged folders.
        let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
        assert!(take(&f.project, &f.scope, &f.store, later()).is_ok());
        std::fs::create_dir_all(f.project.join("src/deep")).unwrap();
        fs::write(f.project.join("src/deep/x.rs"), "x\n").unwrap();
        fs::write(f.project.join("src/late.rs"), "y\n").unwrap();
        let names = |c: Vec<Changed>| -> Vec<String> { c.iter().map(|c| c.path()).collect() };
        assert_eq!(
            names(check(&snap, &f.scope, &f.store, later()).unwrap()),
            ["src/deep/x.rs", "src/late.rs"]
        );
        // An edited `.gitignore` changes what is walked, though no folder's time changed.
        std::thread::sleep(Duration::from_millis(150));
        let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
        fs::write(f.project.join(".gitignore"), "# nothing ignored\n").unwrap();
        assert_eq!(
            names(check(&snap, &f.scope, &f.store, later()).unwrap()),
            ["target/debug/gen.rs"]
        );
    }

    #[test]
    fn pruning_keeps_copies_a_snapshot_still_uses() {
        let f = fixture(true);
        take(&f.project, &f.scope, &f.store, later()).unwrap();
        let copies: Vec<PathBuf> = fs::read_dir(f.store.shadow())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(
            copies.len(),
            3,
            "the modified file, the untracked one and .git/config are copied"
        );
        let old = SystemTime::now() - Duration::from_secs(7200);
        for c in &copies {
            fs::File::options()
                .write(true)
                .open(c)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // A new snapshot reuses them (nothing changed), which marks them recent.
        let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
        prune(&f.store);
        assert!(
            copies.iter().all(|c| c.exists()),
            "reused copies survive pruning"
        );
        fs::write(f.project.join("src/new.rs"), "changed\n").unwrap();
        let changes = check(&snap, &f.scope, &f.store, later()).unwrap();
        let rec = undo(&snap, &changes, &f.store, None, "x").unwrap();
        assert!(rec.files.iter().all(|x| x.undone), "{rec:?}");
        assert_eq!(
            fs::read_to_string(f.project.join("src/new.rs")).unwrap(),
            "// mine\n"
        );
    }

    #[test]
    fn same_bytes_and_untouched_files_are_not_changes() {
        let f = fixture(true);
        let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let same = fs::read(f.project.join("src/lib.rs")).unwrap();
        fs::write(f.project.join("src/lib.rs"), same).unwrap();
        assert!(
            check(&snap, &f.scope, &f.store, later())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_file_changed_again_after_the_check_is_left_alone() {
        let f = fixture(true);
        let snap = take(&f.project, &f.scope, &f.store, later()).unwrap();
        fs::write(f.project.join("src/lib.rs"), "command\n").unwrap();
        let changes = check(&snap, &f.scope, &f.store, later()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        fs::write(f.project.join("src/lib.rs"), "the user's newer edit\n").unwrap();
        let rec = undo(&snap, &changes, &f.store, None, "x").unwrap();
        assert!(!rec.files[0].undone);
        assert_eq!(
            fs::read_to_string(f.project.join("src/lib.rs")).unwrap(),
            "the user's newer edit\n"
        );
    }

    #[test]
    fn a_based_snapshot_answers_like_a_whole_one() {
        let f = fixture(true);
        let whole = take(&f.project, &f.scope, &f.store, later()).unwrap();
        let mut based = take(&f.project, &f.scope, &f.store, later())
            .unwrap()
            .rebase(&f.store)
            .unwrap();
        based.watch = Some(("1:2".into(), 7));
        assert_eq!(based.own_len(), 0);
        let saved = f.store.pending(Some("s"), Some("b"));
        fsutil::create_private_dir(&f.store.pending_dir()).unwrap();
        based.save(&saved).unwrap();
        let based = Snapshot::load(&saved).unwrap();
        assert_eq!(based.watch, Some(("1:2".to_string(), 7)));
        assert_eq!(based.all().unwrap(), whole.all().unwrap());
        for (k, e) in whole.all().unwrap() {
            assert_eq!(
                based.get(&k),
                Some(Some(e)),
                "{}",
                String::from_utf8_lossy(&k)
            );
        }
        assert_eq!(based.get(b"src/none.rs"), Some(None));
        // The command: modify, create, delete, and touch files that are not code.
        fs::write(f.project.join("src/lib.rs"), "pub fn a() { evil() }\n").unwrap();
        fs::write(f.project.join("src/gen.rs"), "fn gen() {}\n").unwrap();
        fs::remove_file(f.project.join("src/new.rs")).unwrap();
        fs::write(f.project.join("README.md"), "# changed\n").unwrap();
        fs::write(f.project.join("target/debug/x.rs"), "x\n").unwrap();
        let touched: Vec<Vec<u8>> = [
            "src/lib.rs",
            "src/gen.rs",
            "src/new.rs",
            "README.md",
            "target/debug/x.rs",
            "src/main.rs",
            "src/never.rs",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        let by_walk = check(&whole, &f.scope, &f.store, later()).unwrap();
        let by_watch = check_touched(&based, &touched, &f.scope, &f.store, later()).unwrap();
        assert_eq!(by_walk, by_watch);
        assert_eq!(by_walk.len(), 3, "{by_walk:?}");
        // The next snapshot starts from this one and the touched files: what a walk gives.
        let next = take_touched(&based, &touched, &f.scope, &f.store, later()).unwrap();
        let walked = take(&f.project, &f.scope, &f.store, later()).unwrap();
        assert_eq!(next.all().unwrap(), walked.all().unwrap());
        assert!(next.own_len() >= 3);
        // A base that cannot be read is an error, never "nothing changed".
        let bases: Vec<_> = fs::read_dir(f.store.bases()).unwrap().flatten().collect();
        for b in bases {
            fs::write(b.path(), "garbage").unwrap();
        }
        let broken = Snapshot::load(&saved).unwrap();
        assert!(check_touched(&broken, &touched, &f.scope, &f.store, later()).is_err());
        assert!(check(&broken, &f.scope, &f.store, later()).is_err());
    }

    #[test]
    fn index_versions_parse() {
        for version in ["2", "3", "4"] {
            let f = fixture(true);
            git(&f.project, &["update-index", "--index-version", version]);
            git(&f.project, &["add", "src/new.rs"]);
            let (_, gitdir) = find_repo(&f.project).unwrap();
            let (entries, _) = read_index(&gitdir).unwrap();
            let mut names: Vec<String> = entries
                .keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    ".gitignore",
                    "README.md",
                    "src/lib.rs",
                    "src/main.rs",
                    "src/new.rs"
                ],
                "v{version}"
            );
        }
    }
}
