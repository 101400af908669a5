//! `offload doctor`: is everything offload depends on in place, and does it work?
//!
//!   offload doctor [--json]
//!
//! One line per check, `✓` ok, `!` a warning, `✗` a problem, each problem with a hint that says
//! what to run or change. Exit 1 when something essential is broken, else 0:
//!
//! | check | ✗ when (essential) | ! when |
//! |---|---|---|
//! | codex | not found (CODEX_BIN, config `runner.codex_bin`, PATH), or no `--version` answer: every attempt would fail closed | older than every tested version (`shared::pins`) |
//! | codex login | codex cannot load its config.toml (its error, and the file to fix); or `codex login status` says not logged in (and no `CODEX_API_KEY`, no `model_provider` of its own in config.toml) | it could not be run |
//! | codex flags | `codex exec --help` lacks a flag the runner passes | |
//! | models | | a routed model (code, logic, default) is not in codex's catalog (`codex debug models --bundled`): codex runs it on fallback metadata, which can degrade its work; or the catalog cannot be read |
//! | claude code | | not found (OFFLOAD_CLAUDE_BIN, PATH), older than 2.1.63, or older than every tested version |
//! | offload on PATH | | `offload` is not on PATH, or another one is first on it (Claude is given the full path either way) |
//! | settings | a settings file is not valid JSON | none found |
//! | hook <event> | no `offload-hook` for PreToolUse / SessionStart / UserPromptSubmit, its file is missing, or it uses `onFailure` on a Claude Code older than 2.1.295 | the PreToolUse matcher leaves out a tool the guard needs; no `offload-hook` for PostToolUse / PostToolUseFailure, or their matcher leaves out Bash |
//! | hook PreSkillShellCommand | Claude Code 2.1.332 or later and no `offload-hook` for it (skills' inline `` !`cmd` `` commands run unchecked) | Claude Code older than 2.1.332, or of unknown version: those commands fire no hook at all (ok when `"disableSkillShellExecution": true` stops them) |
//! | hook <event>, twice | | offload-hook runs more than once for an event (setup and the plugin, or user and project settings): every event is recorded twice |
//! | review gate | | on in the config (with the current folder's override) but no Stop hook runs `offload-hook`, or it runs twice, its timeout is shorter than a review's, it has `onFailure`, or git does not run |
//! | statusline | | none, another command in effect, or its file is missing |
//! | state folder | | mode is not 0700 |
//! | ledger | events.jsonl unreadable | its last line is torn |
//! | summaries | they differ from a rebuild (`offload stats --rebuild`) | |
//! | config | | warnings, an invalid value, or the guard is off |
//! | hook self-test | the hook does not deny an Edit of a .rs file before any attempt | |
//! | statusline self-test | | it does not print its line |
//!
//! Checks that need a program that is missing (codex flags without codex) are left out. The
//! self-tests run the `offload-hook` and `offload-statusline` beside this executable (else on
//! PATH) five times each, in a scratch project with `OFFLOAD_HOME` and `HOME` in a temporary
//! folder, so the user's ledger is never touched, and report the median latency. `codex` runs
//! with the user's `CODEX_HOME`, or a temporary one when unset, so that `--version` never
//! writes to `~/.codex` (PROTOCOLS.md §1).
//!
//! `--json` prints an array of `{check, status: "ok"|"warn"|"fail", detail, hint, ms?}`;
//! `hint` is `null` when there is nothing to do, `ms` (a median latency) only on the
//! self-tests.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use shared::codex::catalog::{self, Catalog};
use shared::codex::command::Sandbox;
use shared::config::{Config, Mode, limits};
use shared::env;
use shared::ledger::Ledger;
use shared::outcome::stderr_reason;
use shared::paths::Paths;
use shared::process::{resolve_bin, run_bounded};
use shared::settings::{
    ClaudeVersion, ON_FAILURE_SINCE, PRE_SKILL_SHELL_COMMAND, PRE_TOOL_USE_MATCHER, REVIEW_EVENT,
    SKILL_SHELL_SINCE, is_our_hook, our_statusline, shell_words,
};

use crate::Error;
use crate::cli::DoctorArgs;

/// Flags the runner passes to `codex exec` (see `shared::codex::command`).
const CODEX_FLAGS: [&str; 7] = [
    "--json",
    "--skip-git-repo-check",
    "-m",
    "-s",
    "-C",
    "-o",
    "-c",
];
/// Claude Code renamed the subagent tool `Task` to `Agent` in this version.
const AGENT_TOOL_SINCE: ClaudeVersion = ClaudeVersion(2, 1, 63);
/// The hook events offload registers for every Claude Code version, and whether one without
/// `offload-hook` is a problem (`true`) or a warning.
const HOOK_EVENTS: [(&str, bool); 5] = [
    ("PreToolUse", true),
    ("SessionStart", true),
    ("UserPromptSubmit", true),
    ("PostToolUse", false),
    ("PostToolUseFailure", false),
];
/// The setting that stops skills' inline shell commands altogether.
const DISABLE_SKILL_SHELL: &str = "disableSkillShellExecution";
/// How long `codex` and `claude` may take to answer `--version`/`--help`.
const PROGRAM_WAIT: Duration = Duration::from_secs(15);
/// How long one self-test run may take.
const SELF_TEST_WAIT: Duration = Duration::from_secs(10);
/// Runs per self-test (the median is reported).
const SELF_TEST_RUNS: usize = 5;

/// A client's check with its version judged against the tested ones: older than any tested
/// version is a warning (with the command that installs the newest tested one), anything else
/// ok, the detail saying where it stands.
fn tested_check(
    name: &str,
    detail: String,
    version: Option<ClaudeVersion>,
    tested: &[ClaudeVersion],
    install: &str,
) -> Check {
    use shared::pins::{Tested, judge};
    let Some(v) = version else {
        return Check::ok(
            name,
            format!("{detail} · version not recognised, so not compared with the tested ones"),
        );
    };
    let judged = judge(v, tested);
    let detail = format!("{detail} · {judged}");
    match judged {
        Tested::Older(_) => {
            let newest = tested.last().map(ToString::to_string).unwrap_or_default();
            Check::warn(
                name,
                detail,
                format!("offload is not tested with this version; upgrade: {install}{newest}"),
            )
        }
        _ => Check::ok(name, detail),
    }
}

/// Ordered from good to bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
struct Check {
    check: String,
    status: Status,
    detail: String,
    hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ms: Option<f64>,
}

impl Check {
    fn new(check: &str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            check: check.to_owned(),
            status,
            detail: detail.into(),
            hint: None,
            ms: None,
        }
    }
    fn ok(check: &str, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Ok, detail)
    }
    fn warn(check: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check::new(check, Status::Warn, detail).hint(hint)
    }
    fn fail(check: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check::new(check, Status::Fail, detail).hint(hint)
    }
    fn hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }
}

pub fn main(args: DoctorArgs) -> Result<u8, Error> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::with_code(format!("cannot read the current folder: {e}"), 1))?;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let scratch = Scratch::new()
        .map_err(|e| Error::with_code(format!("cannot create a temporary folder: {e}"), 1))?;
    let ctx = Ctx {
        cwd,
        home,
        paths: Paths::from_env(),
        scratch,
    };
    let mut checks = ctx.run_all();
    // The fix lines run as printed in the user's terminal: offload by its full path when PATH
    // does not find it.
    let offload = shared::shell::this_offload();
    if offload != "offload" {
        for c in &mut checks {
            if let Some(h) = &mut c.hint {
                *h = full_commands(h, &offload);
            }
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&checks)
            .map_err(|e| Error::with_code(e.to_string(), 1))?;
        // A reader that went away (`offload doctor | head`) is not an error.
        let _ = std::io::stdout()
            .lock()
            .write_all(format!("{text}\n").as_bytes());
    } else {
        let color = std::io::stdout().is_terminal() && env::var(env::NO_COLOR).is_none();
        let _ = std::io::stdout()
            .lock()
            .write_all(render(&checks, color).as_bytes());
    }
    Ok(u8::from(checks.iter().any(|c| c.status == Status::Fail)))
}

/// Everything the checks look at.
struct Ctx {
    cwd: PathBuf,
    home: Option<PathBuf>,
    paths: Result<Paths, shared::paths::NoHome>,
    scratch: Scratch,
}

impl Ctx {
    fn run_all(&self) -> Vec<Check> {
        let (config_check, config) = self.config();
        let mut checks = self.codex(&config);
        let (claude_check, claude_version) = self.claude();
        checks.push(claude_check);
        checks.push(self.offload_on_path());
        checks.extend(self.settings(claude_version, &config));
        checks.extend(self.state());
        checks.push(config_check);
        checks.push(self.hook_self_test());
        checks.push(self.statusline_self_test());
        checks.push(self.tamper_check());
        checks.push(self.telemetry_check(&config));
        checks
    }

