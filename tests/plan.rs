//! `offload plan new|check|next|run` as processes. `plan next`'s commands are run through
//! `bash -c` against a fake codex that logs its arguments, so the quoting is proven by a real
//! shell; `plan run` runs end to end with the real Codex CLI against the mock Responses server
//! (and, for the codex-failure path, with the fake codex).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Local;
use offload_testkit::codex::{CodexHome, require_real_codex};
use offload_testkit::responses::{MockResponses, Reply};
use serde_json::Value;
use shared::ledger::Body;
use shared::outcome::Outcome;
use support::{Done, Run, Sandbox, fake_codex, offload_bin};

const BASIC: &str = include_str!("../shared/tests/fixtures/plans/valid/basic.md");

/// `offload plan …` in the sandbox's work folder, with the fake codex.
/// `offload plan …` with the offload under test first on `PATH`, as after `./install.sh`.
fn plan(sb: &Sandbox) -> Run {
    Run::new(offload_bin())
        .arg("plan")
        .env("PATH", path_with_offload())
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_HOME", sb.codex_home())
        .env("CODEX_BIN", fake_codex())
        .current_dir(sb.work())
}

fn path_with_offload() -> String {
    format!(
        "{}:{}",
        offload_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Write `text` as `docs/plans/<name>` in the work folder; the path relative to it.
fn write_plan(sb: &Sandbox, name: &str, text: &str) -> String {
    let rel = format!("docs/plans/{name}");
    let path = sb.work().join(&rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    rel
}

/// Every `{{…}}` replaced by `word`.
fn fill(text: &str, word: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").unwrap() + start + 2;
        out.push_str(&rest[..start]);
        out.push_str(word);
        rest = &rest[end..];
    }
    out + rest
}

/// One Codex task in the format, and its routing row.
struct T<'a> {
    id: &'a str,
    objective: &'a str,
    files: &'a str,
    commands: &'a str,
    backend: &'a str,
    depends: &'a str,
}

fn plan_text(goal: &str, tasks: &[T<'_>]) -> String {
    let mut s = format!("# Plan: E2E\n\nGoal: {goal}\n\n## Tasks\n\n");
    let mut rows = String::new();
    for t in tasks {
        s.push_str(&format!(
            "### {id}: Task {id}\n- Status: todo\n- Objective: {o}\n- Files: {f}\n- Commands: {c}\n- Backend: {b}\n- Done when: its commands pass.\n- Estimate: 2 min\n- Depends on: {d}\n\n",
            id = t.id,
            o = t.objective,
            f = t.files,
            c = t.commands,
            b = t.backend,
            d = t.depends
        ));
        let cells = if t.backend == "claude" {
            "claude | - | -".to_owned()
        } else {
            t.backend.splitn(3, ' ').collect::<Vec<_>>().join(" | ")
        };
        rows.push_str(&format!("| {} | {cells} |\n", t.id));
    }
    s + "## Routing summary\n\n| Task | Backend | Model | Sandbox |\n|---|---|---|---|\n" + &rows
}

fn statuses(path: &Path) -> Vec<(String, String)> {
    let plan = shared::plan::parse(&fs::read_to_string(path).unwrap()).plan;
    plan.tasks
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                if t.done { "done" } else { "todo" }.to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// new

#[test]
fn plan_new_writes_a_dated_template_and_never_overwrites() {
    let sb = Sandbox::new();
    let rel = format!(
        "docs/plans/{}-add-a-verbose-flag.md",
        Local::now().format("%Y-%m-%d")
    );
    let done = plan(&sb)
        .args(["new", "Add a --verbose flag!"])
        .output()
        .expect_code(0);
    assert_eq!(done.stdout(), format!("{rel}\n"));
    assert!(
        done.stderr().contains("fill in every {{placeholder}}"),
        "{}",
        done.stderr()
    );
    let path = sb.work().join(&rel);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# Plan: Add a --verbose flag!\n\nGoal: {{"),
        "{text}"
    );

    // As written it fails on its placeholders, and only on them.
    let check = plan(&sb).args(["check", &rel]).output().expect_code(1);
    let out = check.stdout();
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(
            line.starts_with(&format!("{rel}:")) && line.contains("is a placeholder"),
            "{line}"
        );
    }
    // Filled in, it passes.
    fs::write(&path, fill(&text, "filled")).unwrap();
    let ok = plan(&sb).args(["check", &rel]).output().expect_code(0);
    assert_eq!(
        ok.stdout(),
        format!("{rel}: OK: 2 tasks, 0 done; 2 for Codex, 0 for Claude; 6 min estimated\n")
    );

    // A second `new` for the same feature on the same day refuses, names the file, keeps it.
    let again = plan(&sb)
        .args(["new", "add a verbose flag"])
        .output()
        .expect_code(1);
    assert_eq!(
        again.stderr(),
        format!(
            "offload: {rel} already exists; not overwriting it (edit it, or pick another feature name)\n"
        )
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), fill(&text, "filled"));

    // A feature with nothing to name the file after is a usage error.
    let bad = plan(&sb).args(["new", "¿¡!"]).output().expect_code(2);
    assert!(
        bad.stderr().contains("no ASCII letter or digit"),
        "{}",
        bad.stderr()
    );
}

