//! The statusline as a user sees it: the real Claude Code 2.1.332 TUI in tmux, with
//! `offload-statusline` as its `statusLine` command, read back from the screen. Claude's own
//! Bash tool runs `offload run` (real Codex CLI against the mock Responses API), and the row
//! under the prompt must then show that session's Codex tokens, successes/failures and the
//! Codex rate limit the mock sent.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use offload_testkit::claude::{ClaudeHome, Tmux, require_real_claude};
use offload_testkit::codex::{CodexHome, require_real_codex};
use offload_testkit::messages::{MockMessages, Step};
use offload_testkit::responses::{MockResponses, RateHeaders, Reply, Usage};
use serde_json::json;
use shared::ledger::{Body, Ledger};
use shared::outcome::Outcome;
use shared::paths::Paths;

/// How long a screen may take to show what a test waits for (the first row shows ~0.6 s after
/// start, the next ~0.3 s after the answer; generous for a loaded 2-core machine).
const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

const OFFLOAD_RUN: &str = "offload run \"say hi\" read-only .";

/// A Claude Code TUI whose statusline is `offload-statusline`, with offload and codex each
/// pointed at their own mock.
struct World {
    claude: PathBuf,
    home: ClaudeHome,
    messages: MockMessages,
    _responses: MockResponses,
    codex_home: CodexHome,
    codex: PathBuf,
    state: tempfile::TempDir,
}

impl World {
    fn new(codex_reply: Reply) -> Option<World> {
        let claude = require_real_claude(None)?;
        let codex = require_real_codex()?;
        let responses = MockResponses::start().unwrap();
        responses.set_default(codex_reply);
        let messages = MockMessages::start().unwrap();
        let home = ClaudeHome::new(&messages.base_url());
        let statusline = support::workspace_bin("offload-statusline");
        home.settings(json!({
            "statusLine": {
                "type": "command",
                "command": statusline.display().to_string(),
                "padding": 0,
            },
            // 2.1.330's interactive default is auto mode, which sets `allow` rules such as
            // `Bash` aside and asks a server-side check that the mock cannot answer.
            "permissions": {"disableAutoMode": "disable", "allow": ["Bash"]},
        }));
        home.seed_interactive(&home.project());
        Some(World {
            claude,
            codex_home: CodexHome::new(&responses.base_url()),
            _responses: responses,
            messages,
            home,
            codex,
            state: tempfile::tempdir().unwrap(),
        })
    }

    /// Claude Code's own environment plus what offload and codex need (see
    /// `support::offload_env`), and `TZ`: the statusline shows resets in local time, and so
    /// does this test.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.home.envs();
        env.extend(support::offload_env(
            &self.codex,
            &self.codex_home,
            self.state.path(),
        ));
        env.extend(std::env::var("TZ").ok().map(|tz| ("TZ".to_string(), tz)));
        env
    }

    /// The TUI, 160×40, in the project folder.
    fn tui(&self) -> Tmux {
        Tmux::start(&[&self.claude], &self.env(), &self.home.project(), 160, 40)
            .expect("start claude in tmux")
    }

    /// Claude's first turn runs `offload run` through Bash, then answers `done`.
    fn script_offload_run(&self) {
        self.messages.push(Step::tool_use(
            "Bash",
            json!({"command": OFFLOAD_RUN, "description": "ask Codex"}),
        ));
        self.messages.push(Step::text("done"));
    }

    fn ledger(&self) -> Ledger {
        Ledger::new(Paths::in_folder(self.state.path().to_path_buf()))
    }

    /// The session id Claude Code sent with its first model request.
    fn claude_session(&self) -> String {
        let turn = self.messages.turns().into_iter().next().expect("a turn");
        turn.header("x-claude-code-session-id")
            .expect("Claude Code sends its session id")
            .to_string()
    }

    /// `offload-statusline` run directly, as Claude Code would for `session` (colour on): its
    /// raw stdout, before Claude Code and tmux restyle it.
    fn statusline_bytes(&self, session: &str) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(support::workspace_bin("offload-statusline"))
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn offload-statusline");
        let stdin = json!({"session_id": session, "cwd": self.home.project()}).to_string();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every finished attempt in the ledger: its session and outcome.
    fn finished(&self) -> Vec<(Option<String>, Outcome)> {
        self.ledger()
            .read_log()
            .unwrap()
            .events
            .into_iter()
            .filter_map(|e| match e.body {
                Body::AttemptFinished(f) => Some((e.session, f.outcome)),
                _ => None,
            })
            .collect()
    }
}

/// The statusline row of a screen: the line holding `Offload `, trimmed.
fn statusline_row(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.contains("Offload C:"))
        .map(str::trim)
}

/// Wait until the statusline row is exactly `expected`; the row and the time it took, or a
/// panic with the last screen.
#[track_caller]
fn wait_for_row(tui: &Tmux, expected: &str, what: &str) -> (String, Duration) {
    let start = Instant::now();
    match tui.wait_until(
        |screen| statusline_row(screen) == Some(expected),
        SCREEN_TIMEOUT,
    ) {
        Ok(screen) => (
            statusline_row(&screen).unwrap().to_string(),
            start.elapsed(),
        ),
        Err(screen) => panic!("{what}: expected the row {expected:?}; last screen:\n{screen}"),
    }
}

/// The coloured statusline row (`capture-pane -e`) that holds `Offload `.
fn ansi_row(tui: &Tmux) -> String {
    let screen = tui.capture_ansi();
    screen
        .lines()
        .find(|l| l.contains("Offload C:"))
        .unwrap_or_else(|| panic!("no statusline row in the coloured screen:\n{screen}"))
        .to_string()
}

