//! Other programs offload runs briefly (`codex --version`, `claude --version`, self-tests):
//! finding them, and running them with a bound, so that a program that hangs costs a timeout,
//! never a stuck `offload`. (`offload run` supervises codex itself, in `src/supervise.rs`.)

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Find an executable: a name with a `/` is a path; a bare name is looked up on `PATH`.
pub fn resolve_bin(name: &str) -> Result<PathBuf, String> {
    resolve_bin_in(name, &std::env::var_os("PATH").unwrap_or_default())
}

/// [`resolve_bin`] with `path` as `PATH`.
pub fn resolve_bin_in(name: &str, path: &std::ffi::OsStr) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(format!("{name} is not an executable file"))
        } else {
            Err(format!("{name} does not exist"))
        };
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
        .ok_or_else(|| format!("{name} is not on PATH"))
}

/// What a bounded run of a program gave.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Ran {
    /// Why a run did not give what was wanted, in a few words.
    pub fn why(&self) -> String {
        if self.timed_out {
            return format!("no answer within {}s; ended it", self.elapsed.as_secs());
        }
        let code = self
            .code
            .map_or("killed by a signal".to_owned(), |c| format!("exit {c}"));
        let said = first_line(&self.stderr);
        let said = if said.is_empty() {
            first_line(&self.stdout)
        } else {
            said
        };
        if said.is_empty() {
            code
        } else {
            let said: String = said.chars().take(160).collect();
            format!("{code}: {said}")
        }
    }
}

/// Run a program with `stdin`, in its own process group, for at most `wait`: past that the
/// group is killed (it is ours: we just started it) and the run reports a timeout.
pub fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>, wait: Duration) -> std::io::Result<Ran> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut tries = 0;
    let (start, mut child) = loop {
        let start = Instant::now();
        match cmd.spawn() {
            Ok(child) => break (start, child),
            // A program being written as we start it (an update, an install) is busy for a
            // moment: try again before calling it broken.
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 5 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    };
    let pid = child.id();
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A child that exits without reading its stdin is not an error here.
        let _ = pipe.write_all(input);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send((out, start.elapsed()));
    });
    let (out, elapsed, timed_out) = match rx.recv_timeout(wait) {
        Ok((out, elapsed)) => (out?, elapsed, false),
        Err(_) => {
            kill_group(pid, libc::SIGKILL);
            let (out, elapsed) = rx
                .recv()
                .map_err(|_| std::io::Error::other("the waiting thread vanished"))?;
            (out?, elapsed, true)
        }
    };
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
        timed_out,
    })
}