#[test]
fn plan_new_routes_the_template_by_the_configured_code_model() {
    let sb = Sandbox::new();
    let done = plan(&sb)
        .env("CODEX_MODEL_CODE", "my-code-model")
        .args(["new", "x"])
        .output()
        .expect_code(0);
    let text = fs::read_to_string(sb.work().join(done.stdout().trim())).unwrap();
    assert!(
        text.contains("- Backend: codex my-code-model workspace-write"),
        "{text}"
    );
    assert!(
        text.contains("| T1 | codex | my-code-model | workspace-write |"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn plan_check_takes_the_models_the_config_routes_to() {
    let sb = Sandbox::new();
    let text = plan_text(
        "Route to models codex knows.",
        &[
            T {
                id: "T1",
                objective: "Add a flag.",
                files: "`src/cli.rs`",
                commands: "`true`",
                backend: "codex gpt-6.2-sol workspace-write",
                depends: "none",
            },
            T {
                id: "T2",
                objective: "Review T1.",
                files: "`src/cli.rs`",
                commands: "`true`",
                backend: "codex gpt-6.2-astra read-only",
                depends: "T1",
            },
        ],
    );
    let rel = write_plan(&sb, "2026-01-01-switch.md", &text);
    // Under the default models the routing rule refuses them.
    let done = plan(&sb).args(["check", &rel]).output().expect_code(1);
    assert!(
        done.stdout()
            .contains("task T1: model `gpt-6.2-sol` is not in the routing policy"),
        "{}",
        done.stdout()
    );
    // Switched in the config file (as `offload setup --code-model … --logic-model …` does), it
    // takes them, and `plan next` routes the task to the configured code model.
    Run::new(offload_bin())
        .args([
            "setup",
            "--code-model",
            "gpt-6.2-sol",
            "--logic-model",
            "gpt-6.2-astra",
        ])
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_BIN", fake_codex())
        .current_dir(sb.work())
        .output()
        .expect_code(0);
    let done = plan(&sb).args(["check", &rel]).output().expect_code(0);
    assert_eq!(
        done.stdout(),
        format!("{rel}: OK: 2 tasks, 0 done; 2 for Codex, 0 for Claude; 4 min estimated\n")
    );
    let next = plan(&sb).args(["next", &rel]).output().expect_code(0);
    assert!(
        next.stdout().contains("offload run -m gpt-6.2-sol "),
        "{}",
        next.stdout()
    );
    // The old default is no longer the code model: a plan naming it is told what to use.
    let old = write_plan(
        &sb,
        "2026-01-02-old.md",
        &text.replace("gpt-6.2-sol", "gpt-5.3-codex"),
    );
    let done = plan(&sb).args(["check", &old]).output().expect_code(1);
    assert!(
        done.stdout().contains(
            "model `gpt-5.3-codex` is not in the routing policy (use gpt-6.2-sol (code, explore, review) or gpt-6.2-astra (analysis, default))"
        ),
        "{}",
        done.stdout()
    );
}

#[test]
fn plan_check_prints_each_problem_with_file_and_line_and_exits_1() {
    let sb = Sandbox::new();
    let ok = write_plan(&sb, "2026-01-01-basic.md", BASIC);
    let done = plan(&sb).args(["check", &ok]).output().expect_code(0);
    assert_eq!(
        done.stdout(),
        format!("{ok}: OK: 3 tasks, 1 done; 2 for Codex, 1 for Claude; 9 min estimated\n")
    );

    let broken = BASIC
        .replace("- Estimate: 4 min", "- Estimate: 8 min")
        .replace("| T3 | claude | - | - |\n", "")
        .replace("`src/cli.rs`, `src/run.rs`", "`src/*.rs`");
    let bad = write_plan(&sb, "2026-01-01-broken.md", &broken);
    let done = plan(&sb).args(["check", &bad]).output().expect_code(1);
    assert_eq!(
        done.stdout(),
        format!(
            "{bad}:11: task T1: `src/*.rs` is a glob, not a file (name each file the task touches)
{bad}:24: task T2: estimate 8 min is outside 2–5 minutes (split it into tasks of 2–5 minutes)
{bad}:39: task T3 is missing from the routing table (add `| T3 | claude | - | - |`)
"
        )
    );
    assert_eq!(done.stderr(), format!("offload: 3 problems in {bad}\n"));

    let json = plan(&sb)
        .args(["check", &bad, "--json"])
        .output()
        .expect_code(1);
    let v: Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["tasks"], 3);
    assert_eq!(v["problems"][1]["line"], 24);
    assert_eq!(v["problems"][1]["rule"], "estimate");
    assert_eq!(
        v["problems"][1]["hint"],
        "split it into tasks of 2–5 minutes"
    );
    let json = plan(&sb)
        .args(["check", &ok, "--json"])
        .output()
        .expect_code(0);
    let v: Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["done"].clone()),
        (Value::Bool(true), 1.into())
    );
}

