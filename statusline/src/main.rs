//! `offload-statusline`: Claude Code's statusline command. Reads the statusline JSON on stdin,
//! prints `Offload C:… Σ:… | S/F C:…/… | RL C:…%@…`, exits 0, always.
//!
//!   offload-statusline [--wrap '<command>'] [--explain]
//!
//! `--wrap` runs the user's previous statusline command with the same stdin, at the same time,
//! for at most `statusline.wrap_timeout_ms`, and prints its output after offload's line: a
//! failing or hanging command costs its own line, never offload's.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shared::paths::Paths;
use shared::statusline::{self, Env};

fn main() {
    let start = Instant::now();
    let mut args = std::env::args().skip(1);
    let (mut wrap, mut explain) = (None, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--wrap" => wrap = args.next(),
            "--explain" => explain = true,
            "--help" | "-h" => {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "usage: offload-statusline [--wrap '<command>'] [--explain]  (statusline JSON on stdin)"
                );
                return;
            }
            _ => {}
        }
    }
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let theirs = wrap.as_deref().map(|cmd| spawn_wrapped(cmd, &stdin));
    let ours = std::panic::catch_unwind(|| compose(&stdin)).ok();
    let mut out = std::io::stdout().lock();
    match &ours {
        Some(c) => {
            let _ = writeln!(out, "{}", c.line);
        }
        None => {
            let _ = writeln!(out, "Offload --");
        }
    }
    if let Some(theirs) = theirs {
        let timeout = ours
            .as_ref()
            .map_or(Duration::from_secs(1), |c| c.wrap_timeout);
        if let Some(text) = theirs.finish(timeout) {
            let _ = write!(out, "{text}");
            if !text.ends_with('\n') {
                let _ = writeln!(out);
            }
        }
    }
    if explain && let Some(c) = &ours {
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>9}  source",
            "segment", "value", "took"
        );
        for s in &c.segments {
            let _ = writeln!(
                out,
                "{:<12} {:>10} {:>7}µs  {}",
                s.name,
                strip_ansi(&s.segment.text),
                s.took.as_micros(),
                s.segment.source
            );
        }
        for (step, took, note) in &c.steps {
            let _ = writeln!(
                out,
                "{step:<12} {:>10} {:>7}µs  {note}",
                "",
                took.as_micros()
            );
        }
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>7}µs",
            "total",
            "",
            start.elapsed().as_micros()
        );
    }
    let _ = out.flush();
}

fn compose(stdin: &[u8]) -> statusline::Composed {
    let paths = Paths::from_env()
        .unwrap_or_else(|_| Paths::in_folder(std::env::temp_dir().join("offload")));
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let env = Env {
        codex_home: var("CODEX_HOME")
            .map(Into::into)
            .or_else(|| var("HOME").map(|h| std::path::PathBuf::from(h).join(".codex"))),
        session_env: shared::env::var(shared::env::CLAUDE_CODE_SESSION_ID),
        no_color: var(shared::env::NO_COLOR).is_some(),
        now: chrono::Utc::now(),
        home: var("HOME").map(Into::into),
        paths,
    };
    statusline::compose(stdin, &env)
}

/// The user's own statusline command, running.
struct Wrapped {
    pgid: u32,
    done: mpsc::Receiver<Option<String>>,
}

fn spawn_wrapped(cmd: &str, stdin: &[u8]) -> Wrapped {
    let (tx, rx) = mpsc::channel();
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let Ok(mut child) = child else {
        let _ = tx.send(None);
        return Wrapped { pgid: 0, done: rx };
    };
    let pgid = child.id();
    if let Some(mut input) = child.stdin.take() {
        let bytes = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
    }
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        let ok = child.wait().is_ok_and(|s| s.success());
        let _ = tx.send((ok && !text.trim().is_empty()).then_some(text));
    });
    Wrapped { pgid, done: rx }
}

impl Wrapped {
    /// Its output, if it succeeded within `timeout`; otherwise it is ended and nothing shows.
    fn finish(self, timeout: Duration) -> Option<String> {
        match self.done.recv_timeout(timeout) {
            Ok(text) => text,
            Err(_) => {
                shared::process::kill_group(self.pgid, libc::SIGKILL);
                None
            }
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
