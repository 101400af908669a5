//! offload's core. Every decision the binaries make lives here, as plain functions over plain
//! types, so that it can be tested without spawning processes; the binaries (`offload`,
//! `offload-hook`, `offload-statusline`) only read input, call into this crate, and print.
//!
//! - [`env`]: every environment variable offload reads, declared once.
//! - [`paths`]: where config and state live, and the fallback order.
//! - [`config`]: the JSON config, every field defaulted in code, with env overrides.
//! - [`ledger`]: the append-only event log and the summaries derived from it.
//! - [`codex`]: building the `codex exec` command, parsing its `--json` events and its rollout.
//! - [`outcome`]: how an attempt ended, and the exit-code contract.
//! - [`review`]: the opt-in review gate (a Stop hook: Codex reviews a turn's code changes).

pub mod claude;
pub mod claude_marker;
pub mod codex;
pub mod config;
pub mod env;
pub mod format;
pub mod fsutil;
pub mod ledger;
pub mod outcome;
pub mod paths;
pub mod pins;
pub mod plan;
pub mod policy;
pub mod process;
pub mod review;
pub mod running;
pub mod settings;
pub mod shell;
pub mod stats;
pub mod statusline;
pub mod tamper;
pub mod telemetry;
