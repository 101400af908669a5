//! `offload`: the command-line half of offload. `run` sends work to Codex and records it;
//! `stats` reads the ledger; `approve` is the user's fallback approval; `setup`/`uninstall`
//! wire it into Claude Code; `doctor` checks it; `plan` handles routed plans. Errors are
//! printed once, prefixed `offload: `.

// Every `println!`/`eprintln!` below goes through `out`: a closed pipe stops the output, never
// the command (see out.rs).
macro_rules! println {
    () => { $crate::out::stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::out::stdout(format_args!($($arg)*), true) };
}
macro_rules! print {
    ($($arg:tt)*) => { $crate::out::stdout(format_args!($($arg)*), false) };
}
macro_rules! eprintln {
    () => { $crate::out::stderr(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::out::stderr(format_args!($($arg)*), true) };
}
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::out::stderr(format_args!($($arg)*), false) };
}

mod approve;
mod cli;
mod doctor;
mod export;
mod jobs;
mod models;
mod out;
mod plan;
mod reaper;
mod restore;
mod run;
mod setup;
mod stats;
mod supervise;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The process between `offload run` and codex (not a command for people: see reaper.rs).
    let mut args = std::env::args_os();
    match args.nth(1) {
        Some(a) if a == "__reap" => reaper::main(args.collect()),
        // The background rebuild a writer starts for a large log (shared::ledger).
        // The detached OTLP flush `offload run` starts (shared::telemetry::export).
        Some(a) if a == shared::telemetry::export::FLUSH_ARG => {
            return ExitCode::from(shared::telemetry::export::flush_main());
        }
        Some(a) if a == "__rebuild" => {
            let code = shared::paths::Paths::from_env()
                .ok()
                .and_then(|p| shared::ledger::Ledger::new(p).rebuild().ok())
                .map_or(1, |_| 0);
            return ExitCode::from(code);
        }
        _ => {}
    }
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Run(args) => run::main(args),
        cli::Command::Stats(args) => stats::main(args),
        cli::Command::Approve(args) => approve::main(args),
        cli::Command::Restore(args) => restore::main(args),
        cli::Command::Setup(args) => setup::setup(args),
        cli::Command::Uninstall(args) => setup::uninstall(args),
        cli::Command::Doctor(args) => doctor::main(args),
        cli::Command::Plan(cmd) => plan::main(cmd),
        cli::Command::Jobs(args) => jobs::list(args),
        cli::Command::Wait(args) => jobs::wait(args),
        cli::Command::Result(args) => jobs::result(args),
        cli::Command::Cancel(args) => jobs::cancel(args),
        cli::Command::Export(args) => export::main(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("offload: {e}");
            e.exit_code()
        }
    };
    // The runner of a background job says it is finished, last (a no-op otherwise).
    jobs::record_exit(code);
    ExitCode::from(code)
}

/// An error offload reports and exits with.
#[derive(Debug)]
pub struct Error {
    message: String,
    code: u8,
}

impl Error {
    /// Bad arguments: exit 2, like clap's own usage errors.
    pub fn usage(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            code: shared::outcome::exit::USAGE,
        }
    }

    /// Any other failure, with its exit code.
    pub fn with_code(message: impl Into<String>, code: u8) -> Error {
        Error {
            message: message.into(),
            code,
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