#[test]
fn plan_check_uses_the_project_and_the_policy() {
    let sb = Sandbox::new();
    let rel = write_plan(&sb, "2026-01-01-basic.md", BASIC);
    // `src/run.rs` is a directory in this project: not a file. The project is the folder
    // holding docs/plans/, wherever the check runs from.
    fs::create_dir_all(sb.work().join("src/run.rs")).unwrap();
    let done = plan(&sb)
        .current_dir(sb.dir.path())
        .args(["check", &format!("work/{rel}")])
        .output()
        .expect_code(1);
    assert_eq!(
        done.stdout(),
        format!(
            "work/{rel}:11: task T1: `src/run.rs` is a directory, not a file (name the files in it that the task touches)\n"
        )
    );
    fs::remove_dir_all(sb.work().join("src")).unwrap();
    // The models allowed are the runner's, after the environment.
    let done = plan(&sb)
        .env("CODEX_MODEL_CODE", "other-model")
        .args(["check", &rel])
        .output()
        .expect_code(1);
    assert_eq!(
        done.stdout().lines().next().unwrap(),
        format!(
            "{rel}:13: task T1: model `gpt-5.3-codex` is not in the routing policy (use other-model (code, explore, review) or gpt-5.4 (analysis, default))"
        )
    );
    // An unreadable file is an error that names it.
    let done = plan(&sb)
        .args(["check", "docs/plans/none.md"])
        .output()
        .expect_code(1);
    assert!(
        done.stderr()
            .starts_with("offload: cannot read docs/plans/none.md: "),
        "{}",
        done.stderr()
    );
}

