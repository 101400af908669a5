//! The review gate's decisions, at the two hook events it uses.
//!
//! **UserPromptSubmit** (a real prompt, whose input Claude Code itself wrote: the hook checks
//! that before calling [`on_prompt`]): snapshot the project's work tree, the turn's start.
//!
//! **Stop**: when the turn changed code since that snapshot, run one Codex review of the diff
//! and answer:
//!
//! | what happened | Claude Code gets | ledger `review` verdict |
//! |---|---|---|
//! | no code changed | nothing | none |
//! | Codex: ALLOW | `systemMessage` (the user sees it) | `allow` |
//! | Codex: FINDINGS, rounds left, enforce mode | `decision: block` with the findings for Claude, and a `systemMessage` | `findings`, blocked |
//! | Codex: FINDINGS, warn mode | `systemMessage` with the findings | `findings` |
//! | the same diff was reviewed before | its verdict again, never a second block | as before |
//! | the turn's rounds are used up | `systemMessage`: not reviewed again | `limit` |
//! | another hook run reviews this diff now | `systemMessage` | `busy` |
//! | no review (codex missing, failed, timed out or answered without a verdict; diff too big; a changed code file is not text; no snapshot of the turn's start) | `systemMessage` saying so plainly | `unreviewed` |
//! | a Codex job of the session (not read-only) still runs | `systemMessage`: not reviewed yet; the next turn keeps this one's start, so they are reviewed at its stop | `unreviewed` |
//! | the project is not in a git work tree (at every stop) | `systemMessage`: the gate cannot review it | `unreviewed` |
//!
//! A review that did not happen is never reported as clean, and never blocks: a gate that
//! blocks when it cannot review would block every stop after it and keep Claude looping. A
//! block is counted in the turn's record before it is answered; when it cannot be counted, the
//! stop is not blocked either. So a turn is blocked at most `rounds` times, whatever
//! `stop_hook_active` says (Claude Code sets it while Claude continues after a block).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::{Mode, ReviewGate};
use crate::ledger::{Review, ReviewVerdict};
use crate::policy::scope::Scope;

use super::git::{self, GitError};
use super::run;
use super::state::{Acquired, Store, Stored, Turn};
use super::verdict::{self, Verdict};

/// How long the start snapshot may take (inside UserPromptSubmit's 10 s).
pub const START_BUDGET: Duration = Duration::from_secs(5);
/// How long the snapshot and diff at a stop may take.
pub const STOP_GIT_BUDGET: Duration = Duration::from_secs(10);

/// Where a gate decision is made.
pub struct Ctx<'a> {
    pub session: Option<&'a str>,
    pub project: &'a Path,
    pub gate: &'a ReviewGate,
    pub mode: Mode,
    /// The guard's view of the project: which changed files are code.
    pub scope: &'a Scope,
    pub store: Store,
    /// The `offload` CLI that runs the review (`None`: not found).
    pub offload: Option<PathBuf>,
    pub now: DateTime<Utc>,
}

/// What the Stop hook answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// Block the stop with this reason for Claude.
    pub block: Option<String>,
    /// What the user is shown.
    pub message: Option<String>,
    /// What the ledger records.
    pub record: Option<Review>,
}

impl Reply {
    /// The hook's stdout: `{"decision":"block","reason":…,"systemMessage":…}` or less; empty
    /// when there is nothing to say.
    pub fn json(&self) -> String {
        let mut v = serde_json::Map::new();
        if let Some(reason) = &self.block {
            v.insert("decision".into(), "block".into());
            v.insert("reason".into(), reason.clone().into());
        }
        if let Some(m) = &self.message {
            v.insert("systemMessage".into(), m.clone().into());
        }
        if v.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(v).to_string()
        }
    }
}

/// Whether a stop is reviewed: the turn's rounds are what bound the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Review; a block is allowed when the verdict has findings.
    Review { may_block: bool },
    /// The rounds are used up: not reviewed again.
    Limit,
}

