//! Running one `codex exec` to its end, whatever that end is.
//!
//! codex gets its own process group, stdin from /dev/null (it reads stdin to EOF otherwise) or,
//! for a prompt too long for its command line, from `prompt.txt` in the run folder (see
//! `shared::codex::command`), and piped stdout/stderr that are copied to the run folder as they
//! arrive. Three things can end the wait: codex exits; the wall-clock limit passes (codex never
//! exits by itself when its server is down or silent); or offload receives SIGINT/SIGTERM/SIGHUP.
//! In the last two cases offload ends the whole group: SIGTERM, a grace period, then SIGKILL.
//! When codex is gone, any process it left in its group is killed too, so nothing outlives the
//! attempt.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::codex::command::ExecSpec;
use shared::codex::events::{Item, Observation, ThreadEvent};
use shared::config::limits;
use shared::outcome::Ending;
use shared::process::kill_group;

/// What the supervisor waits for.
enum Msg {
    Exited(std::io::Result<ExitStatus>),
    Signal(i32),
}

/// Forwards offload's own termination signals to every running attempt.
#[derive(Clone, Default)]
pub struct Interrupts {
    inner: Arc<Mutex<Subscribers>>,
}

#[derive(Default)]
struct Subscribers {
    /// The first signal received, replayed to late subscribers.
    first: Option<i32>,
    senders: Vec<Sender<Msg>>,
}

impl Interrupts {
    /// Take over SIGINT, SIGTERM and SIGHUP for the life of the process.
    pub fn install() -> Interrupts {
        let me = Interrupts::default();
        let sigs = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
        match signal_hook::iterator::Signals::new(sigs) {
            Ok(mut signals) => {
                let inner = me.inner.clone();
                std::thread::spawn(move || {
                    for sig in signals.forever() {
                        let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
                        g.first.get_or_insert(sig);
                        g.senders.retain(|tx| tx.send(Msg::Signal(sig)).is_ok());
                    }
                });
            }
            Err(e) => eprintln!("offload: warning: cannot watch for Ctrl-C ({e})"),
        }
        me
    }

    fn subscribe(&self, tx: Sender<Msg>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sig) = g.first {
            let _ = tx.send(Msg::Signal(sig));
        }
        g.senders.push(tx);
    }
}

/// One attempt to run.
pub struct Job<'a> {
    /// The attempt's id, given to codex as `OFFLOAD_ATTEMPT` (so whoever closes a run that
    /// died can end what of it still runs).
    pub attempt: &'a str,
    pub bin: &'a Path,
    pub spec: &'a ExecSpec,
    pub timeout: Duration,
    pub grace: Duration,
    pub run_dir: &'a Path,
    /// Prefix for progress lines (`--dual` runs two at once).
    pub label: Option<&'a str>,
    /// `TRACEPARENT` for codex: the attempt's own span, when offload exports traces (codex's
    /// spans then sit under it). `None` leaves codex the one offload was given, if any.
    pub traceparent: Option<String>,
}

/// What happened.
pub struct Finished {
    pub obs: Observation,
    pub ending: Ending,
    pub stderr_tail: String,
    pub duration: Duration,
}