/// `offload plan check /dev/zero` (or a FIFO, or a huge file) is refused at once, not read to
/// the end of memory or waited on.
#[test]
fn plan_files_are_read_only_when_regular_and_bounded() {
    let sb = Sandbox::new();
    let fifo = sb.work().join("plan.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = sb.work().join("huge.md");
    fs::write(&huge, "#".repeat(5 << 20)).unwrap();
    for (file, why) in [
        ("/dev/zero", "it is not a regular file"),
        ("plan.fifo", "it is not a regular file"),
        ("huge.md", "it is larger than 4 MiB"),
    ] {
        for sub in ["check", "next", "run"] {
            let started = std::time::Instant::now();
            // A bound on the test, never reached by a bounded read: an unbounded one is killed.
            let done = Run::new("sh")
                .args([
                    "-c",
                    "ulimit -v 4000000; exec timeout -s KILL 60 \"$0\" plan \"$@\"",
                ])
                .arg(offload_bin())
                .args([sub, file])
                .env("OFFLOAD_HOME", sb.home())
                .env("CODEX_BIN", fake_codex())
                .current_dir(sb.work())
                .output();
            let err = done.stderr();
            assert_eq!(done.code(), 1, "{sub} {file}: {err}");
            assert!(
                err.starts_with(&format!("offload: cannot read {file}: {why}")),
                "{sub} {file}: {err}"
            );
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// next

/// A prompt that a careless quoting would break: quotes, `$`, backticks, `\`, `!`, a newline.
const NASTY: &str = r#"Handle "quoted" and it's $HOME, `whoami`, $(echo no), \n, 100% & !bang"#;

fn nasty_plan() -> String {
    plan_text(
        "Keep every byte: 'single', \"double\", $PATH and `ls`.",
        &[
            T {
                id: "T1",
                objective: NASTY,
                files: "`src/a b.rs`, `src/it's.rs`",
                commands: "`test \"$(echo ok)\" = ok`, `grep -q 'x' src/a.rs || true`",
                backend: "codex gpt-5.3-codex workspace-write",
                depends: "none",
            },
            T {
                id: "T2",
                objective: "Review T1.",
                files: "`src/a.rs`",
                commands: "`true`",
                backend: "codex gpt-5.4 read-only",
                depends: "none",
            },
            T {
                id: "T3",
                objective: "Document it.",
                files: "`README.md`",
                commands: "`true`",
                backend: "claude",
                depends: "none",
            },
            T {
                id: "T4",
                objective: "Later.",
                files: "`src/c.rs`",
                commands: "`true`",
                backend: "codex gpt-5.3-codex workspace-write",
                depends: "T1, T3",
            },
        ],
    )
}

#[test]
fn plan_next_prints_the_batch_with_exact_commands() {
    let sb = Sandbox::new();
    let rel = write_plan(&sb, "2026-01-01-e2e.md", &nasty_plan());
    let done = plan(&sb).args(["next", &rel]).output().expect_code(0);
    let parsed = shared::plan::parse(&nasty_plan()).plan;
    let p1 = shared::plan::prompt(&parsed, &parsed.tasks[0]);
    let p2 = shared::plan::prompt(&parsed, &parsed.tasks[1]);
    let q = |s: &str| shared::plan::shell_quote(s).into_owned();
    assert_eq!(
        done.stdout(),
        format!(
            "{rel}: 0 of 4 tasks done.

Next batch for Codex (2 tasks; run them at once):

T1: Task T1 (codex gpt-5.3-codex workspace-write, 2 min)
offload run -m gpt-5.3-codex {} workspace-write .

T2: Task T2 (codex gpt-5.4 read-only, 2 min)
offload run -m gpt-5.4 {} read-only .

For Claude (do these yourself):
T3: Task T3 (2 min); files: README.md; check: `true`

Waiting: T4 on T1, T3

When a task's commands pass, set its `- Status: done` (`offload plan run {rel}` does this for the batch's Codex tasks, then stops for you to verify).
",
            q(&p1),
            q(&p2)
        )
    );
    // The prompt holds the contract's four parts.
    for part in [
        "Goal of the plan: Keep every byte: 'single', \"double\", $PATH and `ls`.",
        &format!("Objective: {NASTY}"),
        "Done when: its commands pass.",
        "Files: `src/a b.rs`, `src/it's.rs`. Change only these files",
        "- `test \"$(echo ok)\" = ok`\n- `grep -q 'x' src/a.rs || true`",
        "Output: end with a short summary: the files you changed, the commands you ran",
    ] {
        assert!(p1.contains(part), "{part:?} not in\n{p1}");
    }
}

#[test]
fn plan_next_commands_survive_a_real_shell() {
    let sb = Sandbox::new();
    let rel = write_plan(&sb, "2026-01-01-e2e.md", &nasty_plan());
    let json = plan(&sb)
        .args(["next", &rel, "--json"])
        .output()
        .expect_code(0);
    let v: Value = serde_json::from_str(&json.stdout()).unwrap();
    let batch = v["batch"].as_array().unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        (batch[1]["model"].clone(), batch[1]["sandbox"].clone()),
        ("gpt-5.4".into(), "read-only".into())
    );
    assert_eq!(v["claude"][0]["id"], "T3");
    assert_eq!(v["waiting"][0]["on"], serde_json::json!(["T1", "T3"]));
    let bin_dir = offload_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, task) in batch.iter().enumerate() {
        let command = task["command"].as_str().unwrap();
        let prompt = task["prompt"].as_str().unwrap();
        let argv: Vec<&str> = task["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(argv[..3], ["offload", "run", "-m"]);
        assert_eq!(argv[4], prompt);
        assert_eq!(command, shared::plan::command_line(&argv));
        let log = sb.file(&format!("codex-{i}.log"));
        // Exactly what Claude would do: run the printed line in bash.
        let done = Done(
            Run::new("bash")
                .args(["-c", command])
                .env("PATH", &path)
                .env("OFFLOAD_HOME", sb.home())
                .env("CODEX_HOME", sb.codex_home())
                .env("CODEX_BIN", fake_codex())
                .env("FAKE_CODEX_LOG", &log)
                .current_dir(sb.work())
                .output()
                .0,
        )
        .expect_code(0);
        assert_eq!(done.stdout(), "fake answer\n");
        let logged = fs::read_to_string(&log).unwrap();
        let (model, sandbox) = (argv[3], argv[5]);
        assert!(
            logged.contains(&format!(
                " -m {model} -s {sandbox} -C {} ",
                sb.work().display()
            )),
            "{logged}"
        );
        assert!(
            logged.ends_with(&format!(" -- {prompt}\n")),
            "the prompt reached codex byte for byte:\n{logged}"
        );
    }
    let finished = sb.finished();
    assert_eq!(finished.len(), 2);
    assert!(finished.iter().all(|f| f.outcome == Outcome::Success));
}

#[test]
fn plan_next_refuses_an_invalid_plan_and_reports_a_finished_one() {
    let sb = Sandbox::new();
    let bad = write_plan(
        &sb,
        "bad.md",
        &BASIC.replace("- Estimate: 4 min", "- Estimate: 9 min"),
    );
    let done = plan(&sb).args(["next", &bad]).output().expect_code(1);
    assert_eq!(done.stdout(), "");
    assert_eq!(
        done.stderr(),
        format!(
            "{bad}:24: task T2: estimate 9 min is outside 2–5 minutes (split it into tasks of 2–5 minutes)\n\
             offload: {bad} has problems; fix them first (`offload plan check {bad}`)\n"
        )
    );
    let all_done = BASIC.replace("Status: todo", "Status: done");
    let fin = write_plan(&sb, "done.md", &all_done);
    let done = plan(&sb).args(["next", &fin]).output().expect_code(0);
    assert_eq!(done.stdout(), format!("{fin}: all 3 tasks are done.\n"));
}

// ---------------------------------------------------------------------------------------------
// run

/// The three-task plan of the end-to-end runs: T1 and T2 are independent, T3 depends on T1
/// and its done check fails; T4 is Claude's.
fn e2e_plan() -> String {
    plan_text(
        "Prove that plan run dispatches, checks and marks.",
        &[
            T {
                id: "T1",
                objective: "Write the first file.",
                files: "`one.txt`",
                commands: "`test -f one.txt`, `grep -q one one.txt`",
                backend: "codex gpt-5.3-codex workspace-write",
                depends: "none",
            },
            T {
                id: "T2",
                objective: "Review the second file.",
                files: "`two.txt`",
                commands: "`test -f two.txt`",
                backend: "codex gpt-5.4 read-only",
                depends: "none",
            },
            T {
                id: "T3",
                objective: "Write the third file, after T1.",
                files: "`three.txt`",
                commands: "`echo checking three; test -f three.txt`",
                backend: "codex gpt-5.3-codex danger-full-access",
                depends: "T1",
            },
            T {
                id: "T4",
                objective: "Tell the user.",
                files: "`NOTES.md`",
                commands: "`true`",
                backend: "claude",
                depends: "none",
            },
        ],
    )
}

fn e2e_work(sb: &Sandbox) -> (String, PathBuf) {
    let rel = write_plan(sb, "2026-01-01-e2e.md", &e2e_plan());
    fs::write(sb.work().join("one.txt"), "one\n").unwrap();
    fs::write(sb.work().join("two.txt"), "two\n").unwrap();
    let path = sb.work().join(&rel);
    (rel, path)
}

#[test]
fn plan_run_with_the_real_codex_dispatches_checks_marks_and_stops_at_a_failed_check() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::start().expect("start the mock server");
    mock.set_default(Reply::message("done as asked"));
    let home = CodexHome::new(&mock.base_url());
    let sb = Sandbox::new();
    let (rel, path) = e2e_work(&sb);
    let before = fs::read_to_string(&path).unwrap();

    let done = Done(output_within(real_plan_run(&home, &sb, &codex, &rel), 180)).expect_code(1);
    let out = done.stdout();
    let err = done.stderr();

    // Batch 1: T1 and T2 at once; batch 2: T3 (it waited for T1), whose check fails.
    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.starts_with('T') && l.contains("codex "))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let cells = |r: &Vec<&str>| r[..4].iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rows.iter().map(cells).collect::<Vec<_>>(),
        [
            [
                "T1",
                "codex gpt-5.3-codex workspace-write",
                "success",
                "passed (2)"
            ],
            ["T2", "codex gpt-5.4 read-only", "success", "passed (1)"],
            [
                "T3",
                "codex gpt-5.3-codex danger-full-access",
                "success",
                "failed: exited 1"
            ],
        ],
        "{out}\n{err}"
    );
    assert!(
        out.contains("\nBatch 1\n") && out.contains("\nBatch 2\n"),
        "{out}"
    );
    assert!(out.contains("Marked done: T1, T2\n"), "{out}");
    assert!(
        out.contains("T3: its done check `echo checking three; test -f three.txt` exited 1; not marked done\n    checking three\n"),
        "{out}"
    );
    assert!(
        err.ends_with(&format!(
            "offload: plan run stopped after batch 2: T3 failed; fix it and run `offload plan run {rel}` again\n"
        )),
        "{err}"
    );

    // The file: T1 and T2 done, T3 and Claude's T4 not; nothing else changed.
    assert_eq!(
        statuses(&path),
        pairs(&[
            ("T1", "done"),
            ("T2", "done"),
            ("T3", "todo"),
            ("T4", "todo")
        ])
    );
    let after = fs::read_to_string(&path).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(before.lines().count(), after.lines().count());

    // The ledger: three successful Codex attempts, each with its task's route; T3 started
    // only after T1 had finished.
    let events = sb.events();
    let mut started = Vec::new();
    let mut finished = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &e.body {
            Body::AttemptStarted(s) => started.push((i, s.model.clone(), s.sandbox.clone())),
            Body::AttemptFinished(f) => {
                assert_eq!(f.outcome, Outcome::Success, "{f:?}");
                assert_eq!(f.cwd, sb.work().display().to_string());
                assert!(f.tokens.total > 0, "{f:?}");
                finished.push((i, f.model.clone(), f.sandbox.clone()));
            }
            _ => {}
        }
    }
    let mut routes: Vec<(String, String)> = finished
        .iter()
        .map(|(_, m, s)| (m.clone(), s.clone()))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        pairs(&[
            ("gpt-5.3-codex", "danger-full-access"),
            ("gpt-5.3-codex", "workspace-write"),
            ("gpt-5.4", "read-only"),
        ])
    );
    let at = |v: &[(usize, String, String)], sandbox: &str| {
        v.iter()
            .find(|(_, _, s)| s == sandbox)
            .map(|(i, _, _)| *i)
            .unwrap()
    };
    assert!(
        at(&started, "danger-full-access") > at(&finished, "workspace-write"),
        "T3 ran after T1: {events:?}"
    );

    // Each task's prompt reached the model, and the Claude task never did.
    let bodies: Vec<String> = mock
        .responses_requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(bodies.len(), 3, "one model turn per task");
    for needle in [
        "Write the first file.",
        "Review the second file.",
        "Write the third file, after T1.",
    ] {
        assert_eq!(
            bodies.iter().filter(|b| b.contains(needle)).count(),
            1,
            "{needle}"
        );
    }
    assert!(!bodies.iter().any(|b| b.contains("Tell the user.")));

    // Fixed, it finishes: T3 passes, and the Claude task is left for Claude.
    fs::write(sb.work().join("three.txt"), "three\n").unwrap();
    let done = Done(output_within(real_plan_run(&home, &sb, &codex, &rel), 120)).expect_code(0);
    assert!(
        done.stdout().ends_with(&format!(
            "Marked done: T3\n{rel}: 3 of 4 tasks done; nothing more is ready for Codex. For Claude: T4.\n"
        )),
        "{}",
        done.stdout()
    );
    assert_eq!(statuses(&path)[2], ("T3".to_owned(), "done".to_owned()));
}

