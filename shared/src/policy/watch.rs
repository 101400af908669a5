//! The watcher: what lets the effect check look at a few files instead of every one.
//!
//! A snapshot of a 10 000-file project costs a `stat` per code file, twice per watched command
//! (before and after), and on a virtual machine a `stat` costs microseconds: tens of
//! milliseconds per command. The watcher makes both sides cost what changed instead.
//!
//! ## How it works
//!
//! `offload-hook --watch <project> <config> <state>` is a small background process, one per
//! project (and config), started by the first watched command that finds none. It walks the
//! project the way the snapshot does, and asks the kernel (inotify) to report every change to
//! each folder (files created, deleted, renamed, written, their attributes) and to each code
//! file itself (so a write through a hard link from outside the project is seen too). It
//! numbers time in *marks*: each question it answers gets the next mark, and every change it
//! reads from the kernel is stamped with the current one. Its one question is "what was touched
//! since mark N?", answered over a Unix socket after reading everything the kernel has queued:
//! the kernel queues a change before the system call that made it returns, so a command that
//! has finished has nothing left unreported.
//!
//! - PreToolUse keeps the project's last snapshot (the *baseline*, with the watcher's id and
//!   mark). It asks what was touched since that mark, looks at those files only, and saves the
//!   result as the new baseline and as this command's snapshot, with the new mark.
//! - PostToolUse asks what was touched since the command's mark and compares those files only.
//!
//! Whenever the watcher cannot answer for sure, the hook walks the whole project as before:
//! no watcher, a different watcher than the one that gave the mark (it was restarted, or
//! killed and replaced: the id is the process id and its start time, read from `/proc`, not
//! taken from the answer), or a watcher that stopped because it lost track. It stops itself on
//! anything it cannot follow for certain: the kernel's queue overflowing, a watched folder
//! renamed or moved away, a `.gitignore` or `.git/info/exclude` changing, a watch it cannot
//! add (the user's inotify limits), the project itself moved or deleted. It also stops after 15
//! idle minutes (inotify instances are few: 128 per user by default), or when its lock file
//! goes.
//!
//! ## Trust
//!
//! The watcher makes itself undebuggable by the user's other processes (`PR_SET_DUMPABLE` 0): no
//! attaching a debugger, reading its memory or taking its inotify descriptor (with which a
//! program could read, and so hide, its own changes before the watcher does). It refuses to run
//! with `LD_*` variables in its environment, and the hook starts it with an environment it sets
//! itself. The hook talks only to the process run by the same user (the socket's peer
//! credentials) that the watcher's pid file names (process id and start time), and, where that
//! process can be inspected (an impostor that did not hide itself), only if it is the hook's own
//! program without a preloaded library. Its watches are its own: a watch that ends without its
//! file or folder being deleted (removed by someone else) makes it stop. What remains is the
//! power to rewrite offload's state folder and run an impostor in its place, or to run the
//! watcher with a library injected at start: the same as rewriting offload's state or replacing
//! the hook's binary, which the effect check does not claim to stop.
//!
//! ## What it cannot see, beyond the snapshot's own limits
//!
//! - Filesystems whose changes inotify does not report (network and FUSE filesystems changed
//!   from another machine), and mounts made over the project (which needs root).
//! - A code file opened before the command by a process still running (the background-process
//!   gap of the effect check): a file opened during the command is looked at after it, whatever
//!   it was opened for, so a write through a memory mapping made then is seen.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::policy::effect::{self, Store, bytes_path, escape, unescape};
use crate::policy::scope::Scope;

/// A watcher with no question for this long stops.
const IDLE: Duration = Duration::from_secs(15 * 60);
/// Distinct paths a watcher remembers as touched before it gives up (and stops).
const MAX_TOUCHED: usize = 500_000;
/// The first line of every answer.
const HEADER: &str = "offload-watch 1";

/// What a watcher answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The watcher's identity: its process id and start time, from `/proc`.
    pub id: String,
    /// The mark this answer gave.
    pub mark: u64,
    /// The paths (relative to the project) touched since the mark asked about; `None` when the
    /// watcher cannot say (no mark was asked about, or it is not one of its own).
    pub touched: Option<Vec<Vec<u8>>>,
}

