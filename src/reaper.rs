//! `offload __reap CODEX ARGS…`: the process between `offload run` and codex that makes sure
//! codex never outlives offload, however offload ends (SIGKILL included).
//!
//! `offload run` starts it in codex's process group with a parent-death signal (SIGTERM when
//! offload's thread that started it ends: Linux `PR_SET_PDEATHSIG`). It makes itself a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so that every process codex starts and leaves behind
//! (a grandchild that `setsid`s out of the group, a double fork) becomes its child instead of
//! init's, and it can find them. Then:
//! - codex exits: every process left under the reaper is killed (SIGKILL), reaped, and the
//!   reaper exits with codex's status (re-raising codex's signal), so `offload run` sees codex's
//!   own ending and its pipes close at once;
//! - offload goes away (the parent-death signal, or the reaper's parent changes, checked every
//!   second): the reaper SIGTERMs codex's group and every process under it, waits the grace
//!   (`offload run`'s, passed as `--grace-ms`), SIGKILLs what is left and exits;
//! - SIGTERM/SIGINT/SIGHUP while offload lives: offload is ending the group itself, and the
//!   reaper waits for codex like any other time; SIGUSR1 (offload's grace is over): it kills
//!   codex and everything under it at once and exits.
//!
//! Both killed at once (by codex itself) leaves codex and its children to init: they carry the
//! attempt's id (`OFFLOAD_ATTEMPT`), and whoever closes the dead attempt ends them
//! (`shared::running::Running::claim_if_dead`).
//!
//! macOS has neither call: there `offload run` starts codex directly, and a SIGKILLed offload
//! can leave it running (documented in the README).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run the reaper; never returns.
pub fn main(mut args: Vec<OsString>) -> ! {
    // `--grace-ms N` first: the grace `offload run` uses (config and environment resolved).
    let mut grace = Duration::from_secs(5);
    if args.first().is_some_and(|a| a == "--grace-ms") && args.len() >= 2 {
        if let Some(ms) = args[1].to_str().and_then(|v| v.parse::<u64>().ok()) {
            grace = Duration::from_millis(ms.min(60_000));
        }
        args.drain(..2);
    }
    let Some((bin, rest)) = args.split_first() else {
        eprintln!("offload __reap: no program given");
        std::process::exit(2);
    };
    let parent = std::os::unix::process::parent_id();
    // SAFETY: plain process-attribute calls and a signal mask on this single-threaded process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let mut set = signal_set(&[
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGCHLD,
        libc::SIGUSR1,
    ]);
    // SAFETY: blocking signals of this thread, to take them with sigtimedwait.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
    }
    if std::os::unix::process::parent_id() != parent {
        // offload died before the mask was up: start nothing.
        std::process::exit(1);
    }
    let mut cmd = Command::new(bin);
    cmd.args(rest);
    // SAFETY: async-signal-safe calls between fork and exec: codex gets the usual mask and no
    // parent-death signal of its own (the reaper handles that).
    unsafe {
        cmd.pre_exec(|| {
            let empty = signal_set(&[]);
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("offload: cannot start {}: {e}", bin.to_string_lossy());
            // 127 like a shell: offload reads a spawn failure from its own attempt.
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let codex = child.id() as libc::pid_t;
    // Read as `offload run` reads it (seconds or humantime, 0 to 60 s); `offload run` already
    // warned about a value out of range.
    let mut status: Option<libc::c_int> = None;
    let mut orphaned = false;
    loop {
        // Reap whatever ended: codex, or a process left under the reaper.
        loop {
            let mut st = 0;
            // SAFETY: reaping our own children without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == codex {
                status = Some(st);
            }
        }
        if status.is_some() || orphaned {
            break;
        }
        let timeout = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: waiting for one of the blocked signals, at most a second.
        let sig = unsafe { libc::sigtimedwait(&raw mut set, std::ptr::null_mut(), &timeout) };
        if std::os::unix::process::parent_id() != parent {
            orphaned = true;
        } else if sig == libc::SIGUSR1 {
            // offload's grace is over: everything goes now, codex and what left its group.
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(codex, libc::SIGKILL);
            }
            end_children();
            std::process::exit(137);
        }
        // SIGTERM/SIGINT/SIGHUP while offload lives: its ending of the group reaches codex
        // too; wait for it.
    }
    if orphaned {
        // offload is gone: end codex's group and everything under the reaper, after a grace.
        // SAFETY: signalling our own process group and children.
        unsafe {
            libc::kill(0, libc::SIGTERM);
        }
        signal_children(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !reap_all() {
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe {
            libc::kill(-codex, libc::SIGKILL);
        }
        end_children();
        std::process::exit(1);
    }
    // codex ended: what it left behind goes too, then its status is ours.
    end_children();
    let st = status.unwrap_or(0);
    if libc::WIFSIGNALED(st) {
        let sig = libc::WTERMSIG(st);
        // SAFETY: restoring the default action and dying of codex's signal.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let one = signal_set(&[sig]);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const one, std::ptr::null_mut());
            libc::raise(sig);
        }
    }
    std::process::exit(if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        1
    });
}

fn signal_set(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: initialising a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// This process's children now (they include every orphan of codex's, the reaper being a
/// subreaper).
fn children() -> Vec<libc::pid_t> {
    let me = std::process::id();
    let listed = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"));
    if let Ok(list) = listed {
        return list
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| shared::process::parent(p) == Some(me))
        .map(|p| p as libc::pid_t)
        .collect()
}

fn signal_children(sig: libc::c_int) {
    for pid in children() {
        // SAFETY: signalling our own children.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Reap what ended; true when no child is left.
fn reap_all() -> bool {
    loop {
        let mut st = 0;
        // SAFETY: reaping our own children without blocking.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid == 0 {
            return false;
        }
        if pid < 0 {
            return true;
        }
    }
}

/// SIGKILL every child until none is left (each one killed may leave orphans that become
/// children in turn), at most two seconds.
fn end_children() {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        signal_children(libc::SIGKILL);
        if reap_all() || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