/// What a bounded run of a program that answers with a document gave: its stdout as bytes, at
/// most the cap asked for.
pub struct Captured {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    /// The first line of stderr (at most 160 characters), for saying why a run failed.
    pub stderr_line: String,
    /// stdout went past the cap: the program was ended and `stdout` is incomplete.
    pub over_cap: bool,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Captured {
    /// Why the run did not give a document, in a few words; `None` when it exited 0 in time
    /// within the cap.
    pub fn failure(&self, cap: usize) -> Option<String> {
        if self.timed_out {
            return Some(format!(
                "no answer within {:.1}s; ended it",
                self.elapsed.as_secs_f64()
            ));
        }
        if self.over_cap {
            return Some(format!("more than {} KiB of output; ended it", cap >> 10));
        }
        match self.code {
            Some(0) => None,
            code => {
                let code = code.map_or("killed by a signal".to_owned(), |c| format!("exit {c}"));
                Some(if self.stderr_line.is_empty() {
                    code
                } else {
                    format!("{code}: {}", self.stderr_line)
                })
            }
        }
    }
}

/// Run a program with stdin from `/dev/null`, in its own process group, keeping at most `cap`
/// bytes of its stdout: past `wait`, or past the cap, the group is killed (it is ours: we just
/// started it). Never blocks for much longer than `wait`: a process that left the group and
/// holds the pipes open costs at most another second, then is left to the readers, which
/// keep nothing more than the cap.
pub fn run_captured(mut cmd: Command, wait: Duration, cap: usize) -> std::io::Result<Captured> {
    use std::io::Read;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A killed caller (its thread waits here until the program ends) takes the program with
    // it (Linux).
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: one async-signal-safe call between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // One set by the caller's own setup (a supervisor that must clean up on
                // SIGTERM) is kept.
                let mut current: libc::c_int = 0;
                libc::prctl(libc::PR_GET_PDEATHSIG, &raw mut current, 0, 0, 0);
                if current == 0 {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                }
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (tx, rx) = std::sync::mpsc::channel();
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let over = out.is_some_and(|pipe| {
            let mut limited = pipe.take(cap as u64 + 1);
            let _ = limited.read_to_end(&mut bytes);
            bytes.len() > cap
        });
        if over {
            // Enough: the rest is never read, and the program is ended.
            kill_group(pid, libc::SIGKILL);
            bytes.truncate(cap);
        }
        let _ = out_tx.send(Msg::Out(bytes, over));
    });
    let err_tx = tx.clone();
    std::thread::spawn(move || {
        let mut head = Vec::new();
        if let Some(pipe) = err {
            let mut pipe = pipe;
            let mut buf = [0u8; 8192];
            // The first 4 KiB are kept; the rest is read and dropped so the program never
            // blocks on a full pipe.
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = 4096usize.saturating_sub(head.len());
                head.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        let _ = err_tx.send(Msg::Err(String::from_utf8_lossy(&head).into_owned()));
    });
    std::thread::spawn(move || {
        let _ = tx.send(Msg::Exit(child.wait().ok().and_then(|s| s.code())));
    });
    enum Msg {
        Out(Vec<u8>, bool),
        Err(String),
        Exit(Option<i32>),
    }
    let deadline = start + wait;
    let mut timed_out = false;
    let (mut stdout, mut over_cap, mut stderr, mut code, mut exited) =
        (None, false, None, None, false);
    while stdout.is_none() || stderr.is_none() || !exited {
        let left = if timed_out {
            // Killed: what is still to come comes at once, unless a process outside the group
            // holds a pipe.
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(left) {
            Ok(Msg::Out(b, over)) => {
                over_cap = over;
                stdout = Some(b);
            }
            Ok(Msg::Err(e)) => stderr = Some(e),
            Ok(Msg::Exit(c)) => {
                code = c;
                exited = true;
            }
            Err(_) if !timed_out => {
                timed_out = true;
                kill_group(pid, libc::SIGKILL);
            }
            Err(_) => break,
        }
    }
    if exited {
        // Whatever the program left in its group goes with it.
        kill_group(pid, libc::SIGKILL);
    }
    let stderr = stderr.unwrap_or_default();
    Ok(Captured {
        code,
        stdout: stdout.unwrap_or_default(),
        stderr_line: first_line(&stderr).chars().take(160).collect(),
        over_cap,
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// Signal every process in the group `pgid`: a group the caller created for a child it
/// started (`process_group(0)`), whose id is that child's pid. Nothing else is ever signalled.
pub fn kill_group(pgid: u32, signal: i32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: kill(2) has no memory effects; a negative pid addresses the process group.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Fields of `/proc/<pid>/stat` after the command name (which is in parentheses and may hold
/// spaces, so counting starts after the last `)`): index 0 is field 3, the state.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// A process's start time (clock ticks since boot; field 22 of `/proc/<pid>/stat`): with its
/// pid, what tells it apart from a later process that reused the pid.
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether the process `pid` that started at `start` (see [`start_time`]) still runs: the same
/// pid and start time, and not a zombie (a process that ended and waits for its parent, which
/// may be slow to reap it, to collect its status).
pub fn runs(pid: u32, start: u64) -> bool {
    pid > 0
        && stat_fields(pid).is_some_and(|f| {
            f.first().is_some_and(|s| s != "Z" && s != "X")
                && f.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(start)
        })
}

/// When a process started, on the wall clock: now, less the time since boot (`CLOCK_BOOTTIME`,
/// the clock `/proc/<pid>/stat` counts a start in), plus its start. To the clock tick (10 ms),
/// unlike `/proc/stat`'s whole-second `btime`.
pub fn started_at(pid: u32) -> Option<std::time::SystemTime> {
    let ticks = start_time(pid)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain queries filling a local.
    let (rc, hz) = unsafe {
        (
            libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    if rc != 0 {
        return None;
    }
    let since_boot = std::time::Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    );
    let boot = std::time::SystemTime::now().checked_sub(since_boot)?;
    let start = std::time::Duration::from_millis(ticks.checked_mul(1000)? / hz);
    boot.checked_add(start)
}

/// The process at the other end of a Unix socket, as the kernel recorded it (`SO_PEERCRED`: for
/// a socket pair, the process that made it): its pid and uid.
pub fn socket_peer(fd: std::os::fd::RawFd) -> Option<(i32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a descriptor and a buffer of the size given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some((cred.pid, cred.uid))
}

/// End every process of this user whose environment holds `NAME=value` (a tag a run gave the
/// processes it started: it is inherited by everything they start, whatever group or session
/// they move to). Matches are stopped first (SIGSTOP: a stopped process cannot start another),
/// the scan repeated until it finds no new one (at most 8 passes), then all are killed. Reads
/// at most 1 MiB of each environment and never signals this process. Returns how many were
/// ended. Neither this process nor its ancestors are ever signalled. Linux only (elsewhere
/// nothing is found).
pub fn end_tagged(name: &str, value: &str) -> usize {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let tag = format!("{name}={value}");
    let tag = tag.as_bytes();
    let me = std::process::id();
    // Never this process nor one above it (a session started from inside a run would carry
    // the run's tag too).
    let above: Vec<u32> = ancestors().collect();
    // SAFETY: a plain query.
    let uid = unsafe { libc::getuid() };
    let mut found: Vec<libc::pid_t> = Vec::new();
    for _ in 0..8 {
        let mut new = 0;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(p) = libc::pid_t::try_from(pid) else {
                continue;
            };
            if pid == me || above.contains(&pid) || found.contains(&p) {
                continue;
            }
            if e.metadata().map_or(true, |m| m.uid() != uid) {
                continue;
            }
            let mut env = Vec::new();
            let Ok(f) = std::fs::File::open(e.path().join("environ")) else {
                continue;
            };
            if f.take(1 << 20).read_to_end(&mut env).is_err() {
                continue;
            }
            if env.split(|b| *b == 0).any(|var| var == tag) {
                // SAFETY: kill(2) has no memory effects; the pid was just matched by its tag.
                unsafe {
                    libc::kill(p, libc::SIGSTOP);
                }
                found.push(p);
                new += 1;
            }
        }
        if new == 0 {
            break;
        }
    }
    for &p in &found {
        // SAFETY: as above.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    found.len()
}

/// The parent of a process (field 4 of `/proc/<pid>/stat`).
pub fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// This process's ancestors, nearest first, up to (not including) init, at most 64.
pub fn ancestors() -> impl Iterator<Item = u32> {
    let mut pid = std::process::id();
    std::iter::from_fn(move || {
        let p = parent(pid).filter(|&p| p > 1)?;
        pid = p;
        Some(p)
    })
    .take(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_runs_end_and_report() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo out; echo err >&2; exit 3"]);
        let ran = run_bounded(cmd, Some(b"in\n"), Duration::from_secs(10)).unwrap();
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.timed_out),
            (Some(3), "in\nout\n", false)
        );
        assert_eq!(ran.why(), "exit 3: err");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30"]);
        let start = Instant::now();
        let ran = run_bounded(cmd, None, Duration::from_millis(200)).unwrap();
        assert!(ran.timed_out && start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn captured_runs_keep_at_most_the_cap_and_end_in_time() {
        let sh = |script: &str| {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", script]);
            cmd
        };
        let c = run_captured(sh("printf abc; echo oops >&2"), Duration::from_secs(10), 16).unwrap();
        assert_eq!(
            (c.code, c.stdout.as_slice(), c.stderr_line.as_str()),
            (Some(0), &b"abc"[..], "oops")
        );
        assert_eq!(c.failure(16), None);
        // Past the cap: ended, the cap kept.
        let start = Instant::now();
        let c = run_captured(sh("yes x"), Duration::from_secs(10), 1000).unwrap();
        assert!(c.over_cap && c.stdout.len() == 1000, "{}", c.stdout.len());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(c.failure(1000).unwrap().contains("more than 0 KiB"));
        // Past the deadline: ended, reported.
        let start = Instant::now();
        let c = run_captured(sh("sleep 30"), Duration::from_millis(200), 16).unwrap();
        assert!(c.timed_out && start.elapsed() < Duration::from_secs(5));
        assert!(c.failure(16).unwrap().starts_with("no answer within"));
        // A child that left the group and holds stdout costs a bounded wait, not a hang.
        let start = Instant::now();
        let c = run_captured(
            sh("setsid sleep 5 & echo started; exit 0"),
            Duration::from_millis(300),
            1 << 20,
        )
        .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(c.code, Some(0));
        // A failure says how it ended and what it said first.
        let c = run_captured(
            sh("echo 'bad subcommand' >&2; exit 2"),
            Duration::from_secs(10),
            16,
        )
        .unwrap();
        assert_eq!(c.failure(16).as_deref(), Some("exit 2: bad subcommand"));
    }

    #[test]
    fn resolves_paths_and_names() {
        assert!(resolve_bin("sh").is_ok());
        assert!(resolve_bin("/bin/sh").is_ok());
        assert!(
            resolve_bin("/nonexistent/x")
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            resolve_bin("no-such-program-here")
                .unwrap_err()
                .contains("not on PATH")
        );
    }

    /// A child that ended but was not waited for is a zombie: its pid and start time are still
    /// in /proc, and it does not run.
    #[test]
    fn a_zombie_does_not_run() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid).expect("just started");
        let deadline = Instant::now() + Duration::from_secs(10);
        while stat_fields(pid).and_then(|f| f.first().cloned()).as_deref() != Some("Z") {
            assert!(Instant::now() < deadline, "the child never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(start_time(pid), Some(start), "still in /proc");
        assert!(!runs(pid, start), "a zombie does not run");
        assert!(runs(
            std::process::id(),
            start_time(std::process::id()).unwrap()
        ));
        assert!(
            !runs(std::process::id(), 1),
            "another start time is another process"
        );
        child.wait().unwrap();
        assert!(!runs(pid, start));
    }

    #[test]
    fn this_process_has_a_start_time_and_ancestors() {
        let me = std::process::id();
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert_eq!(start_time(me), start_time(me), "stable");
        let chain: Vec<u32> = ancestors().collect();
        assert_eq!(chain.first().copied(), parent(me).filter(|&p| p > 1));
        assert!(chain.iter().all(|&p| p > 1));
        assert_eq!(start_time(u32::MAX), None);
        let started = started_at(me).unwrap();
        let now = std::time::SystemTime::now();
        assert!(started <= now, "started before now");
        assert!(
            now.duration_since(started).unwrap() < Duration::from_secs(3600),
            "a test process started within the hour"
        );
    }
}
