//! The statusline: Claude Code's statusline JSON and offload's summaries in, one line out.
//!
//! `Offload C:12.4k Σ:1.3M | S/F C:4/1 | RL C:58%@14:05`
//!
//! Each segment is one file in [`segments`] with one signature, `fn(&Ctx) -> Segment`; the
//! format string places them. Nothing here can fail the line: a value that cannot be known
//! renders as `--`, and the segments that can be known still show.
//!
//! Hot path: per render this reads two small summary files and, for the rate limit, stats the
//! rollout day folders and the rollouts in them (see [`rate`]); it never reads `events.jsonl`
//! and never walks `CODEX_HOME`. While Codex works for this session (a background job), ` | codex
//! working 2m10s` follows; while the review gate reviews this session's turn, ` | review…`
//! follows the line (one listing of the gate's small lock folder).

pub mod input;
pub mod rate;
pub mod segments;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::codex::rollout::RateLimitSnapshot;
use crate::config::StatuslineConfig;
use crate::ledger::{SessionSummary, Totals};
use input::Input;

/// Everything a segment may look at.
pub struct Ctx<'a> {
    pub input: &'a Input,
    pub session: Option<&'a SessionSummary>,
    pub totals: Option<&'a Totals>,
    /// The ledger has events (so no totals means they are unknown now, not zero).
    pub ledger_has_events: bool,
    /// The freshest Codex rate-limit snapshot, and where it came from.
    pub rate: Option<&'a RateLimitSnapshot>,
    pub config: &'a StatuslineConfig,
    pub color: bool,
    pub now: DateTime<Utc>,
}

/// A rendered segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The text, with colour codes when colour is on.
    pub text: String,
    /// Where the value came from (for `--explain`).
    pub source: String,
}

/// One placeholder's timing and source, for `--explain`.
#[derive(Clone, Debug)]
pub struct Explained {
    pub name: &'static str,
    pub segment: Segment,
    pub took: Duration,
}

/// The format string in use: the configured one, plus the optional segments switched on.
pub fn format_string(config: &StatuslineConfig) -> String {
    let mut f = config.format.clone();
    for (on, placeholder, piece) in [
        (config.weekly, "{weekly}", " | W C:{weekly}"),
        (config.claude, "{claude}", " | RL Claude:{claude}"),
        (config.share, "{share}", " | share {share}"),
    ] {
        if on && !f.contains(placeholder) {
            f.push_str(piece);
        }
    }
    f
}

/// Render the line, and each placeholder's explanation.
pub fn render(ctx: &Ctx<'_>) -> (String, Vec<Explained>) {
    let format = format_string(ctx.config);
    let mut out = String::with_capacity(format.len() + 32);
    let mut explained = Vec::new();
    let mut rest = format.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        if name.contains('{') {
            // A lone `{`: keep it, and look for placeholders after it.
            out.push('{');
            rest = after;
            continue;
        }
        match segments::by_name(name) {
            Some((static_name, f)) => {
                let start = Instant::now();
                let seg = f(ctx);
                out.push_str(&seg.text);
                explained.push(Explained {
                    name: static_name,
                    segment: seg,
                    took: start.elapsed(),
                });
            }
            None => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    (out, explained)
}

/// ANSI colours, used only when colour is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Red,
    Yellow,
    Green,
    Dim,
}

/// `text` in `color` when colour is on.
pub fn paint(text: &str, color: Option<Color>, on: bool) -> String {
    match (color, on) {
        (Some(c), true) => {
            let code = match c {
                Color::Red => "31",
                Color::Yellow => "33",
                Color::Green => "32",
                Color::Dim => "2",
            };
            format!("\x1b[{code}m{text}\x1b[0m")
        }
        _ => text.to_string(),
    }
}

/// Where the statusline runs: the environment, read once by the binary.
pub struct Env {
    pub paths: crate::paths::Paths,
    /// `CODEX_HOME`, else `~/.codex`.
    pub codex_home: Option<std::path::PathBuf>,
    /// `CLAUDE_CODE_SESSION_ID`, used when stdin has no session id.
    pub session_env: Option<String>,
    /// `NO_COLOR` is set.
    pub no_color: bool,
    pub now: DateTime<Utc>,
    /// `HOME`: where the user's Claude Code settings are (for the tamper flag).
    pub home: Option<std::path::PathBuf>,
}