/// The round rule: `used` blocks so far this turn out of `max`; warn mode never blocks. Claude
/// Code's `stop_hook_active` (Claude continues after a block) is not part of it: the turn's own
/// count is what bounds the blocks, so a continuing stop is blocked only while rounds are left,
/// and never once they are used up.
pub fn round(used: u32, max: u32, mode: Mode) -> Round {
    if used >= max {
        return Round::Limit;
    }
    Round::Review {
        may_block: mode == Mode::Enforce,
    }
}

/// UserPromptSubmit: record the turn's start (a snapshot, or why there is none).
pub fn on_prompt(ctx: &Ctx<'_>) {
    let Some(session) = ctx.session else {
        return;
    };
    let deadline = Instant::now() + START_BUDGET;
    let mut turn = Turn {
        started: Some(ctx.now),
        project: ctx.project.display().to_string(),
        ..Turn::default()
    };
    // The last turn's changes were not reviewed (a Codex job of the session was running at
    // its stop): this turn starts where that one did, so its stop reviews them.
    if let Some(last) = ctx.store.turn(session)
        && last.held
        && last.tree.is_some()
        && last.project == turn.project
    {
        turn.top = last.top;
        turn.tree = last.tree;
        turn.held = true;
        let _ = ctx.store.save_turn(session, &turn);
        return;
    }
    match git::repo(ctx.project, deadline) {
        Err(GitError::NotRepo(why)) => {
            turn.not_repo = true;
            turn.problem = Some(why);
        }
        Err(GitError::Failed(why)) => turn.problem = Some(why),
        Ok(repo) => {
            turn.top = Some(repo.top.display().to_string());
            match repo.snapshot(&ctx.store.objects(), &ctx.store.scratch_index(), deadline) {
                Ok(tree) => turn.tree = Some(tree),
                Err(why) => turn.problem = Some(why),
            }
        }
    }
    let _ = ctx.store.save_turn(session, &turn);
    ctx.store.maybe_prune();
}