    /// OTLP export: off, or where each signal goes and how far it has been sent.
    fn telemetry_check(&self, config: &Config) -> Check {
        use shared::telemetry::{Settings, export};
        let settings = Settings::from_env(&config.telemetry, Some(&self.cwd));
        let notes = settings.notes.join("; ");
        if !settings.enabled() {
            let detail = "off (offload's metrics and spans stay in the ledger)".to_string();
            return if notes.is_empty() {
                Check::ok("telemetry", detail)
            } else {
                Check::warn(
                    "telemetry",
                    format!("{detail}: {notes}"),
                    "see README \"Team telemetry\"",
                )
            };
        }
        let Ok(paths) = &self.paths else {
            return Check::warn("telemetry", "no state folder", "set HOME or OFFLOAD_HOME");
        };
        let len = std::fs::metadata(paths.events()).map_or(0, |m| m.len());
        let mut lines = Vec::new();
        let mut failing = None;
        for t in settings.targets() {
            let cursor = export::read_cursor(paths, t);
            let state = match &cursor {
                Err(e) => {
                    failing = Some(e.clone());
                    format!(
                        "its progress file is damaged, so nothing is sent: {e} (move it away: the last hour is sent again)"
                    )
                }
                Ok(None) if len == 0 => "nothing recorded yet".to_string(),
                Ok(None) => "not sent yet".to_string(),
                Ok(Some(c)) => {
                    let behind = len.saturating_sub(c.offset);
                    let mut s = match c.last_ok {
                        Some(t) => format!(
                            "last sent {}",
                            t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")
                        ),
                        None => "never sent".into(),
                    };
                    if behind > 0 {
                        s.push_str(&format!(", {behind} bytes of the ledger not sent yet"));
                    }
                    if let Some(e) = &c.last_error {
                        s.push_str(&format!(", last error: {e}"));
                        if c.last_error_at > c.last_ok {
                            failing = Some(e.clone());
                        }
                    }
                    for r in &c.replays {
                        s.push_str(&format!(
                            ", {} events since {} sent again on {} (counted twice where they had arrived)",
                            r.events,
                            r.since.map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
                            r.at.map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
                        ));
                    }
                    for k in &c.skipped {
                        s.push_str(&format!(
                            ", {} events skipped on request on {}",
                            k.events,
                            k.at.map(|t| t
                                .with_timezone(&chrono::Local)
                                .format("%Y-%m-%d %H:%M")
                                .to_string())
                                .unwrap_or_default(),
                        ));
                    }
                    s
                }
            };
            lines.push(format!(
                "{} → {} ({}): {state}",
                t.signal.as_str(),
                t.url,
                t.protocol.as_str()
            ));
        }
        let mut detail = format!(
            "on, from {}: {}",
            settings.sources.join(" + "),
            lines.join("; ")
        );
        let mut notes = notes;
        // One trace needs codex's own export too (README "Team telemetry").
        if settings.traces.is_some() {
            let home = env::var(env::CODEX_HOME)
                .map(PathBuf::from)
                .or_else(|| self.home.as_ref().map(|h| h.join(".codex")));
            let config = home
                .as_deref()
                .and_then(|h| shared::fsutil::read_regular_text(&h.join("config.toml"), 1 << 20));
            let exports = config.as_deref().is_some_and(|t| {
                t.lines().any(|l| {
                    let l = l.trim();
                    l == "[otel]" || l.starts_with("[otel.") || l.starts_with("otel.")
                })
            });
            if !exports {
                let n = "codex exports no spans (no [otel] in its config.toml): its turns are not in \
                         offload's traces; see README \"Team telemetry\" for its trace_exporter line";
                notes = if notes.is_empty() {
                    n.to_string()
                } else {
                    format!("{notes}; {n}")
                };
            }
        }
        if !notes.is_empty() {
            detail.push_str(&format!("; {notes}"));
        }
        match failing {
            Some(_) => Check::warn(
                "telemetry",
                detail,
                format!(
                    "nothing is lost: the ledger keeps it; when the collector answers, `{} export` sends it",
                    shared::shell::this_offload()
                ),
            ),
            None if !notes.is_empty() => {
                Check::warn("telemetry", detail, "see README \"Team telemetry\"")
            }
            None => Check::ok("telemetry", detail),
        }
    }

    /// What the statusline's red flag stands for (see `shared::tamper`): offload's wiring
    /// switched off or broken where setup put it, and records offload could not have written in
    /// the sessions of the last week.
    fn tamper_check(&self) -> Check {
        let name = "tamper";
        let Ok(paths) = &self.paths else {
            return Check::ok(name, "no state folder");
        };
        let mut findings = Vec::new();
        if paths.state_dir.join("setup.json").exists() {
            let files = shared::tamper::settings_files(
                self.home.as_deref(),
                Some(&self.cwd),
                &shared::tamper::managed_dir(),
            );
            findings.extend(shared::tamper::wiring_findings(&files));
            findings.extend(shared::tamper::binary_findings(&paths.state_dir));
        }
        findings.extend(shared::tamper::config_findings(
            &shared::config::Config::load_file(&paths.config_file)
                .config
                .guard,
        ));
        let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
        for e in std::fs::read_dir(paths.sessions_dir())
            .into_iter()
            .flatten()
            .flatten()
            .take(10_000)
        {
            let Some(Ok(s)) = shared::fsutil::read_regular(&e.path(), 16 << 20)
                .ok()
                .flatten()
                .map(|b| serde_json::from_slice::<shared::ledger::SessionSummary>(&b))
            else {
                continue;
            };
            if s.last_event.is_some_and(|t| t >= week_ago) {
                for f in shared::tamper::ledger_findings(Some(&s)) {
                    findings.push(format!("session {}: {f}", s.session));
                }
            }
        }
        if findings.is_empty() {
            Check::ok(name, "nothing switched off or forged")
        } else {
            Check::warn(
                name,
                findings.join("; "),
                "undo what changed it (run `offload setup` to rewire; check who wrote the records) and tell whoever uses this machine",
            )
        }
    }

    /// `./x` for paths in the current folder and `~/x` for paths under the home folder:
    /// shorter, and the same on every machine.
    fn show(&self, p: &Path) -> String {
        if self.home.as_deref() != Some(self.cwd.as_path())
            && let Ok(rest) = p.strip_prefix(&self.cwd)
        {
            return format!("./{}", rest.display());
        }
        if let Some(home) = &self.home
            && let Ok(rest) = p.strip_prefix(home)
        {
            return format!("~/{}", rest.display());
        }
        p.display().to_string()
    }

    /// The config check, and the config with the environment applied.
    fn config(&self) -> (Check, Config) {
        let name = "config";
        let Ok(paths) = &self.paths else {
            return (
                Check::fail(
                    name,
                    "no home folder to find the config in",
                    format!("set {} to a folder", env::OFFLOAD_HOME),
                ),
                Config::default(),
            );
        };
        let loaded = Config::load_for_project(&paths.config_file, Some(&self.cwd));
        let mut config = loaded.config;
        let mut problems: Vec<String> = loaded.warnings.iter().map(|w| w.0.clone()).collect();
        problems.extend(config.apply_env().into_iter().map(|w| w.0));
        // Numbers out of range were reported (and their defaults used) by the load and by
        // apply_env; a check here catches one that got past them.
        let r = &config.runner;
        for (key, value, range) in [
            ("runner.timeout", &r.timeout, limits::TIMEOUT),
            ("runner.kill_grace", &r.kill_grace, limits::KILL_GRACE),
        ] {
            if let Err(e) = range.parse(value) {
                problems.push(format!("{key}: {e}"));
            }
        }
        if r.dual_sandbox.parse::<Sandbox>().is_err() {
            problems.push(format!(
                "runner.dual_sandbox {:?} is not a sandbox (read-only, workspace-write, danger-full-access)",
                r.dual_sandbox
            ));
        }
        // Collector credentials in a file others can read.
        if !config.telemetry.headers.is_empty() {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(&paths.config_file)
                && m.permissions().mode() & 0o077 != 0
            {
                problems.push(format!(
                    "telemetry.headers (collector credentials) are in {}, which other users can read: \
                     chmod 600 {}",
                    paths.config_file.display(),
                    paths.config_file.display()
                ));
            }
        }
        let scope = config.guard.attempt_scope.trim();
        if !matches!(scope, "turn" | "session" | "")
            && let Err(e) = limits::ATTEMPT_SCOPE.parse(scope)
        {
            problems.push(format!("guard.attempt_scope: {e}; it reads as \"turn\""));
        }
        if let Err(e) = shared::policy::scope::check_globs(&config.guard) {
            problems.push(format!("guard globs: {e}"));
        }
        let env_mode = env::var(env::OFFLOAD_MODE);
        let mode = match env_mode.as_deref() {
            Some(m) => match Mode::parse(m) {
                Some(mode) => mode,
                None => {
                    problems.push(format!(
                        "{}={m:?} is not enforce, warn or off",
                        env::OFFLOAD_MODE
                    ));
                    config.guard.mode
                }
            },
            None => config.guard.mode,
        };
        let source = match &loaded.source {
            Some(p) => self.show(p),
            None => format!("defaults (no {})", self.show(&paths.config_file)),
        };
        let detail = format!("{source} · guard {}", mode.as_str());
        let check = if !problems.is_empty() {
            Check::warn(
                name,
                format!("{detail} · {}", problems.join("; ")),
                "fix the values named; until then offload uses the defaults for them",
            )
        } else if mode == Mode::Off {
            Check::warn(
                name,
                format!("{detail}: the guard lets everything through"),
                format!(
                    "set guard.mode to \"enforce\" in {} (or unset {})",
                    self.show(&paths.config_file),
                    env::OFFLOAD_MODE
                ),
            )
        } else {
            Check::ok(name, detail)
        };
        (check, config)
    }