/// The local `HH:MM` of an epoch-seconds reset, as the statusline shows a reset within a day.
fn local_hh_mm(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0)
        .unwrap()
        .with_timezone(&Local)
        .format("%H:%M")
        .to_string()
}

/// Type a prompt and wait for Claude's scripted `done` answer (after the Bash tool ran).
#[track_caller]
fn ask(tui: &Tmux) {
    tui.type_line("ask codex to say hi");
    if let Err(screen) = tui.wait_until(
        |s| s.lines().any(|l| l.trim_start() == "● done"),
        SCREEN_TIMEOUT,
    ) {
        panic!("Claude's answer never showed:\n{screen}");
    }
}

const EMPTY_ROW: &str = "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--";

/// A Codex success with usage and rate limits: the row shows this session's tokens (1234 in +
/// 56 out = 1290 → `1.3k`), one success, and 100 − 42.5 = 57.5 → `58%` left until the reset's
/// local `HH:MM`.
#[test]
fn statusline_shows_the_sessions_codex_numbers_in_the_tui() {
    let start = Instant::now();
    let limits = RateHeaders::used(42.5, 13.0);
    let reply = Reply::message("hi from codex")
        .usage(Usage {
            input: 1234,
            cached: 1000,
            output: 56,
            reasoning: 7,
        })
        .rate_limits(limits);
    let Some(w) = World::new(reply) else {
        return;
    };
    w.script_offload_run();
    let tui = w.tui();
    let (startup, startup_took) = wait_for_row(&tui, EMPTY_ROW, "at startup");

    ask(&tui);
    let expected = format!(
        "Offload C:1.3k Σ:1.3k | S/F C:1/0 | RL C:58%@{}",
        local_hh_mm(limits.primary_reset_at)
    );
    let (row, took) = wait_for_row(&tui, &expected, "after the answer");
    let coloured = ansi_row(&tui);
    eprintln!(
        "startup row ({startup_took:?}): {startup}\nrow after the answer ({took:?}): {row}\n\
         coloured: {coloured:?}\nscreen:\n{}",
        tui.capture()
    );
    assert!(
        coloured.contains(&format!(
            "RL C:58%@{}",
            local_hh_mm(limits.primary_reset_at)
        )),
        "58 % left is above the warning threshold (40 %): no colour on it: {coloured:?}"
    );
    assert!(
        coloured.contains("S/F C:1/0"),
        "no failures, no red: {coloured:?}"
    );
    for code in ["\x1b[31m", "\x1b[33m"] {
        assert!(!coloured.contains(code), "no red, no yellow: {coloured:?}");
    }

    let session = w.claude_session();
    assert_eq!(
        w.finished(),
        [(Some(session.clone()), Outcome::Success)],
        "the attempt is recorded under Claude's session"
    );
    let summary = w.ledger().session(&session).expect("a session summary");
    assert_eq!(
        (summary.successes, summary.failures, summary.tokens.total),
        (1, 0, 1290),
        "the row's numbers are this session's"
    );
    eprintln!("total {:?}", start.elapsed());
}

/// No attempt yet: zeros and `--` (no rate-limit data anywhere). Then Codex answers 500: the row
/// counts one failure, in red.
#[test]
fn statusline_before_any_attempt_and_with_a_failure() {
    let start = Instant::now();
    let Some(w) = World::new(Reply::status(
        500,
        json!({"error": {"message": "boom", "type": "server_error"}}),
    )) else {
        return;
    };
    w.script_offload_run();
    let tui = w.tui();
    let (startup, startup_took) = wait_for_row(&tui, EMPTY_ROW, "at startup");
    let coloured_startup = ansi_row(&tui);
    assert!(
        !coloured_startup.contains("\x1b[31m"),
        "nothing red before any failure: {coloured_startup:?}"
    );

    ask(&tui);
    let (row, took) = wait_for_row(
        &tui,
        "Offload C:0 Σ:0 | S/F C:0/1 | RL C:--",
        "after the failure",
    );
    let coloured = ansi_row(&tui);
    let session = w.claude_session();
    let raw = w.statusline_bytes(&session);
    eprintln!(
        "startup row ({startup_took:?}): {startup}\nstartup coloured: {coloured_startup:?}\n\
         row after the answer ({took:?}): {row}\ncoloured: {coloured:?}\nraw: {raw:?}\nscreen:\n{}",
        tui.capture()
    );
    // The statusline prints `\x1b[31m1\x1b[0m`; Claude Code draws the row in its own grey, so
    // on the screen the reset after the `1` comes back as that grey.
    assert!(
        raw.contains("S/F C:0/\x1b[31m1\x1b[0m | RL C:--"),
        "the statusline paints the failure count red: {raw:?}"
    );
    let red = "S/F C:0/\x1b[31m1\x1b[";
    let at = coloured
        .find(red)
        .unwrap_or_else(|| panic!("the failure count in red on the screen: {coloured:?}"));
    let after = &coloured[at + red.len()..];
    assert!(
        !after.starts_with("31m") && !after.contains("\x1b[31m"),
        "only the count is red: {coloured:?}"
    );

    assert_eq!(
        w.finished(),
        [(Some(session.clone()), Outcome::Failed)],
        "the failed attempt is recorded under Claude's session"
    );
    let summary = w.ledger().session(&session).expect("a session summary");
    assert_eq!((summary.successes, summary.failures), (0, 1));
    eprintln!("total {:?}", start.elapsed());
}