/// Run the job to its end. Never panics on codex's behaviour; every way it can end is an
/// [`Ending`].
pub fn run(job: &Job<'_>, interrupts: &Interrupts) -> Finished {
    let start = Instant::now();
    let not_started = |why: String, missing: bool| Finished {
        obs: Observation::default(),
        ending: Ending {
            missing,
            spawn_error: Some(why),
            ..Ending::default()
        },
        stderr_tail: String::new(),
        duration: start.elapsed(),
    };
    let stdin = if job.spec.prompt_on_stdin() {
        // A file, not a pipe: nothing to feed, and nothing blocks if codex never reads it.
        let file = job.run_dir.join("prompt.txt");
        match shared::fsutil::write_atomic(&file, job.spec.prompt.as_bytes())
            .and_then(|()| File::open(&file))
        {
            Ok(f) => Stdio::from(f),
            Err(e) => {
                return not_started(
                    format!(
                        "cannot write the prompt for codex to {}: {e}",
                        file.display()
                    ),
                    false,
                );
            }
        }
    } else {
        Stdio::null()
    };
    let mut cmd = reaped(job.bin, job.grace).unwrap_or_else(|| Command::new(job.bin));
    if let Some(tp) = &job.traceparent {
        cmd.env("TRACEPARENT", tp);
    }
    cmd.env(shared::env::OFFLOAD_ATTEMPT, job.attempt);
    cmd.args(job.spec.args())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let missing = matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            );
            return not_started(format!("cannot start {}: {e}", job.bin.display()), missing);
        }
    };
    let pgid = child.id();
    let (tx, rx) = mpsc::channel::<Msg>();
    interrupts.subscribe(tx.clone());

    let (out_tx, out_rx) = mpsc::channel();
    let stdout = child.stdout.take();
    let events_file = job.run_dir.join("stdout.jsonl");
    let label = job.label.map(str::to_owned);
    std::thread::spawn(move || {
        let obs = stdout.map_or_else(Observation::default, |s| {
            read_events(s, &events_file, label.as_deref())
        });
        let _ = out_tx.send(obs);
    });
    let (err_tx, err_rx) = mpsc::channel();
    let stderr = child.stderr.take();
    let stderr_file = job.run_dir.join("stderr.txt");
    std::thread::spawn(move || {
        let tail = stderr.map_or_else(String::new, |s| copy_stderr(s, &stderr_file));
        let _ = err_tx.send(tail);
    });
    std::thread::spawn(move || {
        let _ = tx.send(Msg::Exited(child.wait()));
    });

    // Bounded and checked: no limit, however it was made, can overflow the clock.
    let timeout = job.timeout.min(limits::TIMEOUT.max);
    let grace = job.grace.min(limits::KILL_GRACE.max);
    let mut ending = Ending::default();
    let left = start.checked_add(timeout).map_or(timeout, |deadline| {
        deadline.saturating_duration_since(Instant::now())
    });
    let status = match rx.recv_timeout(left) {
        Ok(Msg::Exited(st)) => st,
        Ok(Msg::Signal(sig)) => {
            ending.interrupted = Some(sig);
            terminate(pgid, &rx, grace)
        }
        Err(RecvTimeoutError::Timeout) => {
            ending.timed_out = Some(timeout);
            terminate(pgid, &rx, grace)
        }
        Err(RecvTimeoutError::Disconnected) => Err(std::io::Error::other("lost track of codex")),
    };
    // Whatever codex left in its group goes with it.
    kill_group(pgid, libc::SIGKILL);
    match status {
        Ok(st) => {
            ending.exit_code = st.code();
            ending.signal = st.signal();
        }
        Err(e) => ending.spawn_error = Some(format!("waiting for codex: {e}")),
    }
    // The pipes close once the group is gone; a process that escaped the group could hold
    // them open, so the wait for the readers is bounded.
    let obs = out_rx
        .recv_timeout(Duration::from_secs(3))
        .unwrap_or_default();
    let stderr_tail = err_rx
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    Finished {
        obs,
        ending,
        stderr_tail,
        duration: start.elapsed(),
    }
}

/// `offload __reap BIN` (see `reaper.rs`), with SIGTERM to it when the thread starting it ends
/// (offload killed): so codex never outlives offload. `None` (start codex directly) where that
/// cannot work: not Linux, this program cannot be found, or `bin` is not an executable file (its
/// spawn error is then codex's own).
pub fn reaped(bin: &Path, grace: Duration) -> Option<Command> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    shared::process::resolve_bin(&bin.display().to_string()).ok()?;
    let me = std::env::current_exe().ok().filter(|p| p.is_file())?;
    let mut cmd = Command::new(me);
    cmd.arg("__reap")
        .arg("--grace-ms")
        .arg(grace.as_millis().min(60_000).to_string())
        .arg(bin);
    // SAFETY: one async-signal-safe call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Some(cmd)
}