/// Stop: review the turn's code changes, and answer.
pub fn on_stop(ctx: &Ctx<'_>, stop_hook_active: bool) -> Reply {
    let not_reviewed = |why: &str, files: u64| Reply {
        message: Some(format!(
            "offload review: NOT reviewed: {why}. The stop was not blocked; nothing was checked, so review the changes yourself."
        )),
        record: Some(Review {
            verdict: ReviewVerdict::Unreviewed,
            blocked: false,
            files,
            attempt: None,
            reason: Some(why.chars().take(300).collect()),
        }),
        ..Reply::default()
    };
    let Some(session) = ctx.session else {
        return not_reviewed("Claude Code sent no session id", 0);
    };
    let Some(mut turn) = ctx.store.turn(session) else {
        return not_reviewed(
            "the gate has no record of this turn's start (it was turned on during the turn, or offload-hook did not run for the prompt)",
            0,
        );
    };
    if turn.not_repo {
        // Said at every stop, changes or not: without git the gate cannot tell.
        let why = turn
            .problem
            .clone()
            .unwrap_or_else(|| "this project is not in a git work tree".into());
        return Reply {
            message: Some(format!(
                "offload review: the review gate cannot review this project ({why}): it sees a turn's changes through git only. Nothing was reviewed; the stop was not blocked."
            )),
            ..not_reviewed(&why, 0)
        };
    }
    // A Codex job of the session that may still change files: its changes are not in the
    // work tree yet, and a review now would take them for the next turn's start.
    if let Some(job) = crate::running::list(ctx.store.state_dir())
        .into_iter()
        .find(|r| {
            r.session.as_deref() == Some(session)
                && r.work_type.as_deref() != Some("review")
                && r.sandbox != "read-only"
                && r.alive()
        })
    {
        turn.held = true;
        let _ = ctx.store.save_turn(session, &turn);
        let why = format!(
            "a Codex job of this session is still running (attempt {}, pid {})",
            job.attempt, job.pid
        );
        return Reply {
            message: Some(format!(
                "offload review: NOT reviewed yet: {why}; its changes and this turn's are reviewed at the first stop after it ends. The stop was not blocked."
            )),
            ..not_reviewed(&why, 0)
        };
    }
    if turn.held {
        turn.held = false;
        let _ = ctx.store.save_turn(session, &turn);
    }
    let Some(start) = turn.tree.clone() else {
        return not_reviewed(
            &format!(
                "there is no snapshot of this turn's start ({})",
                turn.problem.as_deref().unwrap_or("no reason recorded")
            ),
            0,
        );
    };
    let git_deadline = Instant::now() + STOP_GIT_BUDGET;
    let repo = match git::repo(ctx.project, git_deadline) {
        Ok(r) => r,
        Err(e) => return not_reviewed(&format!("git: {e}"), 0),
    };
    if turn.top.as_deref() != Some(&*repo.top.display().to_string()) {
        return not_reviewed(
            "the project's git work tree is not the one this turn started in",
            0,
        );
    }
    let now_tree = match repo.snapshot(
        &ctx.store.objects(),
        &ctx.store.scratch_index(),
        git_deadline,
    ) {
        Ok(t) => t,
        Err(e) => return not_reviewed(&format!("no snapshot of the work tree now ({e})"), 0),
    };
    if now_tree == start {
        return Reply::default();
    }
    let max = ctx.gate.max_diff_bytes();
    let diff = match repo.diff(&ctx.store.objects(), &start, &now_tree, max, git_deadline) {
        Ok(d) => d,
        Err(e) => return not_reviewed(&format!("no diff of the turn's changes ({e})"), 0),
    };
    let code: Vec<&String> = diff
        .files
        .iter()
        .filter(|f| is_code(ctx, &repo.top, f))
        .collect();
    if code.is_empty() {
        return Reply::default();
    }
    let files = diff.files.len() as u64;
    // Codex cannot review what it cannot read: such a change is never reported clean.
    if let Some(bin) = diff.binary.iter().find(|f| is_code(ctx, &repo.top, f)) {
        return not_reviewed(
            &format!(
                "{bin} could not be shown as text (it holds a NUL byte), so Codex could not read its changes"
            ),
            files,
        );
    }
    let key = format!(
        "{:016x}",
        crate::ledger::line_sum(format!("{start}\0{now_tree}").as_bytes())
    );

    // The same diff was reviewed before: its verdict again, and never a second block.
    if let Some(done) = ctx.store.result(session, &key) {
        let (message, verdict) = match done.verdict {
            ReviewVerdict::Allow => (allow_message(&done, files, true), ReviewVerdict::Allow),
            _ => (
                format!(
                    "offload review: these changes are the ones Codex already found problems in (not blocked again):\n{}",
                    verdict::cut(&done.text, 1500)
                ),
                ReviewVerdict::Findings,
            ),
        };
        return Reply {
            message: Some(message),
            record: Some(Review {
                verdict,
                blocked: false,
                files,
                attempt: done.attempt,
                reason: Some("the same diff was reviewed before".into()),
            }),
            ..Reply::default()
        };
    }

    let may_block = match round(turn.rounds, ctx.gate.rounds(), ctx.mode) {
        Round::Limit => {
            return Reply {
                message: Some(format!(
                    "offload review: the changes since the last review were NOT reviewed: this turn's {} review round{} {} used (guard.review_gate.rounds).",
                    ctx.gate.rounds(),
                    if ctx.gate.rounds() == 1 { "" } else { "s" },
                    if ctx.gate.rounds() == 1 { "is" } else { "are" },
                )),
                record: Some(Review {
                    verdict: ReviewVerdict::Limit,
                    blocked: false,
                    files,
                    attempt: None,
                    reason: Some(format!(
                        "{} of {} rounds used{}",
                        turn.rounds,
                        ctx.gate.rounds(),
                        if stop_hook_active {
                            "; Claude continued after a block"
                        } else {
                            ""
                        }
                    )),
                }),
                ..Reply::default()
            };
        }
        Round::Review { may_block } => may_block,
    };
    let Some(text) = diff.text else {
        return not_reviewed(
            &format!(
                "the turn's diff is larger than the gate's limit of {} KiB (guard.review_gate.max_diff_kb)",
                max / 1024
            ),
            files,
        );
    };
    let Some(offload) = ctx.offload.as_deref() else {
        return not_reviewed(
            "the `offload` CLI was not found beside offload-hook or on PATH",
            files,
        );
    };
    let timeout = ctx.gate.timeout();
    let lock_deadline =
        ctx.now + chrono::Duration::from_std(timeout + run::RUNNER_SLACK).unwrap_or_default();
    let _lock = match ctx.store.acquire(session, &key, lock_deadline) {
        Ok(Acquired::Held(l)) => l,
        Ok(Acquired::Busy(holder)) => {
            let who = holder.map_or_else(String::new, |h| {
                format!(
                    " (pid {}, since {} UTC{})",
                    h.pid,
                    h.since.format("%H:%M:%S"),
                    if h.deadline < ctx.now {
                        ", past its deadline"
                    } else {
                        ""
                    }
                )
            });
            return Reply {
                message: Some(format!(
                    "offload review: another offload-hook run is reviewing these same changes{who}; this one leaves it to that one and does not block."
                )),
                record: Some(Review {
                    verdict: ReviewVerdict::Busy,
                    blocked: false,
                    files,
                    attempt: None,
                    reason: None,
                }),
                ..Reply::default()
            };
        }
        Err(e) => return not_reviewed(&format!("cannot take the review lock ({e})"), files),
    };
    // Reviewed meanwhile by the run that held the lock before this one.
    if ctx.store.result(session, &key).is_some() {
        return on_stop(ctx, stop_hook_active);
    }

    let top = repo.top.display().to_string();
    let prompt = verdict::prompt(&top, &diff.files, &text);
    let work = ctx.store.root.join("runs").join(format!(
        "{}.{key}",
        crate::paths::session_file_stem(session)
    ));
    let ran = match run::review(offload, &repo.top, session, &prompt, timeout, &work) {
        Ok(r) => r,
        Err(e) => return not_reviewed(&e, files),
    };
    let with_attempt = |mut reply: Reply| {
        if let Some(r) = reply.record.as_mut() {
            r.attempt.clone_from(&ran.attempt);
        }
        reply
    };
    if let Some(why) = ran.failure() {
        return with_attempt(not_reviewed(&why, files));
    }
    let answer = ran.answer.clone().unwrap_or_default();
    let stored = |verdict: ReviewVerdict, text: &str| Stored {
        verdict,
        text: text.to_owned(),
        attempt: ran.attempt.clone(),
        model: ran.model.clone(),
        at: Utc::now(),
    };
    match verdict::parse(&answer) {
        Verdict::Unreadable(why) => with_attempt(not_reviewed(
            &format!("Codex answered, but not with a verdict ({why})"),
            files,
        )),
        Verdict::Allow { note } => {
            let done = stored(ReviewVerdict::Allow, &note);
            let _ = ctx.store.save_result(session, &key, &done);
            Reply {
                message: Some(allow_message(&done, files, false)),
                record: Some(Review {
                    verdict: ReviewVerdict::Allow,
                    blocked: false,
                    files,
                    attempt: ran.attempt.clone(),
                    reason: None,
                }),
                ..Reply::default()
            }
        }
        Verdict::Findings(findings) => {
            let done = stored(ReviewVerdict::Findings, &findings);
            let _ = ctx.store.save_result(session, &key, &done);
            let model = ran.model.as_deref().unwrap_or("codex");
            // Counted before it is answered: a block that cannot be counted is not made.
            turn.rounds += 1;
            let counted = may_block && ctx.store.save_turn(session, &turn).is_ok();
            let record = Review {
                verdict: ReviewVerdict::Findings,
                blocked: counted,
                files,
                attempt: ran.attempt.clone(),
                reason: Some(findings.chars().take(300).collect()),
            };
            if counted {
                let max = ctx.gate.rounds();
                let next = if turn.rounds >= max {
                    "the next stop is not blocked"
                } else {
                    "a stop with new changes is reviewed again"
                };
                let reason = format!(
                    "offload review gate: Codex ({model}) reviewed the changes of this turn and found problems. \
                     For each finding: fix it (route code changes through `offload run --work-type code …`, as usual), \
                     or explain to the user why it is not a problem. Then finish. (Review round {} of {max}: {next}.)\n\nFindings:\n{findings}",
                    turn.rounds
                );
                Reply {
                    block: Some(reason),
                    message: Some(format!(
                        "offload review: Codex found problems in this turn's changes ({files} file{}); Claude was asked to fix them or explain (round {} of {max}):\n{}",
                        if files == 1 { "" } else { "s" },
                        turn.rounds,
                        verdict::cut(&findings, 1500)
                    )),
                    record: Some(record),
                }
            } else {
                let why = if may_block {
                    "the round could not be recorded, so the stop was not blocked"
                } else {
                    "warn mode: the stop was not blocked"
                };
                Reply {
                    message: Some(format!(
                        "offload review: Codex found problems in this turn's changes ({why}):\n{}",
                        verdict::cut(&findings, 1500)
                    )),
                    record: Some(record),
                    ..Reply::default()
                }
            }
        }
    }
}