    /// `codex` found and its version; the flags its `exec` takes.
    fn codex(&self, config: &Config) -> Vec<Check> {
        let (name, source) = if let Some(v) = env::var(env::CODEX_BIN) {
            (v.trim().to_owned(), env::CODEX_BIN.to_owned())
        } else if config.runner.codex_bin != "codex" {
            (
                config.runner.codex_bin.clone(),
                "config runner.codex_bin".into(),
            )
        } else {
            ("codex".to_owned(), "PATH".into())
        };
        let install = "install Codex CLI (npm install -g @openai/codex), or set CODEX_BIN (or runner.codex_bin in the config) to its path";
        let bin = match resolve_bin(&name) {
            Ok(p) => p,
            Err(e) => {
                let from = if source == "PATH" {
                    String::new()
                } else {
                    format!(" (from {source})")
                };
                return vec![Check::fail(
                    "codex",
                    format!("{e}{from}: every offload run would fail closed"),
                    install,
                )];
            }
        };
        let codex_home = match env::var(env::CODEX_HOME) {
            Some(h) => PathBuf::from(h),
            None => {
                let h = self.scratch.path.join("codex-home");
                let _ = std::fs::create_dir_all(&h);
                h
            }
        };
        let run = |args: &[&str]| {
            let mut cmd = Command::new(&bin);
            cmd.args(args)
                .env(env::CODEX_HOME, &codex_home)
                .current_dir(&self.scratch.path);
            run_bounded(cmd, None, PROGRAM_WAIT)
        };
        let shown = self.show(&bin);
        let version = match run(&["--version"]) {
            Ok(r) if r.code == Some(0) && !r.stdout.trim().is_empty() => {
                first_line(&r.stdout).to_owned()
            }
            Ok(r) => {
                return vec![Check::fail(
                    "codex",
                    format!(
                        "{shown} (from {source}) did not answer --version: {}",
                        r.why()
                    ),
                    format!("reinstall it; {install}"),
                )];
            }
            Err(e) => {
                return vec![Check::fail(
                    "codex",
                    format!("{shown} (from {source}) could not be run: {e}"),
                    install,
                )];
            }
        };
        let flags = match run(&["exec", "--help"]) {
            Ok(r) if r.code == Some(0) => Self::flags_check(&r.stdout),
            Ok(r) => Check::fail(
                "codex flags",
                format!("`codex exec --help` failed: {}", r.why()),
                "upgrade Codex CLI: npm install -g @openai/codex@latest",
            ),
            Err(e) => Check::fail(
                "codex flags",
                format!("`codex exec --help` could not be run: {e}"),
                "upgrade Codex CLI: npm install -g @openai/codex@latest",
            ),
        };
        let state_dir = self
            .paths
            .as_ref()
            .ok()
            .map(|p| p.state_dir.as_path())
            .filter(|d| d.is_dir());
        let known = catalog::refresh(
            state_dir,
            &bin,
            Some(&codex_home),
            PROGRAM_WAIT,
            catalog::version_of(&version).as_deref(),
        );
        vec![
            tested_check(
                "codex",
                format!("{version} · {shown} (from {source})"),
                ClaudeVersion::parse(&version),
                shared::pins::CODEX,
                "npm install -g @openai/codex@",
            ),
            self.codex_login(&bin),
            flags,
            self.models_check(config, known),
        ]
    }

    /// Whether codex knows the models offload routes to: one it does not know runs on fallback
    /// metadata. A warning names them, what codex offers instead (its listed models, in its
    /// order) and the command that switches to them.
    fn models_check(&self, config: &Config, known: Result<Catalog, String>) -> Check {
        let name = "models";
        let r = &config.runner;
        let routed = shared::plan::RoutingPolicy::from(r);
        let roles: Vec<String> = routed
            .models()
            .iter()
            .map(|(m, uses)| format!("{m} ({})", uses.join(", ")))
            .collect();
        let roles_text = and_list(&roles);
        let c = match known {
            Ok(c) => c,
            Err(why) => {
                return Check::warn(
                    name,
                    format!("{roles_text}: could not check them against codex's catalog ({why})"),
                    "upgrade Codex CLI (npm install -g @openai/codex@latest): `codex debug models --bundled` lists the models it knows",
                );
            }
        };
        let unknown: Vec<String> = routed
            .models()
            .iter()
            .filter(|(m, _)| !c.knows(m))
            .map(|(m, uses)| format!("{m} ({})", uses.join(", ")))
            .collect();
        if unknown.is_empty() {
            let upgrades: Vec<String> = routed
                .models()
                .iter()
                .filter_map(|(m, _)| {
                    let to = c.get(m)?.upgrade.as_deref()?;
                    Some(format!("{to} over {m}"))
                })
                .collect();
            let mut detail = format!("{roles_text}: in {}'s catalog", c.codex());
            if !upgrades.is_empty() {
                detail.push_str(&format!(" (codex suggests {})", upgrades.join(", ")));
            }
            return Check::ok(name, detail);
        }
        let offered: Vec<String> = c
            .candidates()
            .iter()
            .take(12)
            .map(|m| {
                let d = m.description.trim_end_matches('.');
                if d.is_empty() {
                    m.slug.clone()
                } else {
                    format!("{} ({d})", m.slug)
                }
            })
            .collect();
        let more = c.candidates().len().saturating_sub(offered.len());
        let verb = if unknown.len() == 1 { "is" } else { "are" };
        let mut detail = format!(
            "{} {verb} not in {}'s catalog: codex runs {} on fallback metadata, which can degrade its work",
            and_list(&unknown),
            c.codex(),
            if unknown.len() == 1 { "it" } else { "them" },
        );
        if offered.is_empty() {
            detail.push_str("; it lists no model to offer");
        } else {
            detail.push_str(&format!("; it offers {}", offered.join(", ")));
            if more > 0 {
                detail.push_str(&format!(" and {more} more"));
            }
        }
        Check::warn(name, detail, self.models_fix(config, &c))
    }

    /// The one command (and, where the environment overrides the config, the variables) that
    /// routes to models codex knows: its first listed model for each role it does not know.
    fn models_fix(&self, config: &Config, c: &Catalog) -> String {
        let r = &config.runner;
        let Some(pick) = c.candidates().first().map(|m| m.slug.clone()) else {
            return "offload setup --code-model <model> --logic-model <model>, with models from `codex debug models`".into();
        };
        let mut flags = Vec::new();
        let mut vars = Vec::new();
        for (flag, var, model) in [
            ("--code-model", env::CODEX_MODEL_CODE, &r.model_code),
            ("--logic-model", env::CODEX_MODEL_LOGIC, &r.model_logic),
        ] {
            if c.knows(model) {
                continue;
            }
            if env::var(var).is_some() {
                vars.push(format!("{var}={pick}"));
            } else {
                flags.push(format!("{flag} {pick}"));
            }
        }
        let mut parts = Vec::new();
        if !flags.is_empty() {
            parts.push(format!("offload setup {}", flags.join(" ")));
        }
        // The default model follows the logic model when it is the same; else it is its own.
        if !c.knows(&r.model) && r.model != r.model_logic {
            match env::var(env::CODEX_MODEL) {
                Some(_) => vars.push(format!("{}={pick}", env::CODEX_MODEL)),
                None => parts.push(format!(
                    "set \"model\" under \"runner\" in {} to one of them",
                    self.paths
                        .as_ref()
                        .map_or_else(|_| "the config".into(), |p| self.show(&p.config_file))
                )),
            }
        }
        if !vars.is_empty() {
            parts.push(format!(
                "set {} (the environment overrides the config)",
                vars.join(" ")
            ));
        }
        parts.join("; and ")
    }

    /// The `codex flags` check from `codex exec --help`.
    fn flags_check(help: &str) -> Check {
        let flags = help_flags(help);
        let missing: Vec<&str> = CODEX_FLAGS
            .iter()
            .copied()
            .filter(|f| !flags.iter().any(|h| h == f))
            .collect();
        let full_auto = if flags.iter().any(|h| h == "--full-auto") {
            "--full-auto still listed, and not needed"
        } else {
            "--full-auto not needed"
        };
        if missing.is_empty() {
            Check::ok(
                "codex flags",
                format!("exec takes {}; {full_auto}", CODEX_FLAGS.join(" ")),
            )
        } else {
            Check::fail(
                "codex flags",
                format!("`codex exec` lacks {}", missing.join(" ")),
                "upgrade Codex CLI: npm install -g @openai/codex@latest (offload runs `codex exec --json --skip-git-repo-check -m M -s S -C DIR -c … -o FILE`)",
            )
        }
    }