/// The key of one project's watcher: the state folder, the project and the code globs.
pub fn key(store: &Store, project: &Path, scope: &Scope) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    store.root.hash(&mut h);
    project.hash(&mut h);
    scope.globs_key().hash(&mut h);
    format!("{:016x}", h.finish())
}

fn address(key: &str) -> io::Result<SocketAddr> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    SocketAddr::from_abstract_name(format!("offload-watch/{uid}/{key}").as_bytes())
}

fn lock_path(store: &Store, key: &str) -> PathBuf {
    store.root.join(format!("watch-{key}.lock"))
}

/// The file a running watcher writes its process id to once it answers questions (for
/// `offload doctor` and tests); removed when it stops.
pub fn ready_path(store: &Store, key: &str) -> PathBuf {
    store.root.join(format!("watch-{key}.pid"))
}

/// Ask the watcher of `key` (see [`key`]) what was touched since `since` (or only for a mark).
/// `None` when there is no watcher, it is not genuine, or it does not answer before `deadline`.
pub fn ask(store: &Store, key: &str, since: Option<u64>, deadline: Instant) -> Option<Answer> {
    let addr = address(key).ok()?;
    let mut s = UnixStream::connect_addr(&addr).ok()?;
    let (pid, uid) = peer(&s)?;
    // SAFETY: getuid cannot fail.
    if uid != unsafe { libc::getuid() } {
        return None;
    }
    let id = genuine(store, key, pid)?;
    let left = deadline.checked_duration_since(Instant::now())?;
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .ok()?;
    s.set_write_timeout(Some(left.max(Duration::from_millis(1))))
        .ok()?;
    let q = match since {
        Some(n) => format!("since {n}\n"),
        None => "mark\n".to_string(),
    };
    s.write_all(q.as_bytes()).ok()?;
    let mut reply = Vec::new();
    s.take(256 << 20).read_to_end(&mut reply).ok()?;
    let mut lines = reply.split(|&b| b == b'\n');
    let mut head = lines.next()?.split(|&b| b == b'\t');
    if head.next()? != HEADER.as_bytes() {
        return None;
    }
    let mark: u64 = std::str::from_utf8(head.next()?).ok()?.parse().ok()?;
    let known = head.next()? == b"known";
    let mut touched = Vec::new();
    let mut complete = false;
    for line in lines {
        if line == b"." {
            complete = true;
            break;
        }
        touched.push(unescape(line));
    }
    if !complete {
        return None;
    }
    Some(Answer {
        id,
        mark,
        touched: known.then_some(touched),
    })
}

/// The peer of a Unix socket: process id and user id.
fn peer(s: &UnixStream) -> Option<(i32, u32)> {
    crate::process::socket_peer(s.as_raw_fd())
}

/// The id of process `pid` if it is the project's watcher: the process its pid file names (the
/// watcher writes it once it answers), and, where the process can be inspected, this very
/// program without a preloaded library. (The watcher makes itself impossible to inspect or
/// debug by the user's other processes: no reading its memory or taking its descriptors.)
fn genuine(store: &Store, key: &str, pid: i32) -> Option<String> {
    let id = format!("{pid}:{}", crate::process::start_time(pid as u32)?);
    let named = crate::fsutil::read_regular_text(&ready_path(store, key), 256)?;
    if named.trim() != id {
        return None;
    }
    let exe = match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) => exe,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Some(id),
        Err(_) => return None,
    };
    let own = std::fs::read_link("/proc/self/exe").ok()?;
    if exe != own {
        return None;
    }
    // A process's environ reads as a regular file of size 0, to its end.
    let environ = crate::fsutil::read_regular(Path::new(&format!("/proc/{pid}/environ")), 1 << 20)
        .ok()
        .flatten()?;
    if environ.split(|&b| b == 0).any(|v| {
        v.starts_with(b"LD_PRELOAD=")
            || v.starts_with(b"LD_AUDIT=")
            || v.starts_with(b"LD_LIBRARY_PATH=")
    }) {
        return None;
    }
    Some(id)
}

