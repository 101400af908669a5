//! `offload-hook`: the Claude Code hook. Reads one JSON payload on stdin, answers per
//! `shared::policy::hook::answer`, records what it decided, and exits.
//!
//! It must never crash: Claude Code treats a crash, a timeout or garbage output as "allow".
//! A panic is caught and, for a tool call, turned into a block with a way out.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use shared::ledger::Ledger;
use shared::paths::Paths;
use shared::policy::hook::{self, Env};

/// `eprintln!` that cannot panic: a closed stderr loses the words, never the exit code (2 is
/// what blocks a tool call).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        say!("offload-hook: internal error: {info}");
    }));
    match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(_) => {
            say!(
                "{}",
                hook::unreadable("offload-hook hit an internal error (please report it)")
            );
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    // `offload-hook --watch <project> <config> <state>`: the effect check's watcher, started by
    // the hook itself (shared::policy::watch).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(a) = args.first().and_then(|a| a.to_str())
        && matches!(a, "--help" | "-h" | "--version" | "-V")
    {
        let _ = writeln!(
            std::io::stdout().lock(),
            "offload-hook {}: offload's Claude Code hook. Claude Code runs it with one JSON event on \
             stdin (registered by `offload setup` or the offload plugin); it is not a command for \
             people. See `offload doctor`.",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    // The detached OTLP flush this hook starts on a user prompt (shared::telemetry::export).
    if args
        .first()
        .is_some_and(|a| a == shared::telemetry::export::FLUSH_ARG)
    {
        return ExitCode::from(shared::telemetry::export::flush_main());
    }
    if args.first().is_some_and(|a| a == "--watch") {
        if args.len() != 4 {
            say!(
                "offload-hook: usage: offload-hook --watch <project> <config file> <state folder>"
            );
            return ExitCode::from(2);
        }
        let code = shared::policy::watch::serve(
            std::path::Path::new(&args[1]),
            std::path::Path::new(&args[2]),
            std::path::Path::new(&args[3]),
        );
        return ExitCode::from(code as u8);
    }
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        say!("{}", hook::unreadable(&format!("cannot read stdin ({e})")));
        return ExitCode::from(2);
    }
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            say!("{}", hook::unreadable(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let is_session_start = stdin.windows(12).any(|w| w == b"SessionStart");
    let env = Env {
        mode: shared::env::var(shared::env::OFFLOAD_MODE),
        project_dir: var("CLAUDE_PROJECT_DIR").map(Into::into),
        env_file: var("CLAUDE_ENV_FILE").map(Into::into),
        home: var("HOME").map(Into::into),
        codex_home: var("CODEX_HOME").map(Into::into),
        codex_found: if is_session_start {
            let name = shared::env::var(shared::env::CODEX_BIN).unwrap_or_else(|| "codex".into());
            shared::process::resolve_bin(&name)
                .ok()
                .map(|p| p.display().to_string())
        } else {
            None
        },
        now: chrono::Utc::now(),
        tmpdir: var("TMPDIR").map(Into::into),
        prompt_sender: shared::claude_marker::prompt_sender,
        prompt_nested: shared::claude_marker::nested_prompt,
        paths: paths.clone(),
    };
    let ledger = Ledger::new(paths).with_write_wait(Duration::from_secs(2));
    let answer = hook::answer(&stdin, &env, |id| ledger.session(id));
    if !answer.record.is_empty()
        && let Err(e) = ledger.append(&answer.record)
    {
        say!("offload-hook: could not record to the ledger: {e}");
    }
    if let Some((file, line)) = &answer.env_line {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            say!("offload-hook: cannot write {}: {e}", file.display());
        }
    }
    // Once per turn (never per tool call): what the ledger holds goes to the team's collector
    // from a detached flush, when telemetry is configured and something is unsent.
    if is_session_start || stdin.windows(16).any(|w| w == b"UserPromptSubmit") {
        kick_export(ledger.paths(), env.project_dir.as_deref());
    }
    if !answer.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", answer.stdout);
        let _ = out.flush();
    }
    if !answer.stderr.is_empty() {
        say!("{}", answer.stderr);
    }
    ExitCode::from(answer.exit)
}

fn kick_export(paths: &Paths, project: Option<&std::path::Path>) {
    let config = shared::config::Config::load_file(&paths.config_file).config;
    let settings = shared::telemetry::Settings::from_env(&config.telemetry, project);
    if let Ok(exe) = std::env::current_exe() {
        shared::telemetry::export::kick_from_hook(paths, &settings, &exe);
    }
}