    /// Whether codex can authenticate: `codex login status` with the user's own `CODEX_HOME`
    /// (it only reads). Not logged in, a run only says "Reconnecting…" until its timeout. A
    /// `config.toml` whose `model_provider` is not OpenAI's needs no login (its own key), and
    /// `CODEX_API_KEY` in the environment is what `codex exec` uses without one. A `config.toml`
    /// codex cannot load fails every run, logged in or not: said with codex's own error.
    fn codex_login(&self, bin: &Path) -> Check {
        let name = "codex login";
        let home = env::var(env::CODEX_HOME)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".codex")));
        let provider = home
            .as_deref()
            .and_then(|h| shared::fsutil::read_regular_text(&h.join("config.toml"), 1 << 20))
            .and_then(|t| model_provider(&t))
            .filter(|p| p != "openai");
        let fix = "run `codex login` (a ChatGPT account), or `printenv OPENAI_API_KEY | codex login --with-api-key`";
        let api_key = env::var("CODEX_API_KEY").is_some();
        if let Some(h) = home.as_deref().filter(|h| !h.exists()) {
            // Never logged in (and nothing is created there by asking).
            return if api_key {
                Check::ok(
                    name,
                    "not logged in, but CODEX_API_KEY is set (codex exec uses it)",
                )
            } else {
                Check::fail(
                    name,
                    format!(
                        "codex was never logged in ({} does not exist): every offload run would only retry until its timeout",
                        self.show(h)
                    ),
                    fix,
                )
            };
        }
        let mut cmd = Command::new(bin);
        cmd.args(["login", "status"])
            .current_dir(&self.scratch.path)
            .stdin(std::process::Stdio::null());
        let ran = run_bounded(cmd, None, PROGRAM_WAIT);
        // A config codex cannot load stops every run, whoever is logged in: codex's own words,
        // and the file to fix.
        if let Ok(r) = &ran
            && r.code != Some(0)
            && let Some(said) = stderr_reason(&format!("{}\n{}", r.stderr, r.stdout))
                .filter(|s| s.starts_with("Error loading config") || s.contains("config.toml:"))
        {
            let file = home.as_deref().map_or_else(
                || "codex's config.toml".to_owned(),
                |h| self.show(&h.join("config.toml")),
            );
            return Check::fail(
                name,
                format!(
                    "`codex login status`: {said} — codex cannot load its config, so every \
                     offload run would fail at once"
                ),
                format!(
                    "fix {file} (`codex login status` shows the error), then run `offload doctor` again"
                ),
            );
        }
        if let Some(provider) = provider {
            return Check::ok(
                name,
                format!("model provider `{provider}` (config.toml): no OpenAI login needed"),
            );
        }
        match ran {
            Ok(r) if r.code == Some(0) => {
                let said = format!("{}\n{}", r.stdout, r.stderr);
                Check::ok(name, first_line(said.trim()).to_owned())
            }
            Ok(r) => {
                if api_key {
                    return Check::ok(
                        name,
                        "not logged in, but CODEX_API_KEY is set (codex exec uses it)",
                    );
                }
                let said = format!("{}\n{}", r.stdout, r.stderr);
                let said = said
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with("WARNING"))
                    .unwrap_or("no answer")
                    .to_owned();
                Check::fail(
                    name,
                    format!(
                        "`codex login status`: {said} — every offload run would only retry \
                         (\"Reconnecting…\") until its timeout"
                    ),
                    fix,
                )
            }
            Err(e) => Check::warn(
                name,
                format!("`codex login status` could not be run: {e}"),
                fix,
            ),
        }
    }

    /// `offload` on `PATH` is this one. When it is not, the commands the guard gives Claude name
    /// it by its full path (so routing works), but the user's own terminal needs the path too.
    fn offload_on_path(&self) -> Check {
        let name = "offload on PATH";
        let this = std::env::current_exe()
            .ok()
            .map(|e| e.with_file_name("offload"))
            .filter(|b| b.is_file());
        let Some(this) = this else {
            return Check::ok(name, "not checked (this executable's folder is unknown)");
        };
        let command = shared::shell::this_offload();
        let dir = this.parent().map(|d| self.show(d)).unwrap_or_default();
        if command == "offload" {
            return Check::ok(name, self.show(&this));
        }
        let add = format!(
            "add {dir} to PATH in your shell's startup file (export PATH=\"{}:$PATH\"), then open a new terminal",
            this.parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        );
        match resolve_bin("offload") {
            Ok(other) => Check::warn(
                name,
                format!(
                    "`offload` on PATH is {}, not this one ({}): an older install? Claude is given this one by its path ({command})",
                    self.show(&other),
                    self.show(&this)
                ),
                format!("remove the other one, or {add}"),
            ),
            Err(_) => Check::warn(
                name,
                format!(
                    "`offload` is not on PATH: Claude is given it by its path ({command}), so routing works; in your terminal it needs the path too"
                ),
                add,
            ),
        }
    }

    /// Claude Code's version and which hook features it has.
    fn claude(&self) -> (Check, Option<ClaudeVersion>) {
        let name = "claude code";
        let bin_name = env::var(env::OFFLOAD_CLAUDE_BIN)
            .map_or_else(|| "claude".to_owned(), |v| v.trim().to_owned());
        let hint = "install Claude Code (npm install -g @anthropic-ai/claude-code), or set OFFLOAD_CLAUDE_BIN to its path";
        let bin = match resolve_bin(&bin_name) {
            Ok(p) => p,
            Err(e) => {
                return (
                    Check::warn(name, format!("{e}: hook features cannot be checked"), hint),
                    None,
                );
            }
        };
        let shown = self.show(&bin);
        let mut cmd = Command::new(&bin);
        cmd.arg("--version").current_dir(&self.scratch.path);
        let out = match run_bounded(cmd, None, PROGRAM_WAIT) {
            Ok(r) if r.code == Some(0) => r.stdout,
            Ok(r) => {
                return (
                    Check::warn(
                        name,
                        format!("{shown} did not answer --version: {}", r.why()),
                        hint,
                    ),
                    None,
                );
            }
            Err(e) => {
                return (
                    Check::warn(name, format!("{shown} could not be run: {e}"), hint),
                    None,
                );
            }
        };
        let Some(v) = ClaudeVersion::parse(&out) else {
            return (
                Check::warn(
                    name,
                    format!("{shown} answered {:?}, not a version", first_line(&out)),
                    hint,
                ),
                None,
            );
        };
        let yes = |since: ClaudeVersion| if v >= since { "yes" } else { "no" };
        let detail = format!(
            "{v} · {shown} · hook onFailure: {} (≥ {ON_FAILURE_SINCE}) · Agent tool name: {} (≥ {AGENT_TOOL_SINCE}) · {PRE_SKILL_SHELL_COMMAND}: {} (≥ {SKILL_SHELL_SINCE})",
            yes(ON_FAILURE_SINCE),
            yes(AGENT_TOOL_SINCE),
            yes(SKILL_SHELL_SINCE),
        );
        let check = if v < AGENT_TOOL_SINCE {
            Check::warn(
                name,
                detail,
                "upgrade Claude Code; this version calls the subagent tool Task (the guard still matches it)",
            )
        } else {
            tested_check(
                name,
                detail,
                Some(v),
                shared::pins::CLAUDE,
                "npm install -g @anthropic-ai/claude-code@",
            )
        };
        (check, Some(v))
    }

    /// The settings files Claude Code merges, in order of precedence (lowest first).
    fn settings_files(&self) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        if let Some(home) = &self.home {
            files.push(home.join(".claude").join("settings.json"));
        }
        files.push(self.cwd.join(".claude").join("settings.json"));
        files.push(self.cwd.join(".claude").join("settings.local.json"));
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for f in files {
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let shown = self.show(&f);
            out.push((f, shown));
        }
        out
    }

    /// Settings files readable; offload's hooks and statusline wired in them.
    fn settings(&self, claude: Option<ClaudeVersion>, config: &Config) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut read: Vec<(String, Value)> = Vec::new();
        let mut broken = Vec::new();
        for (path, shown) in self.settings_files() {
            match std::fs::read(&path) {
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) if v.is_object() => match shared::settings::schema_problems(&v).first() {
                        Some(p) => broken.push(format!(
                            "{shown} does not fit Claude Code's settings schema ({p})"
                        )),
                        None => read.push((shown, v)),
                    },
                    Ok(_) => broken.push(format!("{shown} is not a JSON object")),
                    Err(e) => broken.push(format!("{shown} is not valid JSON ({e})")),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => broken.push(format!("{shown}: {e}")),
            }
        }
        let names: Vec<&str> = read.iter().map(|(s, _)| s.as_str()).collect();
        checks.push(if !broken.is_empty() {
            Check::fail(
                "settings",
                broken.join("; "),
                "fix the file (Claude Code ignores settings it cannot parse or that do not fit its schema), or run `offload setup` after moving it away",
            )
        } else if read.is_empty() {
            Check::warn(
                "settings",
                "no Claude Code settings file (~/.claude/settings.json, .claude/settings.json, .claude/settings.local.json)",
                "run `offload setup` (user settings) or `offload setup --project`",
            )
        } else {
            Check::ok("settings", names.join(", "))
        });

        let plugin = read.iter().find_map(|(shown, v)| {
            crate::setup::offload_plugin(v).map(|k| format!("plugin {k} (enabled in {shown})"))
        });
        for (event, essential) in HOOK_EVENTS {
            checks.push(self.hook_check(event, essential, &read, plugin.as_deref(), claude));
        }
        checks.push(self.skill_shell_check(&read, claude));
        checks.push(self.review_gate_check(&read, config));
        checks.push(self.statusline_check(&read));
        checks
    }

    /// The review gate: off unless the config turns it on; on, it needs offload-hook on Stop
    /// (once) with a timeout past the review's, without `onFailure`, and git.
    fn review_gate_check(&self, read: &[(String, Value)], config: &Config) -> Check {
        let name = "review gate";
        let gate = &config.guard.review_gate;
        let found = found_hooks(read, REVIEW_EVENT);
        let on_hint = "run `offload setup --review-gate` (add --project for a project's settings)";
        if !gate.enabled {
            return match found.first() {
                None => Check::ok(name, "off (`offload setup --review-gate` turns it on)"),
                Some((shown, _)) => Check::ok(
                    name,
                    format!(
                        "off in the config; the Stop hook in {shown} does nothing (`offload setup --no-review-gate` takes it out)"
                    ),
                ),
            };
        }
        let what = format!(
            "on: {} round{} per turn, diffs up to {} KiB reviewed within {}",
            gate.rounds(),
            if gate.rounds() == 1 { "" } else { "s" },
            gate.max_diff_bytes() / 1024,
            shared::format::millis(gate.timeout().as_millis() as u64)
        );
        let Some((shown, hook)) = found.first() else {
            return Check::warn(
                name,
                format!("{what}, but no Stop hook runs offload-hook: nothing is reviewed"),
                on_hint,
            );
        };
        if let Some(twice) = runs_twice(name, REVIEW_EVENT, &found, None) {
            return twice;
        }
        let needed = gate.timeout().as_secs_f64() + 30.0;
        if let Some(t) = hook.timeout.filter(|t| *t < needed) {
            return Check::warn(
                name,
                format!(
                    "{what}, but the Stop hook in {shown} has a timeout of {t}s: Claude Code would end a review before its own deadline"
                ),
                on_hint,
            );
        }
        if hook.on_failure {
            return Check::warn(
                name,
                format!(
                    "{what}, but the Stop hook in {shown} has onFailure: a crash or timeout would block every stop"
                ),
                on_hint,
            );
        }
        let git = run_bounded(
            {
                let mut c = Command::new("git");
                c.arg("--version");
                c
            },
            None,
            PROGRAM_WAIT,
        );
        if !git.as_ref().is_ok_and(|r| r.code == Some(0)) {
            return Check::warn(
                name,
                format!("{what}, but git does not run here: no stop can be reviewed"),
                "install git",
            );
        }
        Check::ok(name, format!("{what} (Stop hook in {shown})"))
    }

    fn hook_check(
        &self,
        event: &str,
        essential: bool,
        read: &[(String, Value)],
        plugin: Option<&str>,
        claude: Option<ClaudeVersion>,
    ) -> Check {
        let name = format!("hook {event}");
        let found = found_hooks(read, event);
        if found.is_empty() {
            let detail = format!(
                "no {event} hook runs offload-hook{}",
                match event {
                    "PreToolUse" => ": Claude works natively, nothing is routed to Codex",
                    "PostToolUse" | "PostToolUseFailure" =>
                        ": the guard does not see how Claude's Bash commands end",
                    _ => "",
                }
            );
            return match plugin {
                Some(p) => Check::ok(&name, format!("via {p}")),
                None if essential => Check::fail(&name, detail, SETUP_HINT),
                None => Check::warn(&name, detail, SETUP_HINT),
            };
        }
        if let Some(twice) = runs_twice(&name, event, &found, plugin) {
            return twice;
        }
        // Claude Code runs every registered hook: one that works is enough.
        let mut judged: Vec<Check> = found
            .iter()
            .map(|(shown, hook)| self.judge_hook(&name, event, shown, hook, claude))
            .collect();
        judged.sort_by_key(|c| c.status);
        judged.swap_remove(0)
    }

    /// Skills' inline `` !`cmd` `` commands: Claude Code 2.1.332 and later fire
    /// PreSkillShellCommand before each, which offload-hook must get (the plugin cannot register
    /// it: Claude Code 2.1.197 rejects a plugin's hooks.json naming it); older versions fire no
    /// hook at all, so only `"disableSkillShellExecution": true` closes that gap.
    fn skill_shell_check(&self, read: &[(String, Value)], claude: Option<ClaudeVersion>) -> Check {
        let event = PRE_SKILL_SHELL_COMMAND;
        let name = format!("hook {event}");
        // The most specific file that sets it wins: local, then project, then user.
        let disabled = read.iter().rev().find_map(|(shown, v)| {
            v.get(DISABLE_SKILL_SHELL)
                .and_then(Value::as_bool)
                .map(|on| (shown.clone(), on))
        });
        let found = found_hooks(read, event);
        let close_gap = format!(
            "add \"{DISABLE_SKILL_SHELL}\": true to ~/.claude/settings.json to stop them, or upgrade \
             Claude Code to {SKILL_SHELL_SINCE} or later and run `offload setup`"
        );
        match (claude, &disabled) {
            (_, Some((shown, true))) => Check::ok(
                &name,
                format!(
                    "skills' inline shell commands are off (\"{DISABLE_SKILL_SHELL}\": true in {shown})"
                ),
            ),
            (Some(v), _) if v < SKILL_SHELL_SINCE => Check::warn(
                &name,
                format!(
                    "Claude Code {v} has no {event} event: shell commands that skills run inline (!`cmd`) run without any offload check"
                ),
                close_gap,
            ),
            (claude, _) if found.is_empty() => match claude {
                Some(v) => Check::fail(
                    &name,
                    format!(
                        "no {event} hook runs offload-hook: Claude Code {v} runs the shell commands of skills (!`cmd`) unchecked"
                    ),
                    format!(
                        "{SETUP_HINT} (the offload plugin cannot register this event), or add \"{DISABLE_SKILL_SHELL}\": true to your settings"
                    ),
                ),
                None => Check::warn(
                    &name,
                    format!(
                        "Claude Code's version is unknown and no {event} hook runs offload-hook: shell commands that skills run inline (!`cmd`) may run unchecked"
                    ),
                    close_gap,
                ),
            },
            (claude, _) => {
                if let Some(twice) = runs_twice(&name, event, &found, None) {
                    return twice;
                }
                let mut judged: Vec<Check> = found
                    .iter()
                    .map(|(shown, hook)| self.judge_hook(&name, event, shown, hook, claude))
                    .collect();
                judged.sort_by_key(|c| c.status);
                judged.swap_remove(0)
            }
        }
    }

    /// One registered offload hook: its program is there, its keys suit this Claude Code, and
    /// (PreToolUse) its matcher covers the tools the guard judges.
    fn judge_hook(
        &self,
        name: &str,
        event: &str,
        shown: &str,
        hook: &HookEntry,
        claude: Option<ClaudeVersion>,
    ) -> Check {
        let target = match self.command_target(&hook.command) {
            Target::File(p) if !is_executable(&p) => {
                return Check::fail(
                    name,
                    format!(
                        "{} (in {shown}) {}",
                        self.show(&p),
                        if p.exists() {
                            "is not executable"
                        } else {
                            "does not exist"
                        }
                    ),
                    "run ./install.sh from the offload repository (it installs offload-hook), then `offload setup`",
                );
            }
            Target::File(p) => self.show(&p),
            Target::Unresolved(cmd) => cmd,
        };
        if hook.on_failure
            && let Some(v) = claude
            && v < ON_FAILURE_SINCE
        {
            return Check::fail(
                name,
                format!(
                    "{target} (in {shown}) uses onFailure, which Claude Code {v} does not accept (it checks settings strictly)"
                ),
                "run `offload setup` again (it writes only keys your Claude Code accepts), or remove \"onFailure\"",
            );
        }
        if matches!(event, "PostToolUse" | "PostToolUseFailure")
            && !matcher_covers(hook.matcher.as_deref(), "Bash")
        {
            return Check::warn(
                name,
                format!(
                    "{target} (in {shown}): its matcher {:?} leaves out Bash",
                    hook.matcher.as_deref().unwrap_or("")
                ),
                "run `offload setup` to rewrite the matcher (Bash)",
            );
        }
        if event == "PreToolUse" {
            let missing = matcher_gaps(hook.matcher.as_deref());
            if !missing.is_empty() {
                return Check::warn(
                    name,
                    format!(
                        "{target} (in {shown}): its matcher {:?} leaves out {}",
                        hook.matcher.as_deref().unwrap_or(""),
                        missing.join(", ")
                    ),
                    format!("run `offload setup` to rewrite the matcher ({PRE_TOOL_USE_MATCHER})"),
                );
            }
        }
        Check::ok(name, format!("{target} (in {shown})"))
    }

    fn statusline_check(&self, read: &[(String, Value)]) -> Check {
        let name = "statusline";
        let setup = "run `offload setup`: it installs offload-statusline and keeps an existing statusline beside it (--wrap); with the offload plugin enabled it adds nothing else";
        // The most specific file wins: local, then project, then user.
        let lines: Vec<(&String, String, bool)> = read
            .iter()
            .rev()
            .filter_map(|(shown, v)| {
                let line = v.get("statusLine")?;
                let c = line.get("command")?.as_str()?;
                Some((shown, c.to_owned(), our_statusline(line).is_some()))
            })
            .collect();
        let Some((shown, command, ours)) = lines.first() else {
            return Check::warn(name, "no statusLine in the settings", setup);
        };
        if !ours {
            let ours = lines.iter().find(|line| line.2);
            return Check::warn(
                name,
                match ours {
                    Some((theirs, _, _)) => format!(
                        "offload-statusline in {theirs} is overridden by {command:?} in {shown}"
                    ),
                    None => format!(
                        "the statusLine is {command:?} (in {shown}), not offload-statusline"
                    ),
                },
                setup,
            );
        }
        match self.command_target(command) {
            Target::File(p) if !is_executable(&p) => Check::warn(
                name,
                format!(
                    "{} (in {shown}) {}",
                    self.show(&p),
                    if p.exists() {
                        "is not executable"
                    } else {
                        "does not exist"
                    }
                ),
                "run ./install.sh from the offload repository, then `offload setup`",
            ),
            Target::File(p) => Check::ok(name, format!("{} (in {shown})", self.show(&p))),
            Target::Unresolved(c) => Check::ok(name, format!("{c} (in {shown})")),
        }
    }

    /// The program a settings command runs, when it can be known without a shell.
    fn command_target(&self, command: &str) -> Target {
        let word = shell_words(command)
            .and_then(|w| w.into_iter().next())
            .unwrap_or_default();
        if word.contains('$') || word.is_empty() {
            return Target::Unresolved(word);
        }
        let expanded = match (word.strip_prefix("~/"), &self.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(&word),
        };
        if word.contains('/') {
            Target::File(expanded)
        } else {
            match resolve_bin(&word) {
                Ok(p) => Target::File(p),
                Err(_) => Target::File(PathBuf::from(word)),
            }
        }
    }

    /// State folder, ledger, summaries.
    fn state(&self) -> Vec<Check> {
        use std::os::unix::fs::PermissionsExt;
        let paths = match &self.paths {
            Ok(p) => p,
            Err(e) => {
                return vec![Check::fail(
                    "state folder",
                    e.to_string(),
                    format!("set {} to a folder", env::OFFLOAD_HOME),
                )];
            }
        };
        let dir = &paths.state_dir;
        let shown = self.show(dir);
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return vec![Check::ok(
                    "state folder",
                    format!("{shown} (not created yet: the first record creates it, mode 700)"),
                )];
            }
            Err(e) => {
                return vec![Check::fail(
                    "state folder",
                    format!("{shown}: {e}"),
                    format!(
                        "make it readable by you, or point {} elsewhere",
                        env::OFFLOAD_HOME
                    ),
                )];
            }
        };
        let mut checks = Vec::new();
        let mode = meta.permissions().mode() & 0o777;
        // Whether offload can record here at all (read-only, or full: every run would fail).
        let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &[0u8; 4096]));
        let _ = std::fs::remove_file(&probe);
        checks.push(if !meta.is_dir() {
            Check::fail(
                "state folder",
                format!("{shown} is not a folder"),
                format!("move it away, or point {} elsewhere", env::OFFLOAD_HOME),
            )
        } else if let Err(e) = writable {
            Check::fail(
                "state folder",
                format!("{shown} cannot be written ({e}): no attempt can be recorded, so every `offload run` fails closed"),
                "free space on its disk, or make it writable (it must be yours, mode 700)",
            )
        } else if mode != 0o700 {
            Check::warn(
                "state folder",
                format!("{shown} has mode {mode:o}: others can read what you worked on"),
                format!("chmod 700 {}", dir.display()),
            )
        } else {
            Check::ok("state folder", format!("{shown} (mode 700)"))
        });
        if !meta.is_dir() {
            return checks;
        }
        let ledger = Ledger::new(paths.clone());
        let events = paths.events();
        if !events.exists() {
            checks.push(Check::ok("ledger", "no events recorded yet"));
            return checks;
        }
        // A large log is not folded here (that is `offload stats --rebuild`): each summary is
        // checked against the line at its offset, which is what every reader checks.
        let log_len = std::fs::metadata(&events).map_or(0, |m| m.len());
        if log_len > QUICK_CHECK_ABOVE {
            checks.extend(quick_ledger_checks(&ledger, log_len));
            return checks;
        }
        // One streaming pass: the counts shown here, and the fold the summaries must equal.
        let scanned = ledger.scan();
        let (scan, disk) = match scanned {
            Ok(s) => s,
            Err(e) => {
                checks.push(Check::fail(
                    "ledger",
                    format!("cannot read events.jsonl: {e}"),
                    format!("check the permissions of {}", events.display()),
                ));
                return checks;
            }
        };
        checks.push(ledger_line(
            events_and_skipped(scan.events, scan.folded.totals.skipped_lines),
            scan.torn_tail,
        ));
        let folded = scan.expected();
        checks.push(if *folded == disk {
            Check::ok(
                "summaries",
                format!(
                    "totals.json and {} session summar{} match the log",
                    disk.sessions.len(),
                    if disk.sessions.len() == 1 { "y" } else { "ies" }
                ),
            )
        } else {
            {
                let mut diffs = Vec::new();
                if folded.totals != disk.totals {
                    diffs.push(if !paths.totals().exists() {
                        "totals.json is missing".to_owned()
                    } else {
                        "totals.json differs".to_owned()
                    });
                }
                let sessions = folded
                    .sessions
                    .iter()
                    .filter(|(id, s)| disk.sessions.get(*id) != Some(s))
                    .count()
                    + disk
                        .sessions
                        .keys()
                        .filter(|id| !folded.sessions.contains_key(*id))
                        .count();
                if sessions > 0 {
                    diffs.push(format!(
                        "{sessions} session summar{} differ or are missing",
                        if sessions == 1 { "y" } else { "ies" }
                    ));
                }
                Check::fail(
                    "summaries",
                    format!("not what a rebuild of the log gives: {}", diffs.join(", ")),
                    "run `offload stats --rebuild`",
                )
            }
        });
        checks
    }

    /// The binary beside this one, else the one on PATH.
    fn sibling(&self, name: &str) -> Option<PathBuf> {
        std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name(name))
            .filter(|p| is_executable(p))
            .or_else(|| resolve_bin(name).ok())
    }

    /// A scratch project and offload home for a self-test, and a command with a clean
    /// environment pointing at them.
    fn self_test_command(&self, bin: &Path, tag: &str) -> std::io::Result<(Command, PathBuf)> {
        let root = self.scratch.path.join(tag);
        let project = root.join("project");
        std::fs::create_dir_all(project.join("src"))?;
        std::fs::create_dir_all(root.join("home"))?;
        std::fs::create_dir_all(root.join("codex-home"))?;
        let project = std::fs::canonicalize(&project)?;
        let mut cmd = Command::new(bin);
        for v in [
            env::OFFLOAD_MODE,
            env::OFFLOAD_SESSION_ID,
            env::CLAUDE_CODE_SESSION_ID,
            env::CLAUDECODE,
            "CLAUDE_ENV_FILE",
            env::CODEX_BIN,
        ] {
            cmd.env_remove(v);
        }
        cmd.env(env::OFFLOAD_HOME, root.join("offload"))
            .env("HOME", root.join("home"))
            .env(env::CODEX_HOME, root.join("codex-home"))
            .env("CLAUDE_PROJECT_DIR", &project)
            .env(env::NO_COLOR, "1")
            .current_dir(&project);
        Ok((cmd, project))
    }

    /// Run `offload-hook` with a PreToolUse Edit of a .rs file in a fresh project: it must deny.
    fn hook_self_test(&self) -> Check {
        let name = "hook self-test";
        let reinstall = "run ./install.sh from the offload repository to reinstall offload-hook";
        let Some(bin) = self.sibling("offload-hook") else {
            return Check::fail(
                name,
                "offload-hook is neither beside offload nor on PATH",
                reinstall,
            );
        };
        let shown = self.show(&bin);
        let mut times = Vec::new();
        for i in 0..SELF_TEST_RUNS {
            let (cmd, project) = match self.self_test_command(&bin, "hook") {
                Ok(c) => c,
                Err(e) => {
                    return Check::fail(
                        name,
                        format!("cannot prepare a scratch project: {e}"),
                        reinstall,
                    );
                }
            };
            let payload = json!({
                "session_id": format!("offload-doctor-{i}"),
                "transcript_path": "",
                "cwd": project,
                "hook_event_name": "PreToolUse",
                "tool_name": "Edit",
                "tool_input": {
                    "file_path": project.join("src").join("main.rs"),
                    "old_string": "a",
                    "new_string": "b",
                    "replace_all": false,
                },
                "tool_use_id": "toolu_offload_doctor",
            })
            .to_string();
            let r = match run_bounded(cmd, Some(payload.as_bytes()), SELF_TEST_WAIT) {
                Ok(r) => r,
                Err(e) => {
                    return Check::fail(name, format!("{shown} could not be run: {e}"), reinstall);
                }
            };
            if !is_deny(&r.stdout) {
                return Check::fail(
                    name,
                    format!(
                        "{shown} did not deny an Edit of src/main.rs before any Codex attempt ({}): the guard would let Claude edit natively",
                        r.why()
                    ),
                    reinstall,
                );
            }
            times.push(r.elapsed);
        }
        let mut c = Check::ok(
            name,
            format!("{shown} denies an Edit of a .rs file before any Codex attempt"),
        );
        c.ms = median_ms(&mut times);
        c
    }

    /// Run `offload-statusline` with a minimal stdin: it must print its line.
    fn statusline_self_test(&self) -> Check {
        let name = "statusline self-test";
        let reinstall =
            "run ./install.sh from the offload repository to reinstall offload-statusline";
        let Some(bin) = self.sibling("offload-statusline") else {
            return Check::warn(
                name,
                "offload-statusline is neither beside offload nor on PATH",
                reinstall,
            );
        };
        let shown = self.show(&bin);
        let mut times = Vec::new();
        let mut line = String::new();
        for _ in 0..SELF_TEST_RUNS {
            let (cmd, project) = match self.self_test_command(&bin, "statusline") {
                Ok(c) => c,
                Err(e) => {
                    return Check::warn(
                        name,
                        format!("cannot prepare a scratch project: {e}"),
                        reinstall,
                    );
                }
            };
            let stdin = json!({"session_id": "offload-doctor", "cwd": project}).to_string();
            let r = match run_bounded(cmd, Some(stdin.as_bytes()), SELF_TEST_WAIT) {
                Ok(r) => r,
                Err(e) => {
                    return Check::warn(name, format!("{shown} could not be run: {e}"), reinstall);
                }
            };
            if !r.stdout.starts_with("Offload") {
                return Check::warn(
                    name,
                    format!("{shown} did not print its line ({})", r.why()),
                    reinstall,
                );
            }
            line = first_line(&r.stdout).to_owned();
            times.push(r.elapsed);
        }
        let mut c = Check::ok(name, format!("{shown} prints {line:?}"));
        c.ms = median_ms(&mut times);
        c
    }
}