/// Start the project's watcher in the background (it does nothing if one is running). The hook
/// does not wait for it: the first commands after are checked by walking the project.
pub fn spawn(project: &Path, config_file: &Path, state_dir: &Path, key: &str) {
    // A watcher that could not start here (the user's inotify limits) is not tried again for an
    // hour: each try walks the whole project.
    let failed = Store::new(state_dir)
        .root
        .join(format!("watch-{key}.failed"));
    if std::fs::symlink_metadata(&failed)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age < Duration::from_secs(3600))
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--watch")
        .arg(project)
        .arg(config_file)
        .arg(state_dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it detaches the watcher from the hook's session, so
    // Claude Code ending the hook's process group does not end it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let _ = cmd.spawn();
}

/// Why a watcher stopped.
#[derive(Debug)]
enum Stop {
    Lost(&'static str),
}

/// One project's watch: inotify watch descriptors and what they stand for.
struct Watcher<'a> {
    fd: OwnedFd,
    project: &'a Path,
    scope: &'a Scope,
    /// Folder watches: descriptor → folder path relative to the project.
    dirs: HashMap<i32, Vec<u8>>,
    /// The folders watched, by relative path.
    dir_paths: std::collections::HashSet<Vec<u8>>,
    /// File watches: descriptor → the code files (relative paths) that are this inode.
    files: HashMap<i32, Vec<Vec<u8>>>,
    /// The same, by path.
    file_wd: HashMap<Vec<u8>, i32>,
    /// Touched path → the mark current when the change was read.
    touched: HashMap<Vec<u8>, u64>,
    cur: u64,
    root_wd: i32,
    /// Watches whose folder or file was deleted: their end is expected. A watch that ends
    /// otherwise was removed by someone else, and the watcher no longer sees everything.
    dying: std::collections::HashSet<i32>,
}

const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR
    | libc::IN_DONT_FOLLOW;
// Opened at all: a file mapped into memory is written without a system call per write, so a
// code file opened during a command is looked at after it, whatever it was opened for.
const FILE_MASK: u32 = libc::IN_MODIFY
    | libc::IN_OPEN
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB
    | libc::IN_MOVE_SELF
    | libc::IN_DELETE_SELF
    | libc::IN_DONT_FOLLOW;

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut r = dir.to_vec();
    if !r.is_empty() {
        r.push(b'/');
    }
    r.extend_from_slice(name);
    r
}

