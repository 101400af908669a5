//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "offload",
    version,
    about = "Route Claude Code's work to Codex first, fail closed, and keep true numbers",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run Codex (`codex exec`) on a prompt, classify the outcome, and record the attempt.
    #[command(after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Show what the ledger recorded.
    Stats(StatsArgs),
    /// Approve a native fallback after a failed Codex attempt (the user's own terminal only).
    Approve(ApproveArgs),
    /// Put back what the guard undid after a Bash command changed code (`--list` shows records).
    Restore(RestoreArgs),
    /// Wire offload into Claude Code: hooks, statusline, skill (user or project settings); or,
    /// with --code-model/--logic-model, switch the models offload routes to.
    Setup(SetupCmd),
    /// Remove exactly what `offload setup` added, restoring the previous statusline.
    Uninstall(SetupArgs),
    /// Check codex, Claude Code, settings, state and config; self-test the hook and statusline.
    Doctor(DoctorArgs),
    /// Write, check, batch and run plans in docs/plans/.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Background jobs (`offload run --background`) of this session (or project): state, model,
    /// sandbox, elapsed, tokens, the prompt's first words.
    Jobs(JobsArgs),
    /// Wait for a background job; then print what `offload run` printed and exit as it did
    /// (75: still running when the wait's time is up; wait again).
    Wait(WaitArgs),
    /// Print a finished background job's answer again (75 while it still runs).
    Result(JobArgs),
    /// End a background job (its codex and everything it started) and record it cancelled.
    Cancel(JobArgs),
    /// Send the ledger's metrics and attempt spans to the OpenTelemetry collector now (what
    /// `offload run` and the hook do in the background), or again for a window (--since).
    #[command(after_help = EXPORT_AFTER_HELP)]
    Export(ExportArgs),
}

const EXPORT_AFTER_HELP: &str = "\
Configured like any OpenTelemetry exporter (OTEL_METRICS_EXPORTER=otlp, OTEL_TRACES_EXPORTER=otlp,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL =
http/protobuf or http/json, per-signal variants), by offload's config (\"telemetry\": {\"metrics\":
true, \"traces\": true, \"endpoint\": \"http://collector:4318\"}), or by the OTEL_* variables of
Claude Code's settings env when they turn Claude Code's telemetry on. Off unless configured.
`offload doctor` shows what is configured and how far each destination has been sent.";

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Send everything from this time again (a date, an RFC 3339 time, or an age: 7d, 12h),
    /// whatever was sent before: for a collector that lost data. Cursors do not move.
    #[arg(long)]
    pub since: Option<String>,
    /// Print the OTLP/JSON requests instead of sending them (works without any configuration).
    #[arg(long)]
    pub dry_run: bool,
    /// Only this signal.
    #[arg(long, value_parser = ["metrics", "traces"])]
    pub signal: Option<String>,
    /// Skip (record as skipped, send nothing) the batch a collector refused as data (400, 415,
    /// 422, 413 at one event): the way past it, from your own terminal. `offload doctor` shows
    /// what was skipped.
    #[arg(long, conflicts_with_all = ["since", "dry_run"])]
    pub skip_batch: bool,
}

#[derive(Args, Debug, Clone)]
pub struct JobsArgs {
    /// Every job, not only this session's (or, outside Claude Code, this project's).
    #[arg(long)]
    pub all: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which job: an id (any job), or `--last` (the newest of this session, or project).
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// The job's id (`offload run --background` printed it; `offload jobs` lists them).
    #[arg(conflicts_with = "last")]
    pub id: Option<String>,
    /// The newest job of this session (or, outside Claude Code, this project).
    #[arg(long)]
    pub last: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// How long to wait at most (default 9m: under the Bash tool's 10-minute maximum); 0 looks
    /// once.
    #[arg(long)]
    pub timeout: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SetupArgs {
    /// Use the project's `.claude/settings.json` instead of `~/.claude/settings.json`.
    #[arg(long)]
    pub project: bool,
    /// Print the change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Write (or, for uninstall, remove) a drop-in in Claude Code's managed settings
    /// (`/etc/claude-code/managed-settings.d/`; `OFFLOAD_MANAGED_DIR` names another root): a
    /// user's or project's `disableAllHooks` then no longer switches offload's hooks off. Needs
    /// the rights to write there (usually root).
    #[arg(long)]
    pub managed: bool,
    /// With --managed: also set `allowManagedHooksOnly`, so only managed hooks run (user,
    /// project and plugin hooks are ignored).
    #[arg(long, requires = "managed")]
    pub managed_only: bool,
    /// Setup: wire only what the offload plugin cannot (the statusline, and the
    /// PreSkillShellCommand hook on Claude Code 2.1.332+), and take out setup's own hooks and
    /// skill, which the plugin brings. Automatic when the plugin is enabled.
    #[arg(long, conflicts_with = "managed")]
    pub statusline_only: bool,
}

/// `offload setup`: the wiring, or the routed models.
#[derive(Args, Debug, Clone)]
pub struct SetupCmd {
    #[command(flatten)]
    pub wiring: SetupArgs,
    /// Route code, explore and review work to this model (`runner.model_code` in offload's
    /// config). With it or --logic-model, setup switches the models only: Claude Code's settings
    /// are left as they are. A model codex's catalog does not know is warned about, not refused.
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["project", "managed"])]
    pub code_model: Option<String>,
    /// Route analysis work to this model (`runner.model_logic`; also `runner.model`, the model of
    /// runs without --work-type, while that is the logic model).
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["project", "managed"])]
    pub logic_model: Option<String>,
    /// Turn the review gate on: when Claude stops after changing code in a git project, Codex
    /// reviews the turn's diff, and findings send Claude back once to fix them or explain
    /// (`guard.review_gate` in offload's config, and a Stop hook in Claude Code's settings).
    #[arg(long, conflicts_with_all = ["code_model", "logic_model"])]
    pub review_gate: bool,
    /// Turn the review gate off, and take its Stop hook out.
    #[arg(long, conflicts_with_all = ["review_gate", "code_model", "logic_model"])]
    pub no_review_gate: bool,
}