/// What a settings command runs.
enum Target {
    File(PathBuf),
    /// Something only a shell could resolve (`${CLAUDE_PLUGIN_ROOT}/…`): shown as it is.
    Unresolved(String),
}

/// An offload hook found in a settings file.
#[derive(Debug, PartialEq)]
struct HookEntry {
    command: String,
    matcher: Option<String>,
    on_failure: bool,
    /// Its `timeout`, in seconds.
    timeout: Option<f64>,
}

/// The hooks for `event` in one settings value whose command runs offload-hook.
fn offload_hooks(settings: &Value, event: &str) -> Vec<HookEntry> {
    let Some(groups) = settings
        .get("hooks")
        .and_then(|h| h.get(event))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for g in groups {
        let matcher = g.get("matcher").and_then(Value::as_str).map(str::to_owned);
        for h in g
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(command) = h.get("command").and_then(Value::as_str) else {
                continue;
            };
            if is_our_hook(h) {
                out.push(HookEntry {
                    command: command.to_owned(),
                    matcher: matcher.clone(),
                    on_failure: h.get("onFailure").is_some() || g.get("onFailure").is_some(),
                    timeout: h.get("timeout").and_then(Value::as_f64),
                });
            }
        }
    }
    out
}

/// What to run when a hook is missing.
const SETUP_HINT: &str =
    "run `offload setup` (or `offload setup --project`) to register offload-hook";