fn cpath(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

impl<'a> Watcher<'a> {
    fn new(fd: OwnedFd, project: &'a Path, scope: &'a Scope) -> Watcher<'a> {
        Watcher {
            fd,
            project,
            scope,
            dirs: HashMap::new(),
            dir_paths: Default::default(),
            files: HashMap::new(),
            file_wd: HashMap::new(),
            touched: HashMap::new(),
            cur: 1,
            root_wd: -1,
            dying: Default::default(),
        }
    }

    fn add(&self, path: &Path, mask: u32) -> Result<i32, Stop> {
        let c = cpath(path).ok_or(Stop::Lost("a path with a NUL byte"))?;
        // SAFETY: a valid inotify descriptor and a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            let e = io::Error::last_os_error();
            // Gone meanwhile: its removal is (or will be) reported by its folder.
            if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) {
                return Ok(-1);
            }
            return Err(Stop::Lost("the kernel refused a watch (inotify limits?)"));
        }
        Ok(wd)
    }

    fn watch_dir(&mut self, rel: &[u8]) -> Result<(), Stop> {
        if self.dir_paths.contains(rel) {
            return Ok(());
        }
        let wd = self.add(&self.project.join(bytes_path(rel)), DIR_MASK)?;
        if wd >= 0 {
            self.dirs.insert(wd, rel.to_vec());
            self.dir_paths.insert(rel.to_vec());
        }
        Ok(())
    }

    fn watch_file(&mut self, rel: &[u8]) -> Result<(), Stop> {
        let wd = self.add(&self.project.join(bytes_path(rel)), FILE_MASK)?;
        if wd >= 0 {
            let names = self.files.entry(wd).or_default();
            if !names.iter().any(|n| n == rel) {
                names.push(rel.to_vec());
            }
            if let Some(old) = self.file_wd.insert(rel.to_vec(), wd)
                && old != wd
                && let Some(names) = self.files.get_mut(&old)
            {
                names.retain(|n| n != rel);
            }
        }
        Ok(())
    }

    fn touch(&mut self, rel: Vec<u8>) -> Result<(), Stop> {
        if self.touched.len() >= MAX_TOUCHED && !self.touched.contains_key(&rel) {
            return Err(Stop::Lost("too many paths touched"));
        }
        self.touched.insert(rel, self.cur);
        Ok(())
    }

    /// Whether `rel` (a file) is a code file the snapshot would hold.
    fn is_code(&self, rel: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(rel) else {
            return self.scope.is_code_rel(&String::from_utf8_lossy(rel));
        };
        self.scope.is_code_rel(text) && !self.scope.ignored_rel(text)
    }

    /// A folder appeared (created or moved in): watch it and everything in it that is not
    /// ignored, and count every file in it as touched.
    fn grow(&mut self, rel: Vec<u8>) -> Result<(), Stop> {
        let mut stack = vec![rel];
        while let Some(dir) = stack.pop() {
            if let Ok(text) = std::str::from_utf8(&dir)
                && self.scope.ignored_dir(text)
            {
                continue;
            }
            self.watch_dir(&dir)?;
            let Ok(list) = std::fs::read_dir(self.project.join(bytes_path(&dir))) else {
                continue;
            };
            for e in list.flatten() {
                let name = e.file_name();
                if name == ".git" {
                    continue;
                }
                let child = join(&dir, name.as_bytes());
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(child),
                    Ok(t) if t.is_file() => {
                        if self.is_code(&child) {
                            self.watch_file(&child)?;
                        }
                        self.touch(child)?;
                    }
                    _ => self.touch(child)?,
                }
            }
        }
        Ok(())
    }

    /// Read everything the kernel has queued.
    fn drain(&mut self) -> Result<(), Stop> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // SAFETY: reading into a buffer of its own size from an inotify descriptor.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(Stop::Lost("reading the kernel's changes failed")),
                }
            }
            if n == 0 {
                return Ok(());
            }
            let mut at = 0usize;
            let n = n as usize;
            let head = std::mem::size_of::<libc::inotify_event>();
            while at + head <= n {
                // SAFETY: the kernel writes whole events; read one unaligned.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                let name_end = (at + head + ev.len as usize).min(n);
                let raw = &buf[at + head..name_end];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                let name = name.to_vec();
                at = name_end;
                self.event(ev.wd, ev.mask, &name)?;
            }
        }
    }

    fn event(&mut self, wd: i32, mask: u32, name: &[u8]) -> Result<(), Stop> {
        if mask & libc::IN_Q_OVERFLOW != 0 {
            return Err(Stop::Lost("the kernel's queue of changes overflowed"));
        }
        if mask & libc::IN_UNMOUNT != 0 {
            return Err(Stop::Lost("a filesystem was unmounted"));
        }
        if mask & libc::IN_DELETE_SELF != 0 {
            self.dying.insert(wd);
        }
        if mask & libc::IN_IGNORED != 0
            && !self.dying.remove(&wd)
            && (self.dirs.contains_key(&wd) || self.files.contains_key(&wd))
        {
            return Err(Stop::Lost("one of its watches was removed"));
        }
        if let Some(dir) = self.dirs.get(&wd).cloned() {
            if mask & libc::IN_IGNORED != 0 {
                self.dirs.remove(&wd);
                self.dir_paths.remove(&dir);
                if wd == self.root_wd {
                    return Err(Stop::Lost("the project folder went away"));
                }
                return Ok(());
            }
            if mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                if wd == self.root_wd {
                    return Err(Stop::Lost("the project folder went away"));
                }
                // A moved folder: its watch now follows it elsewhere.
                if mask & libc::IN_MOVE_SELF != 0 {
                    return Err(Stop::Lost("a watched folder moved"));
                }
                return Ok(());
            }
            if name.is_empty() {
                return Ok(());
            }
            let child = join(&dir, name);
            // git's own folder: only its configuration, attributes and hooks matter, and a
            // change to its exclude file changes what is ignored.
            if dir == b".git" || dir == b".git/info" || dir == b".git/hooks" {
                if child == b".git/info/exclude" {
                    return Err(Stop::Lost("the ignore rules changed"));
                }
                if mask & libc::IN_ISDIR != 0 {
                    if child == b".git/info" || child == b".git/hooks" {
                        if mask & (libc::IN_MOVED_FROM | libc::IN_DELETE) != 0 {
                            return Err(Stop::Lost("a watched folder moved"));
                        }
                        if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
                            self.watch_dir(&child)?;
                            self.scan_git_dir(&child)?;
                        }
                    }
                    return Ok(());
                }
                if child == b".git/config"
                    || child == b".git/info/attributes"
                    || dir == b".git/hooks"
                {
                    self.touch(child)?;
                }
                return Ok(());
            }
            if name == b".gitignore" {
                return Err(Stop::Lost("the ignore rules changed"));
            }
            if mask & libc::IN_ISDIR != 0 {
                if name == b".git" {
                    if dir.is_empty() {
                        return Err(Stop::Lost("the repository's folder changed"));
                    }
                    return Ok(());
                }
                if mask & libc::IN_MOVED_FROM != 0 && self.dir_paths.contains(&child) {
                    return Err(Stop::Lost("a watched folder moved"));
                }
                if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
                    return self.grow(child);
                }
                return Ok(());
            }
            if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && self.is_code(&child) {
                self.watch_file(&child)?;
            }
            if mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0
                && let Some(wd) = self.file_wd.remove(&child)
                && let Some(names) = self.files.get_mut(&wd)
            {
                names.retain(|n| *n != child);
            }
            return self.touch(child);
        }
        if let Some(names) = self.files.get(&wd).cloned() {
            if mask & libc::IN_IGNORED != 0 {
                self.files.remove(&wd);
                for n in &names {
                    if self.file_wd.get(n) == Some(&wd) {
                        self.file_wd.remove(n);
                    }
                }
            }
            for n in names {
                self.touch(n)?;
            }
        }
        Ok(())
    }

    /// Watch the files of `.git/info` or `.git/hooks` (they are in every snapshot).
    fn scan_git_dir(&mut self, rel: &[u8]) -> Result<(), Stop> {
        let Ok(list) = std::fs::read_dir(self.project.join(bytes_path(rel))) else {
            return Ok(());
        };
        for e in list.flatten() {
            let child = join(rel, e.file_name().as_bytes());
            if e.file_type().is_ok_and(|t| t.is_file()) {
                self.watch_file(&child)?;
            }
            self.touch(child)?;
        }
        Ok(())
    }

    /// Answer one question on `s`.
    fn answer(&mut self, mut s: UnixStream) -> Result<(), Stop> {
        let Some((_, uid)) = peer(&s) else {
            return Ok(());
        };
        // SAFETY: getuid cannot fail.
        if uid != unsafe { libc::getuid() } {
            return Ok(());
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        let mut q = Vec::new();
        let mut byte = [0u8; 1];
        while q.len() < 64 {
            match s.read(&mut byte) {
                Ok(1) if byte[0] == b'\n' => break,
                Ok(1) => q.push(byte[0]),
                _ => return Ok(()),
            }
        }
        let since: Option<u64> = match q.strip_prefix(b"since ") {
            Some(n) => std::str::from_utf8(n).ok().and_then(|n| n.parse().ok()),
            None if q == b"mark" => None,
            None => return Ok(()),
        };
        self.drain()?;
        let mark = self.cur;
        self.cur += 1;
        let mut out = format!("{HEADER}\t{mark}\t").into_bytes();
        match since.filter(|&n| n >= 1 && n < mark) {
            Some(n) => {
                out.extend_from_slice(b"known\n");
                for (path, &at) in &self.touched {
                    if at > n {
                        out.extend_from_slice(&escape(path));
                        out.push(b'\n');
                    }
                }
            }
            None => out.extend_from_slice(b"unknown\n"),
        }
        out.extend_from_slice(b".\n");
        let _ = s.write_all(&out);
        Ok(())
    }
}