/// Without `--all`, `plan run` runs one batch and stops, printing the exact command that runs
/// the next one: the batch is verified before the next starts.
#[test]
fn plan_run_runs_one_batch_and_says_how_to_go_on() {
    let sb = Sandbox::new();
    let (rel, path) = e2e_work(&sb);
    let log = sb.file("codex.log");
    let execs = || {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(" exec --json ")
            .count()
    };
    let done = plan(&sb)
        .env("FAKE_CODEX_LOG", &log)
        .args(["run", &rel])
        .output()
        .expect_code(0);
    let out = done.stdout();
    assert!(
        out.contains("\nBatch 1\n") && !out.contains("Batch 2"),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "Marked done: T1, T2\n{rel}: 2 of 4 tasks done. Verify this batch (read the diff, run the tests), then run the next one:\n  offload plan run {rel}\n(`offload plan run {rel} --all` runs every batch without stopping.)\n"
        )),
        "{out}"
    );
    assert_eq!(execs(), 2, "T3 waits for the next run");
    assert_eq!(
        statuses(&path),
        pairs(&[
            ("T1", "done"),
            ("T2", "done"),
            ("T3", "todo"),
            ("T4", "todo")
        ])
    );
    // The printed command, run in bash as Claude would, runs the next batch: T3, whose check
    // fails until three.txt exists.
    let next = out.lines().rev().nth(1).unwrap().trim().to_owned();
    let path = format!(
        "{}:{}",
        offload_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let in_bash = || {
        Done(
            Run::new("bash")
                .args(["-c", &next])
                .env("PATH", &path)
                .env("OFFLOAD_HOME", sb.home())
                .env("CODEX_HOME", sb.codex_home())
                .env("CODEX_BIN", fake_codex())
                .env("FAKE_CODEX_LOG", &log)
                .current_dir(sb.work())
                .output()
                .0,
        )
    };
    in_bash().expect_code(1);
    assert_eq!(execs(), 3);
    fs::write(sb.work().join("three.txt"), "three\n").unwrap();
    let done = in_bash().expect_code(0);
    assert!(
        done.stdout().ends_with(&format!(
            "Marked done: T3\n{rel}: 3 of 4 tasks done; nothing more is ready for Codex. For Claude: T4.\n"
        )),
        "{}",
        done.stdout()
    );
}