/// The offload hooks for `event` in the settings files read, with the file each is in.
fn found_hooks(read: &[(String, Value)], event: &str) -> Vec<(String, HookEntry)> {
    read.iter()
        .flat_map(|(shown, v)| {
            offload_hooks(v, event)
                .into_iter()
                .map(move |h| (shown.clone(), h))
        })
        .collect()
}

/// `text` with each `offload …` command (in backticks, or the whole text) running `offload`.
fn full_commands(text: &str, offload: &str) -> String {
    let mut out = text.replace("`offload ", &format!("`{offload} "));
    if let Some(rest) = out.strip_prefix("offload ") {
        out = format!("{offload} {rest}");
    }
    out.replace("; and offload ", &format!("; and {offload} "))
}

/// The top-level `model_provider = "…"` of a codex `config.toml` (before the first table).
fn model_provider(toml: &str) -> Option<String> {
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            return None;
        }
        let Some(rest) = line.strip_prefix("model_provider") else {
            continue;
        };
        let value = rest.trim_start().strip_prefix('=')?.trim();
        let value = value.split('#').next()?.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))?;
        return Some(unquoted.to_owned());
    }
    None
}

/// offload-hook registered more than once for `event` (by different commands in several
/// settings files, or in one and by the plugin): Claude Code runs each, so every event is
/// recorded twice and the numbers double. The same command in several files runs once (Claude
/// Code runs identical hook commands once: seen in 2.1.330 and 2.1.332), so it counts once.
/// A warning naming where, and how to keep one that guards as widely.
fn runs_twice(
    name: &str,
    event: &str,
    found: &[(String, HookEntry)],
    plugin: Option<&str>,
) -> Option<Check> {
    let mut distinct: Vec<(&str, Vec<&str>)> = Vec::new();
    for (shown, hook) in found {
        let command = hook.command.trim();
        match distinct.iter_mut().find(|(c, _)| *c == command) {
            Some((_, files)) => files.push(shown),
            None => distinct.push((command, vec![shown])),
        }
    }
    let mut wheres: Vec<String> = distinct
        .iter()
        .map(|(_, files)| files.join(" and "))
        .collect();
    wheres.extend(plugin.map(str::to_owned));
    if wheres.len() < 2 {
        return None;
    }
    let user_file = "~/.claude/settings.json";
    let in_user = found.iter().any(|(shown, _)| shown == user_file);
    let in_project = found.iter().any(|(shown, _)| shown != user_file);
    let hint = match plugin {
        // The plugin only for this project, setup's hooks for every project: those guard more.
        Some(p) if in_user && !p.contains(&format!("(enabled in {user_file})")) => format!(
            "keep your user settings' hooks (they guard every project) and disable the plugin for \
             this project: `claude plugin disable offload@offload --scope {}`",
            if p.contains("settings.local.json") {
                "local"
            } else {
                "project"
            }
        ),
        Some(_) => format!(
            "keep the plugin's: run `offload setup --statusline-only{}`, which takes setup's hooks \
             out and keeps the statusline; or disable the plugin (`claude plugin disable offload@offload`)",
            if in_project && !in_user {
                " --project"
            } else {
                ""
            }
        ),
        None => {
            "keep one: `offload uninstall --project` removes the project's, `offload uninstall` \
                 the user's"
                .to_owned()
        }
    };
    Some(Check::warn(
        name,
        format!(
            "offload-hook runs {} times for each {event} ({}): every event is recorded as often, \
             and stats count it as often",
            wheres.len(),
            wheres.join(", ")
        ),
        hint,
    ))
}