/// The watcher's main loop (`offload-hook --watch <project> <config> <state>`). Returns when it
/// stops; never panics on what it reads.
pub fn serve(project: &Path, config_file: &Path, state_dir: &Path) -> i32 {
    // Hold nothing of whoever started the hook: an inherited pipe kept open here would make a
    // program waiting for its end (a CI runner, a terminal) wait for the watcher.
    // SAFETY: closing descriptors this process does not use; nothing of its own is open yet.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
    }
    if std::env::vars_os().any(|(k, _)| {
        let k = k.as_bytes();
        k.starts_with(b"LD_")
    }) {
        return 2;
    }
    // No other process of the user may debug this one, read its memory or take its inotify
    // descriptor (which would let it read, and hide, the changes before the watcher does).
    // SAFETY: a plain prctl.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let loaded = crate::config::Config::load_for_project(config_file, Some(project));
    let scope = Scope::new(project, &loaded.config.guard, &[]);
    let store = Store::new(state_dir);
    let key = key(&store, project, &scope);
    if crate::fsutil::create_private_dir(&store.root).is_err() {
        return 1;
    }
    // One watcher per key: the lock is held for the watcher's life.
    let lock = lock_path(&store, &key);
    let Ok(lock_file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
    else {
        return 1;
    };
    // SAFETY: a valid descriptor.
    if unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return 0;
    }
    let lock_ino = lock_file.metadata().map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    let failed = store.root.join(format!("watch-{key}.failed"));
    // SAFETY: no arguments to check.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        let _ = crate::fsutil::write_atomic(&failed, b"no inotify instance left\n");
        return 1;
    }
    // SAFETY: a descriptor just opened and owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut w = Watcher::new(fd, project, &scope);
    if let Err(Stop::Lost(why)) = setup(&mut w, &store) {
        let _ = crate::fsutil::write_atomic(&failed, format!("{why}\n").as_bytes());
        return 1;
    }
    let _ = std::fs::remove_file(&failed);
    let Ok(addr) = address(&key) else {
        return 1;
    };
    let Ok(listener) = UnixListener::bind_addr(&addr) else {
        return 0;
    };
    let _ = listener.set_nonblocking(true);
    let ready = ready_path(&store, &key);
    let me = std::process::id() as i32;
    let Some(start) = crate::process::start_time(me as u32) else {
        return 1;
    };
    if crate::fsutil::write_atomic(&ready, format!("{me}:{start}").as_bytes()).is_err() {
        return 1;
    }
    let mut last = Instant::now();
    let result = loop {
        let mut fds = [
            libc::pollfd {
                fd: w.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break Stop::Lost("poll failed");
        }
        if fds[0].revents != 0
            && let Err(e) = w.drain()
        {
            break e;
        }
        if fds[1].revents != 0 {
            let mut stop = None;
            while let Ok((s, _)) = listener.accept() {
                let _ = s.set_nonblocking(false);
                last = Instant::now();
                if let Err(e) = w.answer(s) {
                    stop = Some(e);
                    break;
                }
            }
            if let Some(e) = stop {
                break e;
            }
        }
        if last.elapsed() > IDLE {
            break Stop::Lost("idle");
        }
        let still_ours = std::fs::symlink_metadata(&lock).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.ino()
        });
        if still_ours.ok() != lock_ino.as_ref().ok().copied() {
            break Stop::Lost("its lock file went away");
        }
        // Replaced by a newer offload (an upgrade, a rebuild): hooks would not trust it.
        if std::fs::read_link("/proc/self/exe")
            .map_or(true, |p| p.as_os_str().as_bytes().ends_with(b" (deleted)"))
        {
            break Stop::Lost("its program was replaced");
        }
    };
    let Stop::Lost(_why) = result;
    drop(listener);
    let _ = std::fs::remove_file(&ready);
    0
}