/// A composed line and how it was made.
pub struct Composed {
    pub line: String,
    pub segments: Vec<Explained>,
    /// Timings of the loading steps, and the rate-limit source.
    pub steps: Vec<(&'static str, Duration, String)>,
    /// How long `--wrap`'s command may take (from the config).
    pub wrap_timeout: Duration,
}

/// Compose the line from stdin and the state on disk.
pub fn compose(stdin: &[u8], env: &Env) -> Composed {
    let mut steps = Vec::new();
    let t = Instant::now();
    let input = Input::parse(stdin);
    steps.push(("parse stdin", t.elapsed(), format!("{} bytes", stdin.len())));

    let t = Instant::now();
    let loaded = crate::config::Config::load_file(&env.paths.config_file);
    let guard_config = loaded.config.guard;
    let config = loaded.config.statusline;
    let config_note = match (&loaded.source, loaded.warnings.first()) {
        (_, Some(w)) => w.0.clone(),
        (Some(p), None) => p.display().to_string(),
        (None, None) => "defaults".into(),
    };
    steps.push(("config", t.elapsed(), config_note));

    let t = Instant::now();
    let input = Input {
        session_id: input.session_id.or_else(|| env.session_env.clone()),
        ..input
    };
    let ledger = crate::ledger::Ledger::new(env.paths.clone());
    let session = input
        .session_id
        .as_deref()
        .and_then(|id| ledger.session(id));
    let totals = ledger.totals();
    steps.push((
        "summaries",
        t.elapsed(),
        env.paths.state_dir.display().to_string(),
    ));

    let t = Instant::now();
    let source = rate::freshest(
        totals.as_ref().and_then(|t| t.rate_limits.as_ref()),
        env.codex_home.as_deref(),
        &env.paths.state_dir.join("statusline-cache.json"),
        env.now,
    );
    steps.push(("rate limits", t.elapsed(), source.from.clone()));

    let ledger_has_events = totals.is_none()
        && std::fs::symlink_metadata(env.paths.events()).is_ok_and(|m| m.len() > 0);
    let ctx = Ctx {
        ledger_has_events,
        input: &input,
        session: session.as_ref(),
        totals: totals.as_ref(),
        rate: source.snapshot.as_ref(),
        config: &config,
        color: config.color && !env.no_color,
        now: env.now,
    };
    let (mut line, segments) = render(&ctx);

    // What a same-user process did to offload that the guard could not prevent: a red flag
    // (see crate::tamper). The wiring is checked once offload was set up by `offload setup`.
    let t = Instant::now();
    let mut findings = crate::tamper::ledger_findings(session.as_ref());
    findings.extend(crate::tamper::config_findings(&guard_config));
    if env.paths.state_dir.join("setup.json").exists() {
        let files = crate::tamper::settings_files(
            env.home.as_deref(),
            input.project_dir.as_deref().map(std::path::Path::new),
            &crate::tamper::managed_dir(),
        );
        findings.extend(crate::tamper::cached_wiring_findings(
            &env.paths.state_dir,
            &files,
        ));
        findings.extend(crate::tamper::binary_findings(&env.paths.state_dir));
    }
    if let Some(flag) = crate::tamper::flag(&findings) {
        line.push_str(" | ");
        line.push_str(&paint(&flag, Some(Color::Red), ctx.color));
    } else if let Some(s) = session.as_ref()
        && let Some(a) = &s.approval
        && a.turn == s.turn
        && a.source == "terminal"
    {
        // An approval from a terminal holds for this turn: shown, so that one the user did not
        // give (keys sent into a terminal of theirs) cannot pass unseen.
        line.push_str(" | ");
        line.push_str(&paint(
            &format!(
                "fallback approved {} (terminal)",
                a.ts.with_timezone(&chrono::Local).format("%H:%M")
            ),
            Some(Color::Yellow),
            ctx.color,
        ));
    }
    steps.push(("tamper", t.elapsed(), findings.join("; ")));

    // The review gate reviewing this session's turn now (a live lock holder within its
    // deadline: see crate::review::state).
    let t = Instant::now();
    let reviewing = input.session_id.as_deref().and_then(|id| {
        crate::review::state::Store::new(&env.paths.state_dir).reviewing(id, env.now)
    });
    if reviewing.is_some() {
        line.push_str(" | ");
        line.push_str(&paint("review…", Some(Color::Yellow), ctx.color));
    }
    steps.push((
        "review",
        t.elapsed(),
        reviewing.map_or_else(String::new, |h| {
            format!(
                "Codex reviewing since {} (pid {})",
                h.since.format("%H:%M:%S"),
                h.pid
            )
        }),
    ));
    // Codex working for this session now (a background job, or a run Claude Code moved to the
    // background): the line moves while it runs (setup proposes a refreshInterval).
    let t = Instant::now();
    let working = input.session_id.as_deref().and_then(|id| {
        crate::running::list(&env.paths.state_dir)
            .into_iter()
            .filter(|r| r.session.as_deref() == Some(id) && r.alive())
            .map(|r| r.started)
            .min()
    });
    if let Some(since) = working {
        let secs = (env.now - since).num_seconds().max(0);
        line.push_str(" | ");
        line.push_str(&paint(
            &format!("codex working {}m{:02}s", secs / 60, secs % 60),
            Some(Color::Yellow),
            ctx.color,
        ));
    }
    steps.push((
        "working",
        t.elapsed(),
        working.map_or_else(String::new, |s| {
            format!(
                "an attempt of this session runs since {}",
                s.format("%H:%M:%S")
            )
        }),
    ));
    Composed {
        line,
        segments,
        steps,
        // Bounded even if a value got past the config check: `recv_timeout` with a limit past
        // the clock's end waits forever.
        wrap_timeout: Duration::from_millis(config.wrap_timeout_ms.clamp(
            *crate::config::limits::WRAP_TIMEOUT_MS.start(),
            *crate::config::limits::WRAP_TIMEOUT_MS.end(),
        )),
    }
}