/// Whether a matcher lets `tool` through: a plain `A|B` list naming it, or anything else (a
/// regex, empty, `*`), which is trusted.
fn matcher_covers(matcher: Option<&str>, tool: &str) -> bool {
    let m = matcher.unwrap_or("").trim();
    let plain = m
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '|');
    m.is_empty() || m == "*" || !plain || m.split('|').any(|name| name == tool)
}

/// Tools the guard must see that a PreToolUse matcher leaves out. A matcher that is not a
/// plain `A|B` list is a regex, taken as covering everything; so is an empty one or `*`.
fn matcher_gaps(matcher: Option<&str>) -> Vec<&'static str> {
    let m = matcher.unwrap_or("").trim();
    let names: Vec<&str> = m.split('|').collect();
    // A matcher whose alternatives are tool names (and offload's own `mcp__.*`) is checked; any
    // other pattern cannot be judged by name.
    let plain = names
        .iter()
        .all(|n| *n == "mcp__.*" || n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if m.is_empty() || m == "*" || !plain {
        return Vec::new();
    }
    let mut gaps = Vec::new();
    for tool in ["Edit", "Write", "Bash"] {
        if !names.contains(&tool) {
            gaps.push(tool);
        }
    }
    if !names.contains(&"Agent") && !names.contains(&"Task") {
        gaps.push("Agent");
    }
    if !names.contains(&"Workflow") {
        gaps.push("Workflow");
    }
    if !names.contains(&"mcp__.*") {
        gaps.push("mcp__.*");
    }
    gaps
}