/// Watch the project: its folders first, then walk again and watch the code files (and any
/// folder made meanwhile), so nothing made during the setup goes unwatched.
fn setup(w: &mut Watcher<'_>, store: &Store) -> Result<(), Stop> {
    let deadline = Instant::now() + Duration::from_secs(120);
    w.root_wd = w.add(w.project, DIR_MASK)?;
    if w.root_wd < 0 {
        return Err(Stop::Lost("the project folder is gone"));
    }
    w.dirs.insert(w.root_wd, Vec::new());
    w.dir_paths.insert(Vec::new());
    for round in 0..3 {
        let walked = effect::walk(w.project, w.scope, store, deadline)
            .map_err(|_| Stop::Lost("the walk failed"))?;
        let before = w.dir_paths.len();
        for (rel, _) in &walked.dirs {
            w.watch_dir(rel)?;
        }
        // Settled: a walk made after every folder it lists was watched.
        if (round > 0 && w.dir_paths.len() == before) || round == 2 {
            for (rel, _) in &walked.files {
                if !rel.starts_with(b".git/") {
                    w.watch_file(rel)?;
                }
            }
            break;
        }
    }
    // Claude Code's project settings and `.mcp.json` are in every snapshot (even where git
    // ignores them).
    if std::fs::symlink_metadata(w.project.join(".claude")).is_ok_and(|m| m.is_dir()) {
        w.watch_dir(b".claude")?;
    }
    for rel in effect::SETTINGS {
        if std::fs::symlink_metadata(w.project.join(rel)).is_ok_and(|m| m.is_file()) {
            w.watch_file(rel.as_bytes())?;
        }
    }
    // git's configuration and hooks are in every snapshot.
    if std::fs::symlink_metadata(w.project.join(".git")).is_ok_and(|m| m.is_dir()) {
        for rel in [&b".git"[..], b".git/info", b".git/hooks"] {
            w.watch_dir(rel)?;
        }
        for rel in [&b".git/info"[..], b".git/hooks"] {
            w.scan_git_dir(rel)?;
        }
        w.watch_file(b".git/config")?;
    }
    w.touched.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GuardConfig;

    fn watcher_test(check: impl FnOnce(&mut Watcher<'_>, &Path)) {
        let t = tempfile::tempdir().unwrap();
        let project = std::fs::canonicalize(t.path()).unwrap().join("p");
        std::fs::create_dir_all(project.join("src/sub")).unwrap();
        for f in ["src/a.rs", "src/b.rs", "src/sub/c.rs", "notes.txt"] {
            std::fs::write(project.join(f), "x\n").unwrap();
        }
        let scope = Scope::new(&project, &GuardConfig::default(), &[]);
        let store = Store::new(&t.path().join("state"));
        // SAFETY: no arguments to check.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: just opened.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut w = Watcher::new(fd, &project, &scope);
        assert!(setup(&mut w, &store).is_ok());
        assert_eq!(w.files.len(), 3, "one watch per code file");
        check(&mut w, &project);
    }

    fn touched(w: &Watcher<'_>) -> Vec<String> {
        let mut t: Vec<String> = w
            .touched
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        t.sort();
        t
    }

    #[test]
    fn opening_writing_creating_and_deleting_are_touches() {
        watcher_test(|w, p| {
            std::fs::read(p.join("src/a.rs")).unwrap();
            std::fs::write(p.join("src/sub/c.rs"), "y\n").unwrap();
            std::fs::remove_file(p.join("src/b.rs")).unwrap();
            std::fs::create_dir_all(p.join("src/new/deep")).unwrap();
            std::fs::write(p.join("src/new/deep/d.rs"), "y\n").unwrap();
            assert!(w.drain().is_ok());
            let t = touched(w);
            for f in ["src/a.rs", "src/b.rs", "src/sub/c.rs", "src/new/deep/d.rs"] {
                assert!(t.contains(&f.to_string()), "{f} in {t:?}");
            }
            assert!(!t.contains(&"notes.txt".to_string()));
        });
    }

    #[test]
    fn a_watch_removed_by_someone_else_or_a_folder_moved_away_stops_it() {
        watcher_test(|w, p| {
            std::fs::remove_file(p.join("src/b.rs")).unwrap();
            assert!(w.drain().is_ok(), "a deleted file's watch ends as expected");
            let wd = w.file_wd[&b"src/a.rs"[..]];
            // SAFETY: the watcher's own descriptor and one of its watches.
            unsafe { libc::inotify_rm_watch(w.fd.as_raw_fd(), wd) };
            assert!(w.drain().is_err());
        });
        watcher_test(|w, p| {
            std::fs::rename(p.join("src/sub"), p.join("moved")).unwrap();
            assert!(w.drain().is_err());
        });
        watcher_test(|w, p| {
            std::fs::write(p.join(".gitignore"), "src/\n").unwrap();
            assert!(w.drain().is_err(), "new ignore rules change what is code");
        });
    }

    #[test]
    fn answers_carry_every_byte_of_a_name() {
        let name = b"src/a\nb\\c\xff.rs".to_vec();
        assert_eq!(unescape(&escape(&name)), name);
        assert!(!escape(&name).contains(&b'\n'));
    }
}