#[test]
fn plan_run_stops_when_codex_fails_and_marks_nothing_for_it() {
    let sb = Sandbox::new();
    let (rel, path) = e2e_work(&sb);
    let log = sb.file("codex.log");
    let done = plan(&sb)
        .env("FAKE_CODEX_FAIL_MODEL", "gpt-5.4")
        .env("FAKE_CODEX_LOG", &log)
        .args(["run", &rel])
        .output()
        .expect_code(1);
    let out = done.stdout();
    assert!(
        out.contains("T2: codex failed: ") && out.contains("; not checked, not marked done\n"),
        "{out}"
    );
    assert!(out.contains("skipped"), "{out}");
    assert!(
        !out.contains("Batch 2"),
        "stopped after the failing batch: {out}"
    );
    assert_eq!(
        statuses(&path),
        pairs(&[
            ("T1", "done"),
            ("T2", "todo"),
            ("T3", "todo"),
            ("T4", "todo")
        ])
    );
    assert_eq!(
        fs::read_to_string(&log)
            .unwrap()
            .matches(" exec --json ")
            .count(),
        2
    );
    let outcomes: Vec<Outcome> = sb.finished().iter().map(|f| f.outcome).collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.contains(&Outcome::Failed) && outcomes.contains(&Outcome::Success));
}