/// Flags a `--help` text names: `-s,` `--sandbox` `--json` … (trailing commas and `=…` cut).
fn help_flags(help: &str) -> Vec<String> {
    help.split_whitespace()
        .filter(|w| w.starts_with('-'))
        .map(|w| {
            w.trim_end_matches(',')
                .split(['=', '['])
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

fn is_deny(stdout: &str) -> bool {
    serde_json::from_str::<Value>(stdout.trim()).is_ok_and(|v| {
        v["hookSpecificOutput"]["permissionDecision"] == "deny"
            && v["hookSpecificOutput"]["hookEventName"] == "PreToolUse"
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The median of some run times, in milliseconds to one decimal.
fn median_ms(times: &mut [Duration]) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    times.sort();
    let n = times.len();
    let mid = if !n.is_multiple_of(2) {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    };
    Some((mid.as_secs_f64() * 10_000.0).round() / 10.0)
}

/// A temporary folder for the checks, removed when dropped. (`tempfile` is only a
/// dev-dependency; this is the little of it doctor needs.)
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("offload-doctor-{}-{nanos}", std::process::id()));
        shared::fsutil::create_private_dir(&path)?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The terminal report: one line per check, hints under problems, a verdict.
fn render(checks: &[Check], color: bool) -> String {
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let width = checks
        .iter()
        .map(|c| c.check.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => paint("✓", "32"),
            Status::Warn => paint("!", "33"),
            Status::Fail => paint("✗", "31"),
        };
        let mut line = format!("{mark} {:<width$}  {}", c.check, c.detail);
        if let Some(ms) = c.ms {
            line.push_str(&format!(" · {ms:.1} ms (median of {SELF_TEST_RUNS})"));
        }
        out.push_str(&line);
        out.push('\n');
        if let Some(h) = &c.hint
            && c.status != Status::Ok
        {
            out.push_str(&format!("  {:<width$}  → {h}\n", ""));
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    out.push('\n');
    out.push_str(&match (fails, warns) {
        (0, 0) => format!("offload doctor: all {} checks passed\n", checks.len()),
        (0, w) => format!(
            "offload doctor: no problems, {} (see the hints above)\n",
            plural(w, "warning", "warnings")
        ),
        (f, w) => format!(
            "offload doctor: {}, {}: offload is not working as it should (see the hints above)\n",
            plural(f, "problem", "problems"),
            plural(w, "warning", "warnings")
        ),
    });
    out
}

/// `12 events · 1 skipped line`.
fn events_and_skipped(events: u64, skipped: u64) -> String {
    format!(
        "{events} events · {skipped} skipped line{}",
        if skipped == 1 { "" } else { "s" }
    )
}

/// The `ledger` check: its figures, and a warning when its last line is torn.
fn ledger_line(mut detail: String, torn: bool) -> Check {
    if !torn {
        return Check::ok("ledger", detail);
    }
    detail.push_str(" · its last line is torn");
    Check::warn(
        "ledger",
        detail,
        "a write in progress, or a writer that died mid-line: the next write terminates it (so does `offload stats --rebuild`)",
    )
}

/// Logs larger than this (64 MiB, about 250 000 events) get [`quick_ledger_checks`].
const QUICK_CHECK_ABOVE: u64 = 64 << 20;

/// The ledger and summaries checks without folding the log: the totals and every session
/// summary against the log line at their offset (see `shared::ledger`).
fn quick_ledger_checks(ledger: &Ledger, log_len: u64) -> Vec<Check> {
    let mut out = Vec::new();
    let torn = shared::ledger::open_log_read(&ledger.paths().events())
        .ok()
        .and_then(|f| {
            use std::os::unix::fs::FileExt;
            let mut last = [0u8; 1];
            f.read_exact_at(&mut last, log_len.checked_sub(1)?).ok()?;
            Some(last[0] != b'\n')
        })
        .unwrap_or(false);
    let totals = ledger.totals();
    let detail = match &totals {
        Some(t) => format!(
            "{} · {} MiB",
            events_and_skipped(t.lines - t.skipped_lines, t.skipped_lines),
            log_len >> 20
        ),
        None => format!("{} MiB", log_len >> 20),
    };
    out.push(ledger_line(detail, torn));
    let log = shared::ledger::open_log_read(&ledger.paths().events()).ok();
    let mut sessions = 0usize;
    let mut bad = 0usize;
    for e in std::fs::read_dir(ledger.paths().sessions_dir())
        .into_iter()
        .flatten()
        .flatten()
        .take(1_000_000)
    {
        let p = e.path();
        let Some(id) = p.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        sessions += 1;
        let ok = shared::fsutil::read_regular(&p, 16 << 20)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<shared::ledger::SessionSummary>(&b).ok())
            .is_some_and(|s| s.matches(&id, log.as_ref()));
        if !ok {
            bad += 1;
        }
    }
    out.push(match (totals.is_some(), bad) {
        (true, 0) => Check::ok(
            "summaries",
            format!(
                "totals.json and {sessions} session summar{} match the log (each checked by the line at its offset; `offload stats --rebuild` folds it all)",
                if sessions == 1 { "y" } else { "ies" }
            ),
        ),
        (totals_ok, bad) => {
            let mut diffs = Vec::new();
            if !totals_ok {
                diffs.push("totals.json is missing or does not match".to_owned());
            }
            if bad > 0 {
                diffs.push(format!(
                    "{bad} session summar{} not match",
                    if bad == 1 { "y does" } else { "ies do" }
                ));
            }
            Check::fail(
                "summaries",
                format!("not the log's: {}", diffs.join(", ")),
                "run `offload stats --rebuild` (readers and writers also heal them as they go)",
            )
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_lines_name_offload_by_its_path() {
        let o = "~/.local/bin/offload";
        assert_eq!(
            full_commands("run `offload setup` (or `offload setup --project`)", o),
            "run `~/.local/bin/offload setup` (or `~/.local/bin/offload setup --project`)"
        );
        assert_eq!(
            full_commands("offload setup --code-model m; and offload setup x", o),
            "~/.local/bin/offload setup --code-model m; and ~/.local/bin/offload setup x"
        );
        assert_eq!(full_commands("install offloading", o), "install offloading");
    }

    #[test]
    fn model_provider_is_read_from_the_top_level_only() {
        assert_eq!(
            model_provider("model_provider = \"mock\"\n"),
            Some("mock".into())
        );
        assert_eq!(
            model_provider("# c\nmodel = 'x'\nmodel_provider='azure' # mine\n[a]\n"),
            Some("azure".into())
        );
        assert_eq!(
            model_provider("[profiles.x]\nmodel_provider = \"oss\"\n"),
            None
        );
        assert_eq!(model_provider("model_provider = oss\n"), None);
        assert_eq!(model_provider(""), None);
    }

    #[test]
    fn the_quick_ledger_check_finds_a_summary_that_no_longer_matches() {
        use shared::ledger::{Body, Event};
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(shared::paths::Paths::in_folder(dir.path().join("state")));
        for n in 0..3 {
            ledger
                .append(&[Event::now(
                    Some(&format!("s{n}")),
                    Body::TurnStarted {
                        prompt_id: None,
                        project: None,
                    },
                )])
                .unwrap();
        }
        let len = std::fs::metadata(ledger.paths().events()).unwrap().len();
        let checks = quick_ledger_checks(&ledger, len);
        assert!(
            checks.iter().all(|c| c.status == Status::Ok),
            "{:?}",
            checks.iter().map(|c| &c.detail).collect::<Vec<_>>()
        );
        assert!(
            checks[0].detail.starts_with("3 events"),
            "{}",
            checks[0].detail
        );
        std::fs::write(ledger.paths().session("s1"), "{}").unwrap();
        let checks = quick_ledger_checks(&ledger, len);
        assert_eq!(checks[1].status, Status::Fail);
        assert!(
            checks[1]
                .detail
                .contains("1 session summary does not match"),
            "{}",
            checks[1].detail
        );
    }

    #[test]
    fn claude_features_by_version() {
        let v = |s: &str| ClaudeVersion::parse(s).unwrap();
        assert!(v("2.1.197 (Claude Code)") < ON_FAILURE_SINCE);
        assert!(v("2.1.330 (Claude Code)") >= ON_FAILURE_SINCE);
        assert!(v("2.1.62 (Claude Code)") < AGENT_TOOL_SINCE);
        assert!(v("2.1.63 (Claude Code)") >= AGENT_TOOL_SINCE);
    }

    #[test]
    fn post_tool_use_matchers_must_cover_bash() {
        assert!(matcher_covers(Some("Bash"), "Bash"));
        assert!(matcher_covers(Some("Edit|Bash"), "Bash"));
        assert!(matcher_covers(None, "Bash"));
        assert!(matcher_covers(Some("Ba.*"), "Bash"), "a regex is trusted");
        assert!(!matcher_covers(Some("Write|Edit"), "Bash"));
        assert!(!matcher_covers(Some("BashOutput"), "Bash"));
    }

    #[test]
    fn help_flags_read_short_and_long_forms() {
        let help = "  -c, --config <key=value>\n      --json\n  -s, --sandbox <SANDBOX_MODE>\n  -o, --output-last-message <FILE>\n      --color=<WHEN>";
        let f = help_flags(help);
        for want in ["-c", "--config", "--json", "-s", "-o", "--color"] {
            assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
        }
        assert!(!f.iter().any(|x| x == "-C"));
    }

    #[test]
    fn matchers_must_cover_the_guarded_tools() {
        assert!(matcher_gaps(Some(PRE_TOOL_USE_MATCHER)).is_empty());
        assert_eq!(
            matcher_gaps(Some("Edit|Write|Task|Bash|mcp__.*")),
            ["Workflow"],
            "an install from before workflows were guarded"
        );
        assert_eq!(
            matcher_gaps(Some("Edit|Write|Task|Bash")),
            ["Workflow", "mcp__.*"],
            "an install from before MCP tools were guarded"
        );
        assert!(matcher_gaps(None).is_empty());
        assert!(matcher_gaps(Some(".*")).is_empty(), "a regex is trusted");
        assert_eq!(
            matcher_gaps(Some("Edit|Write")),
            ["Bash", "Agent", "Workflow", "mcp__.*"]
        );
    }

    #[test]
    fn offload_hooks_are_found_by_command() {
        let v = json!({"hooks": {"PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "other-hook"}]},
            {"matcher": "Edit|Write|Agent|Bash", "hooks": [
                {"type": "command", "command": "/x/offload-hook", "timeout": 10, "onFailure": "block"}
            ]}
        ]}});
        let found = offload_hooks(&v, "PreToolUse");
        assert_eq!(
            found,
            [HookEntry {
                command: "/x/offload-hook".into(),
                matcher: Some("Edit|Write|Agent|Bash".into()),
                on_failure: true,
                timeout: Some(10.0),
            }]
        );
        assert!(offload_hooks(&v, "SessionStart").is_empty());
        assert!(offload_hooks(&json!({"hooks": []}), "PreToolUse").is_empty());
    }

    #[test]
    fn deny_answers_are_recognised() {
        assert!(is_deny(&shared::claude::deny_json("no")));
        assert!(!is_deny(""));
        assert!(!is_deny("{\"continue\":false}"));
    }

    #[test]
    fn medians_of_run_times() {
        let ms = Duration::from_millis;
        assert_eq!(median_ms(&mut [ms(5), ms(1), ms(3)]), Some(3.0));
        assert_eq!(median_ms(&mut [ms(1), ms(2)]), Some(1.5));
        assert_eq!(median_ms(&mut []), None);
    }

    #[test]
    fn the_report_puts_hints_under_problems_and_ends_with_a_verdict() {
        let checks = vec![
            Check::ok("codex", "codex-cli 0.169.0"),
            Check::fail("hook PreToolUse", "no hook", "run `offload setup`"),
            Check::warn("statusline", "none", "run `offload setup`"),
        ];
        let text = render(&checks, false);
        assert_eq!(
            text,
            "✓ codex            codex-cli 0.169.0\n\
             ✗ hook PreToolUse  no hook\n\
             \x20                  → run `offload setup`\n\
             ! statusline       none\n\
             \x20                  → run `offload setup`\n\
             \n\
             offload doctor: 1 problem, 1 warning: offload is not working as it should (see the hints above)\n"
        );
    }
}