/// SIGTERM the group, wait up to `grace` for codex to exit, then SIGKILL it. A second signal
/// to offload during the grace skips the rest of it.
fn terminate(pgid: u32, rx: &Receiver<Msg>, grace: Duration) -> std::io::Result<ExitStatus> {
    kill_group(pgid, libc::SIGTERM);
    match rx.recv_timeout(grace) {
        Ok(Msg::Exited(st)) => return st,
        Ok(Msg::Signal(_)) | Err(RecvTimeoutError::Timeout) => {}
        Err(RecvTimeoutError::Disconnected) => {
            return Err(std::io::Error::other("lost track of codex"));
        }
    }
    // The reaper (the group's leader) ends codex and what left its group, then the group goes.
    // SAFETY: signalling the process this run started, by its pid.
    unsafe {
        libc::kill(pgid as libc::pid_t, libc::SIGUSR1);
    }
    if let Ok(Msg::Exited(st)) = rx.recv_timeout(Duration::from_secs(1)) {
        kill_group(pgid, libc::SIGKILL);
        return st;
    }
    kill_group(pgid, libc::SIGKILL);
    loop {
        match rx.recv() {
            Ok(Msg::Exited(st)) => return st,
            Ok(Msg::Signal(_)) => continue,
            Err(_) => return Err(std::io::Error::other("lost track of codex")),
        }
    }
}

/// How much of codex's stdout is kept in the run folder (`OFFLOAD_MAX_OUTPUT_MB`, 1 to 4096,
/// default 64): past it, lines are still read and folded but no longer written, and a last
/// line says how much was left out.
fn output_cap() -> u64 {
    const DEFAULT: u64 = 64;
    let range = limits::MAX_OUTPUT_MB;
    let mb = shared::env::var(shared::env::OFFLOAD_MAX_OUTPUT_MB).map_or(DEFAULT, |v| {
        match v.trim().parse::<u64>().ok().filter(|m| range.contains(m)) {
            Some(mb) => mb,
            None => {
                eprintln!(
                    "offload: warning: {}: {:?} is not a whole number of {} to {}; ignored, using {DEFAULT}",
                    shared::env::OFFLOAD_MAX_OUTPUT_MB,
                    v.trim(),
                    range.start(),
                    range.end()
                );
                DEFAULT
            }
        }
    });
    mb << 20
}

/// The longest line of codex's output that is read whole (an event is a few KiB; a turn's
/// final message can be long). A longer one is skipped to its newline, never held.
const MAX_EVENT_LINE: usize = 16 << 20;

/// Read one line into `line` (without bounding the stream): `Some(true)` when the line was
/// longer than `max` and only its first `max` bytes were kept; `None` at the end.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> Option<bool> {
    line.clear();
    let mut over = false;
    let mut any = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return any.then_some(over),
        };
        if buf.is_empty() {
            return any.then_some(over);
        }
        any = true;
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = max.saturating_sub(line.len());
        if take > room {
            over = true;
        }
        line.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        if done {
            return Some(over);
        }
    }
}