#[test]
fn plan_run_dispatches_at_most_three_at_once_and_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let tasks: Vec<String> = (1..=5).map(|i| format!("T{i}")).collect();
    let files: Vec<String> = (1..=5).map(|i| format!("`f{i}.txt`")).collect();
    let text = plan_text(
        "Five at once is too many.",
        &tasks
            .iter()
            .zip(&files)
            .map(|(id, f)| T {
                id,
                objective: "Nothing.",
                files: f,
                commands: "`true`",
                backend: "codex gpt-5.3-codex workspace-write",
                depends: "none",
            })
            .collect::<Vec<_>>(),
    );
    let rel = write_plan(&sb, "five.md", &text);
    let path = sb.work().join(&rel);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let pids = sb.file("pids");
    let done = plan(&sb)
        .env("FAKE_CODEX_MODE", "slow")
        .env("FAKE_CODEX_PIDS", &pids)
        .args(["run", &rel, "--all"])
        .output()
        .expect_code(0);
    let out = done.stdout();
    let batch = |n: usize| {
        out.split(&format!("Batch {n}\n"))
            .nth(1)
            .map(|s| s.lines().skip(1).take_while(|l| l.starts_with('T')).count())
    };
    assert_eq!(
        (batch(1), batch(2), batch(3)),
        (Some(3), Some(2), None),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("{rel}: all 5 tasks are done.\n")),
        "{out}"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(statuses(&path).iter().all(|(_, s)| s == "done"));
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp file left beside the plan");
}