impl SetupCmd {
    /// `Some(on)` when --review-gate or --no-review-gate was given.
    pub fn review_gate_flag(&self) -> Option<bool> {
        match (self.review_gate, self.no_review_gate) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PlanCommand {
    /// Write docs/plans/YYYY-MM-DD-<feature>.md from the template (never overwrites).
    New {
        /// The feature, in words; the file name is its slug.
        feature: String,
    },
    /// Report every problem with file:line and a fix hint; exit 1 if any.
    Check {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The next batch of at most 3 ready tasks, each with its exact `offload run` command.
    Next {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the plan format (plan-format.md, installed beside the plan-and-execute skill).
    Format,
    /// Dispatch the next ready batch to Codex (at most 3 at once), check each task, mark it
    /// done, and stop, printing the command that continues (after you verified the batch).
    Run {
        file: std::path::PathBuf,
        /// Run batch after batch until nothing is ready (no stop to verify between batches).
        #[arg(long)]
        all: bool,
    },
}

const RUN_AFTER_HELP: &str = "\
Forms:
  offload run [OPTIONS] <PROMPT> [SANDBOX] [DIR]
  offload run <PROMPT> <DIR> [SANDBOX]     (a second argument that is a directory is the dir)
  offload run - [SANDBOX] [DIR]            (prompt from stdin)
  offload run --resume last <PROMPT> …     (continue the newest Codex thread of this session,
                                            else of this folder; or --resume <THREAD_ID>)

SANDBOX: read-only | workspace-write | danger-full-access
  (default: workspace-write; read-only for --work-type analysis/explore/review and --dual)

Exit codes (fail-closed, the default): 0 success, 20 anything else.
  With --fail-closed=0 / CODEX_FAIL_CLOSED=0: 10 codex missing, 11 timeout, 12 failed,
  13 usage/rate limit or credentials refused, 1 other error. 2: bad arguments.";

/// The kind of work, which picks the routed model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkType {
    Code,
    Analysis,
    Explore,
    Review,
}

impl WorkType {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkType::Code => "code",
            WorkType::Analysis => "analysis",
            WorkType::Explore => "explore",
            WorkType::Review => "review",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The task for Codex; `-` reads it from stdin.
    pub prompt: String,
    /// A sandbox name, or (legacy form) the directory to work in.
    #[arg(value_name = "SANDBOX|DIR")]
    pub second: Option<String>,
    /// The directory (after a sandbox), or the sandbox (after a directory).
    #[arg(value_name = "DIR|SANDBOX")]
    pub third: Option<String>,
    /// Model to use [env: CODEX_MODEL] (default gpt-5.4; see --work-type).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Pick the model from the routing policy: code/explore/review → CODEX_MODEL_CODE
    /// (gpt-5.3-codex), analysis → CODEX_MODEL_LOGIC (gpt-5.4); switch them with
    /// `offload setup --code-model M --logic-model M`.
    #[arg(long, value_enum)]
    pub work_type: Option<WorkType>,
    /// Reasoning effort: none, minimal, low, medium, high, xhigh, max or ultra
    /// [env: CODEX_EFFORT] (default xhigh).
    #[arg(long)]
    pub effort: Option<String>,
    /// Wall-clock limit: seconds or a duration like 10m, 100ms to 24h [env: CODEX_TIMEOUT]
    /// (default 600).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Exit 20 on any non-success (1, the default) or distinct codes (0)
    /// [env: CODEX_FAIL_CLOSED].
    #[arg(long, num_args = 0..=1, default_missing_value = "1", value_name = "BOOL")]
    pub fail_closed: Option<String>,
    /// Run the code and the logic model concurrently on the same prompt (read-only unless a
    /// sandbox is given); succeeds if either does.
    #[arg(long)]
    pub dual: bool,
    /// Continue a Codex thread instead of starting one: a thread id (`thread_id` of an earlier
    /// run), or `last`, the newest thread of this Claude Code session, else of this folder.
    /// Without --model or --work-type the thread keeps its model. Tokens recorded are the new
    /// turn's own.
    #[arg(long, value_name = "THREAD_ID|last", conflicts_with = "dual")]
    pub resume: Option<String>,
    /// Print a JSON result on stdout instead of Codex's answer.
    #[arg(long)]
    pub json: bool,
    /// Run even while another `workspace-write` run works on the same project (by default
    /// offload refuses: two codex processes writing one tree undo each other's work).
    #[arg(long)]
    pub parallel: bool,
    /// Claude Code session to record the attempt under
    /// [env: CLAUDE_CODE_SESSION_ID, then OFFLOAD_SESSION_ID].
    #[arg(long)]
    pub session: Option<String>,
    /// Start it as a background job and return at once with its id: it survives the Bash
    /// tool's timeout, the session's end and the terminal closing. Follow it with `offload
    /// wait <id>`, `offload jobs`, `offload cancel <id>`.
    #[arg(long)]
    pub background: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Recompute the summaries from events.jsonl and report whether they differed.
    #[arg(long)]
    pub rebuild: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only events since this: a date (2026-11-01), an RFC 3339 time, or an age (7d, 12h).
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The undo record to put back (from the guard's message or `--list`).
    pub id: Option<String>,
    /// List the undo records, newest first.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ApproveArgs {
    /// The Claude Code session to approve (default: the one session of this project active in
    /// the last day; when there are several, they are listed to choose from).
    #[arg(long)]
    pub session: Option<String>,
}