fn allow_message(done: &Stored, files: u64, again: bool) -> String {
    let model = done.model.as_deref().unwrap_or("codex");
    let mut m = format!(
        "offload review: ALLOW: Codex ({model}) found no problem in this turn's changes ({files} file{}){}.",
        if files == 1 { "" } else { "s" },
        if again { ", reviewed before" } else { "" }
    );
    if !done.text.is_empty() {
        m.push(' ');
        m.push_str(&verdict::cut(&done.text, 500));
    }
    m
}

/// Whether a path the diff names (relative to the work tree's top) is code to the guard.
fn is_code(ctx: &Ctx<'_>, top: &Path, rel: &str) -> bool {
    let abs = top.join(rel);
    let project = std::fs::canonicalize(ctx.project).unwrap_or_else(|_| ctx.project.to_path_buf());
    let rel = abs
        .strip_prefix(&project)
        .or_else(|_| abs.strip_prefix(ctx.project))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| rel.to_owned());
    ctx.scope.is_code_rel(&rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_bound_the_blocks() {
        assert_eq!(
            round(0, 1, Mode::Enforce),
            Round::Review { may_block: true }
        );
        assert_eq!(round(1, 1, Mode::Enforce), Round::Limit);
        assert_eq!(
            round(1, 2, Mode::Enforce),
            Round::Review { may_block: true }
        );
        assert_eq!(round(2, 2, Mode::Enforce), Round::Limit);
        assert_eq!(round(7, 2, Mode::Enforce), Round::Limit);
        assert_eq!(round(0, 1, Mode::Warn), Round::Review { may_block: false });
    }

    use crate::config::GuardConfig;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// A git project, offload's state, and a stand-in `offload` that answers what `answer`
    /// holds (after `delay` seconds) and counts its runs.
    struct World {
        dir: tempfile::TempDir,
        gate: ReviewGate,
        mode: Mode,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("project");
            std::fs::create_dir_all(p.join("src")).unwrap();
            std::fs::write(p.join("src/lib.rs"), "fn a() {}\n").unwrap();
            let ok = Command::new("sh")
                .args(["-c", "git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm one"])
                .current_dir(&p)
                .status()
                .unwrap()
                .success();
            assert!(ok);
            let fake = dir.path().join("offload");
            std::fs::write(
                &fake,
                format!(
                    "#!/bin/sh\nd={}\ncat > \"$d/prompt.txt\"\necho \"$*\" >> \"$d/runs\"\nsleep \"$(cat \"$d/delay\" 2>/dev/null || echo 0)\"\ncat \"$d/out.json\"\n",
                    dir.path().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
            let w = World {
                dir,
                gate: ReviewGate {
                    enabled: true,
                    timeout: "20s".into(),
                    ..ReviewGate::default()
                },
                mode: Mode::Enforce,
            };
            w.answer("success", "VERDICT: ALLOW");
            w
        }

        fn project(&self) -> PathBuf {
            self.dir.path().join("project").canonicalize().unwrap()
        }

        fn answer(&self, outcome: &str, text: &str) {
            let out = serde_json::json!({"attempt": "a1", "outcome": outcome, "answer": text, "model": "m-code", "error": (outcome != "success").then_some("high demand")});
            std::fs::write(self.dir.path().join("out.json"), out.to_string()).unwrap();
        }

        fn runs(&self) -> usize {
            std::fs::read_to_string(self.dir.path().join("runs")).map_or(0, |t| t.lines().count())
        }

        fn edit(&self, rel: &str, text: &str) {
            std::fs::write(self.project().join(rel), text).unwrap();
        }

        fn with<T>(&self, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
            let project = self.project();
            let scope = Scope::new(&project, &GuardConfig::default(), &[]);
            let ctx = Ctx {
                session: Some("s1"),
                project: &project,
                gate: &self.gate,
                mode: self.mode,
                scope: &scope,
                store: Store::new(&self.dir.path().join("state")),
                offload: Some(self.dir.path().join("offload")),
                now: Utc::now(),
            };
            f(&ctx)
        }

        fn prompt(&self) {
            self.with(on_prompt);
        }

        fn stop(&self, active: bool) -> Reply {
            self.with(|c| on_stop(c, active))
        }
    }

    fn verdict_of(r: &Reply) -> Option<ReviewVerdict> {
        r.record.as_ref().map(|r| r.verdict)
    }

    #[test]
    fn findings_block_once_then_the_round_is_used_up() {
        let w = World::new();
        w.answer(
            "success",
            "VERDICT: FINDINGS\n- src/lib.rs:1: b is never called",
        );
        w.prompt();
        assert_eq!(w.stop(false), Reply::default(), "nothing changed: silent");
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        let reason = r.block.as_deref().expect("blocked");
        assert!(
            reason.contains("- src/lib.rs:1: b is never called"),
            "{reason}"
        );
        assert!(reason.contains("round 1 of 1"), "{reason}");
        assert!(reason.contains("offload run --work-type code"), "{reason}");
        assert!(
            r.message
                .as_deref()
                .unwrap()
                .contains("Codex found problems")
        );
        assert_eq!(
            r.record.as_ref().map(|r| (r.verdict, r.blocked, r.files)),
            Some((ReviewVerdict::Findings, true, 1))
        );
        let prompt = std::fs::read_to_string(w.dir.path().join("prompt.txt")).unwrap();
        assert!(prompt.contains("-fn a() {}\n+fn b() {}"), "{prompt}");
        let args = std::fs::read_to_string(w.dir.path().join("runs")).unwrap();
        assert!(
            args.contains(
                "run --json --work-type review --session s1 --timeout 20000ms - read-only"
            ),
            "{args}"
        );
        // Claude continues (stop_hook_active), changes more: the round is used up.
        w.edit("src/lib.rs", "fn c() {}\n");
        let r = w.stop(true);
        assert_eq!(
            (r.block.as_deref(), verdict_of(&r)),
            (None, Some(ReviewVerdict::Limit))
        );
        assert!(r.message.unwrap().contains("NOT reviewed"));
        // The same diff as reviewed: its verdict, never a second block.
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(true);
        assert_eq!(
            (r.block.as_deref(), verdict_of(&r)),
            (None, Some(ReviewVerdict::Findings))
        );
        assert!(r.message.unwrap().contains("not blocked again"));
        assert_eq!(w.runs(), 1, "one review in the turn");
        // A new turn starts from the work tree as it is, with its rounds.
        w.prompt();
        w.edit("src/lib.rs", "fn d() {}\n");
        assert!(w.stop(false).block.is_some());
        assert_eq!(w.runs(), 2);
    }

    #[test]
    fn more_rounds_block_a_continuing_stop_while_they_last() {
        let mut w = World::new();
        w.gate.rounds = 2;
        w.answer("success", "VERDICT: FINDINGS\n- src/lib.rs:1: bug");
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        assert!(w.stop(false).block.unwrap().contains("round 1 of 2"));
        w.edit("src/lib.rs", "fn c() {}\n");
        let again = w
            .stop(true)
            .block
            .expect("round 2 of 2 blocks a continuing stop");
        assert!(
            again.contains("round 2 of 2: the next stop is not blocked"),
            "{again}"
        );
        w.edit("src/lib.rs", "fn e() {}\n");
        let r = w.stop(true);
        assert_eq!(
            (r.block.as_deref(), verdict_of(&r)),
            (None, Some(ReviewVerdict::Limit))
        );
        assert_eq!(w.runs(), 2);
    }

    #[test]
    fn allow_is_shown_and_nothing_else_happens() {
        let w = World::new();
        w.answer("success", "Looks right.\nVERDICT: ALLOW");
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        assert_eq!(r.block, None);
        let m = r.message.clone().unwrap();
        assert!(
            m.contains("ALLOW") && m.contains("m-code") && m.contains("Looks right."),
            "{m}"
        );
        assert_eq!(verdict_of(&r), Some(ReviewVerdict::Allow));
    }

    #[test]
    fn a_review_that_did_not_happen_says_so_and_never_blocks() {
        for (outcome, answer, why) in [
            ("failed", "", "ended `failed`: high demand"),
            ("timeout", "", "ended `timeout`"),
            ("success", "Looks fine to me", "not with a verdict"),
            ("success", "VERDICT: FINDINGS", "names none"),
        ] {
            let w = World::new();
            w.answer(outcome, answer);
            w.prompt();
            w.edit("src/lib.rs", "fn b() {}\n");
            let r = w.stop(false);
            assert_eq!(r.block, None, "{outcome} {answer:?}");
            let m = r.message.clone().unwrap();
            assert!(m.contains("NOT reviewed") && m.contains(why), "{m}");
            assert!(!m.contains("review: ALLOW"), "{m}");
            assert_eq!(verdict_of(&r), Some(ReviewVerdict::Unreviewed));
            assert_eq!(r.record.unwrap().attempt.as_deref(), Some("a1"));
        }
        // The stand-in gives no result at all.
        let w = World::new();
        std::fs::write(w.dir.path().join("out.json"), "offload: broken").unwrap();
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        assert!(r.message.unwrap().contains("gave no result"));
        assert_eq!(r.block, None);
    }

    #[test]
    fn too_big_no_repository_no_start_and_no_code_are_not_reviewed() {
        let mut w = World::new();
        w.gate.max_diff_kb = 1;
        w.prompt();
        w.edit("src/lib.rs", &"fn x() {}\n".repeat(500));
        let r = w.stop(false);
        assert!(
            r.message
                .unwrap()
                .contains("larger than the gate's limit of 1 KiB")
        );
        assert_eq!((r.block, w.runs()), (None, 0));

        // Only prose changed: nothing to review, nothing said.
        let w = World::new();
        w.prompt();
        w.edit("README.md", "# x\n");
        assert_eq!(w.stop(false), Reply::default());

        // No record of the turn's start.
        let w = World::new();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        assert!(
            r.message
                .unwrap()
                .contains("no record of this turn's start")
        );

        // Not a git repository.
        let w = World::new();
        std::fs::remove_dir_all(w.project().join(".git")).unwrap();
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        let m = r.message.unwrap();
        assert!(
            m.contains("cannot review this project") && m.contains("not in a git repository"),
            "{m}"
        );
        assert_eq!((r.block, w.runs()), (None, 0));
    }

    #[test]
    fn a_code_file_git_cannot_show_as_text_is_not_reported_clean() {
        let w = World::new();
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n\0\n");
        let r = w.stop(false);
        let m = r.message.clone().unwrap();
        assert!(
            m.contains("NOT reviewed: src/lib.rs could not be shown as text"),
            "{m}"
        );
        assert!(!m.contains("ALLOW"), "{m}");
        assert_eq!(
            (r.block.clone(), verdict_of(&r), w.runs()),
            (None, Some(ReviewVerdict::Unreviewed), 0)
        );

        // Attributes that would make git call it binary: its text is what Codex gets.
        let w = World::new();
        std::fs::write(w.project().join(".git/info/attributes"), "*.rs binary\n").unwrap();
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        assert_eq!(verdict_of(&r), Some(ReviewVerdict::Allow));
        let prompt = std::fs::read_to_string(w.dir.path().join("prompt.txt")).unwrap();
        assert!(prompt.contains("-fn a() {}\n+fn b() {}"), "{prompt}");
    }

    #[test]
    fn a_stop_while_a_codex_job_of_the_session_runs_is_reviewed_after_it() {
        let w = World::new();
        w.answer("success", "VERDICT: FINDINGS\n- src/lib.rs:1: bug");
        w.prompt();
        let state = w.dir.path().join("state");
        let job = crate::running::Running::of_this_process(
            "job1",
            Some("s1"),
            "m",
            "workspace-write",
            Some("code"),
            "/",
            "fix it",
        );
        let marker = job.mark(&state).unwrap();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        let m = r.message.clone().unwrap();
        assert!(
            m.contains("NOT reviewed yet: a Codex job of this session is still running"),
            "{m}"
        );
        assert_eq!(
            (r.block.clone(), verdict_of(&r), w.runs()),
            (None, Some(ReviewVerdict::Unreviewed), 0)
        );
        // The job writes more and ends; the user's next prompt keeps the last turn's start.
        w.edit("src/lib.rs", "fn c() {}\n");
        drop(marker);
        w.prompt();
        let r = w.stop(false);
        assert!(r.block.is_some(), "{r:?}");
        let prompt = std::fs::read_to_string(w.dir.path().join("prompt.txt")).unwrap();
        assert!(prompt.contains("-fn a() {}\n+fn c() {}"), "{prompt}");
        // Reviewed: the turn after starts afresh.
        w.prompt();
        w.edit("src/lib.rs", "fn d() {}\n");
        w.stop(false);
        let prompt = std::fs::read_to_string(w.dir.path().join("prompt.txt")).unwrap();
        assert!(prompt.contains("-fn c() {}\n+fn d() {}"), "{prompt}");
        // Another session's job, or a read-only one, holds nothing back.
        let other = crate::running::Running::of_this_process(
            "job2",
            Some("s2"),
            "m",
            "workspace-write",
            Some("code"),
            "/",
            "x",
        );
        let ro = crate::running::Running::of_this_process(
            "job3",
            Some("s1"),
            "m",
            "read-only",
            Some("research"),
            "/",
            "x",
        );
        let _held = (other.mark(&state).unwrap(), ro.mark(&state).unwrap());
        w.prompt();
        w.edit("src/lib.rs", "fn e() {}\n");
        assert!(w.stop(false).block.is_some());
        assert_eq!(w.runs(), 3);
    }

    #[test]
    fn warn_mode_shows_findings_without_blocking() {
        let mut w = World::new();
        w.mode = Mode::Warn;
        w.answer("success", "VERDICT: FINDINGS\n- src/lib.rs:1: bug");
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let r = w.stop(false);
        assert_eq!(r.block, None);
        assert!(r.message.unwrap().contains("warn mode"));
    }

    #[test]
    fn two_stops_at_once_start_one_review() {
        let w = World::new();
        w.answer("success", "VERDICT: FINDINGS\n- src/lib.rs:1: bug");
        std::fs::write(w.dir.path().join("delay"), "1").unwrap();
        w.prompt();
        w.edit("src/lib.rs", "fn b() {}\n");
        let barrier = std::sync::Barrier::new(2);
        let replies: Vec<Reply> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        w.stop(false)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(w.runs(), 1, "{replies:?}");
        let mut verdicts: Vec<_> = replies
            .iter()
            .map(|r| (verdict_of(r), r.block.is_some()))
            .collect();
        verdicts.sort_by_key(|v| format!("{v:?}"));
        assert_eq!(
            verdicts,
            [
                (Some(ReviewVerdict::Busy), false),
                (Some(ReviewVerdict::Findings), true)
            ]
        );
        let busy = replies
            .iter()
            .find(|r| verdict_of(r) == Some(ReviewVerdict::Busy))
            .unwrap();
        assert!(
            busy.message
                .as_deref()
                .unwrap()
                .contains("reviewing these same changes (pid")
        );
    }

    #[test]
    fn the_reply_is_claude_codes_stop_output() {
        assert_eq!(Reply::default().json(), "");
        let r = Reply {
            block: Some("fix it".into()),
            message: Some("m".into()),
            record: None,
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"decision": "block", "reason": "fix it", "systemMessage": "m"})
        );
        let m = Reply {
            message: Some("only".into()),
            ..Reply::default()
        };
        assert_eq!(m.json(), r#"{"systemMessage":"only"}"#);
    }
}