/// `offload plan run <rel>` with the real codex talking to the mock behind `home`, and nothing
/// from the developer's shell that could steer offload or codex elsewhere.
fn real_plan_run(home: &CodexHome, sb: &Sandbox, codex: &Path, rel: &str) -> Command {
    let mut cmd = Run::new(offload_bin()).command();
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("OPENAI_")
            || n.starts_with("CODEX_")
            || n.to_ascii_uppercase().ends_with("_PROXY")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(home.envs())
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_BIN", codex)
        .env("CODEX_TIMEOUT", "60")
        .current_dir(sb.work())
        .args(["plan", "run", "--all", rel]);
    cmd
}

/// Run `cmd` to its end, failing the test if it takes longer than `secs`.
fn output_within(mut cmd: Command, secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn offload");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if !support::alive_after(pid, 0) {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // SAFETY: signalling the offload process this test spawned, by its pid.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        true
    });
    let out = child.wait_with_output().expect("wait for offload");
    assert!(
        !watchdog.join().unwrap(),
        "offload plan run took over {secs}s"
    );
    out
}

#[test]
fn plan_run_interrupted_ends_the_running_check_and_marks_nothing_more() {
    let sb = Sandbox::new();
    let pid_file = sb.file("check.pid");
    let text = plan_text(
        "Stop cleanly.",
        &[T {
            id: "T1",
            objective: "Nothing.",
            files: "`f.txt`",
            commands: &format!("`echo $$ > {}; sleep 30`", pid_file.display()),
            backend: "codex gpt-5.3-codex workspace-write",
            depends: "none",
        }],
    );
    let rel = write_plan(&sb, "stop.md", &text);
    let mut cmd = plan(&sb).args(["run", &rel]).command();
    let started = std::time::Instant::now();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let check_pid = loop {
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(started.elapsed().as_secs() < 20, "the check never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: signalling the offload process this test spawned, by its pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let done = Done(child.wait_with_output().unwrap()).expect_code(1);
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        done.stderr()
            .contains("offload: plan run interrupted in batch 1"),
        "{}",
        done.stderr()
    );
    assert!(
        done.stdout().contains("failed: was interrupted"),
        "{}",
        done.stdout()
    );
    assert!(
        !support::alive_after(check_pid, 2000),
        "the check outlived plan run"
    );
    assert_eq!(statuses(&sb.work().join(&rel)), pairs(&[("T1", "todo")]));
}

/// Without `offload` on `PATH`, the commands `plan next` prints name the binary by its path, so
/// that Claude's Bash tool can run them as printed.
#[test]
fn plan_next_commands_run_without_offload_on_path() {
    let sb = Sandbox::new();
    let rel = write_plan(&sb, "2026-01-01-e2e.md", &nasty_plan());
    let done = plan(&sb)
        .args(["next", &rel, "--json"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&done.stdout()).unwrap();
    let command = v["batch"][0]["command"].as_str().unwrap();
    let bin = shared::plan::shell_quote(&offload_bin().display().to_string()).into_owned();
    assert!(command.starts_with(&format!("{bin} run ")), "{command}");
    let log = sb.file("codex.log");
    let ran = Done(
        Run::new("bash")
            .args(["-c", command])
            .env("PATH", "/usr/bin:/bin")
            .env("OFFLOAD_HOME", sb.home())
            .env("CODEX_HOME", sb.codex_home())
            .env("CODEX_BIN", fake_codex())
            .env("FAKE_CODEX_LOG", &log)
            .current_dir(sb.work())
            .output()
            .0,
    );
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(log.is_file(), "codex ran");
}