/// Copy codex's stdout to the run folder line by line (capped), fold each event, print progress.
fn read_events(stdout: impl Read, file: &Path, label: Option<&str>) -> Observation {
    let mut obs = Observation::default();
    let mut out = File::create(file).ok().map(std::io::BufWriter::new);
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let prefix = label.map(|l| format!("[{l}] ")).unwrap_or_default();
    let cap = output_cap();
    let (mut written, mut dropped, mut long_lines) = (0u64, 0u64, 0u64);
    while let Some(over) = read_line_bounded(&mut reader, &mut line, MAX_EVENT_LINE) {
        if over {
            long_lines += 1;
            continue;
        }
        if written + line.len() as u64 <= cap {
            if let Some(f) = out.as_mut() {
                let _ = f.write_all(&line);
            }
            written += line.len() as u64;
        } else {
            dropped += line.len() as u64;
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(ev) = obs.feed(&text)
            && let Some(p) = progress(&ev)
        {
            eprintln!("  {prefix}{p}");
        }
    }
    if let Some(mut f) = out {
        if dropped > 0 || long_lines > 0 {
            let _ = writeln!(
                f,
                "{}",
                serde_json::json!({"type": "offload.output_capped", "bytes_not_kept": dropped,
                    "cap_bytes": cap, "lines_over_16mib_skipped": long_lines})
            );
        }
        let _ = f.flush();
    }
    obs
}

/// One short progress line for an event worth showing.
fn progress(ev: &ThreadEvent) -> Option<String> {
    let clip = |s: &str, n: usize| -> String {
        let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > n {
            let cut: String = one_line.chars().take(n).collect();
            format!("{cut}…")
        } else {
            one_line
        }
    };
    match ev {
        ThreadEvent::ThreadStarted { thread_id } => Some(format!(
            "codex thread {}",
            thread_id.as_deref().unwrap_or("?")
        )),
        ThreadEvent::ItemCompleted { item } => match item {
            Item::CommandExecution {
                command, exit_code, ..
            } => Some(match exit_code {
                Some(c) => format!("$ {} (exit {c})", clip(command, 100)),
                None => format!("$ {}", clip(command, 100)),
            }),
            Item::FileChange { changes, .. } => Some(format!(
                "changed {}",
                changes
                    .iter()
                    .map(|c| format!("{} ({})", c.path, c.kind))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Item::McpToolCall { server, tool, .. } => Some(format!("tool {server}/{tool}")),
            Item::WebSearch { query } => Some(format!("search {}", clip(query, 80))),
            Item::Error { message } => Some(format!("! {}", clip(message, 200))),
            _ => None,
        },
        ThreadEvent::Error { message } => Some(format!("! {}", clip(message, 200))),
        ThreadEvent::TurnFailed { error } => {
            Some(format!("turn failed: {}", clip(&error.message, 200)))
        }
        _ => None,
    }
}

/// Copy codex's stderr to the run folder (capped) and keep its first and last few KiB for
/// messages: an error is said first (a long backtrace may follow it), a warning may come last.
fn copy_stderr(stderr: impl Read, file: &Path) -> String {
    const CAP: u64 = 4 << 20;
    const KEEP: usize = 4096;
    let mut out = File::create(file).ok();
    let mut written = 0u64;
    let mut head: Vec<u8> = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut left_out = false;
    let mut reader = BufReader::new(stderr);
    let mut buf = [0u8; 8192];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(f) = out.as_mut()
            && written < CAP
        {
            let _ = f.write_all(&buf[..n]);
            written += n as u64;
        }
        let mut got = &buf[..n];
        if head.len() < KEEP {
            let take = got.len().min(KEEP - head.len());
            head.extend_from_slice(&got[..take]);
            got = &got[take..];
        }
        tail.extend_from_slice(got);
        if tail.len() > 2 * KEEP {
            tail.drain(..tail.len() - KEEP);
            left_out = true;
        }
    }
    let start = tail.len().saturating_sub(KEEP);
    let mut kept = String::from_utf8_lossy(&head).into_owned();
    if left_out || start > 0 {
        // What lies between the two is left out; the tail starts on a line of its own.
        kept.push_str("\n[…]\n");
    }
    kept.push_str(&String::from_utf8_lossy(&tail[start..]));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_said_first_is_kept_however_long_the_backtrace_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stderr.txt");
        let mut stderr = String::from(
            "Error: thread/start: thread/start failed: No models are available.\n\nStack backtrace:\n",
        );
        for n in 0..5000 {
            stderr.push_str(&format!("  {n}: <unknown>\n"));
        }
        stderr.push_str("last words\n");
        let kept = copy_stderr(stderr.as_bytes(), &file);
        assert!(kept.len() < 3 * 4096, "bounded: {}", kept.len());
        assert!(kept.ends_with("4999: <unknown>\nlast words\n"), "{kept}");
        assert_eq!(
            shared::outcome::stderr_reason(&kept).as_deref(),
            Some("Error: thread/start: thread/start failed: No models are available.")
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            stderr,
            "all of it in the file"
        );
        // A short one is kept whole, as it came.
        assert_eq!(copy_stderr(&b"a\nb\n"[..], &file), "a\nb\n");
    }
}
