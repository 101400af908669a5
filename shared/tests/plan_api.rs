//! `shared::plan` as the CLI and the guard use it: the template, batches, prompts, marking a
//! task done, the policy taken from the runner's config, and the directory check.

mod plan {
    use shared::codex::command::Sandbox;
    use shared::config::RunnerConfig;
    use shared::plan::{
        Backend, MAX_BATCH, RoutingPolicy, Rule, check_text, check_text_at, load, mark_done,
        next_batch, parse, prompt, run_args, slug, template,
    };

    const BASIC: &str = include_str!("fixtures/plans/valid/basic.md");

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
        out.push_str(rest);
        out
    }

    /// A plan of `n` independent Codex tasks (and whatever `extra` task text).
    fn plan_of(tasks: &[(&str, &str, &str, &str)]) -> String {
        let mut s = String::from("# Plan: P\n\nGoal: G.\n\n## Tasks\n\n");
        let mut rows = String::new();
        for (id, backend, files, deps) in tasks {
            s.push_str(&format!(
                "### {id}: t\n- Status: todo\n- Objective: o\n- Files: {files}\n- Commands: `true`\n- Backend: {backend}\n- Done when: d\n- Estimate: 3 min\n- Depends on: {deps}\n\n"
            ));
            let cells = match *backend {
                "claude" => "claude | - | -".to_owned(),
                b => b.splitn(3, ' ').collect::<Vec<_>>().join(" | "),
            };
            rows.push_str(&format!("| {id} | {cells} |\n"));
        }
        s.push_str(
            "## Routing summary\n\n| Task | Backend | Model | Sandbox |\n|---|---|---|---|\n",
        );
        s + &rows
    }

    const CODE: &str = "codex gpt-5.3-codex workspace-write";

    #[test]
    fn the_template_fails_only_on_its_placeholders_and_passes_once_filled() {
        let policy = RoutingPolicy::default();
        let text = template("Add a --verbose flag", &policy);
        let problems = check_text(&text, &policy);
        assert!(!problems.is_empty());
        assert!(
            problems.iter().all(|p| p.rule == Rule::Placeholder),
            "{problems:#?}"
        );
        assert_eq!(check_text(&fill(&text, "filled"), &policy), vec![]);
        // Under another policy, the template routes to that policy's code model.
        let custom = RoutingPolicy::from(&RunnerConfig {
            model_code: "my-code-model".into(),
            ..RunnerConfig::default()
        });
        let text = fill(&template("x", &custom), "filled");
        assert!(text.contains("- Backend: codex my-code-model workspace-write"));
        assert_eq!(check_text(&text, &custom), vec![]);
        assert_eq!(
            slug("Add a --verbose flag").as_deref(),
            Some("add-a-verbose-flag")
        );
    }

    #[test]
    fn the_policy_comes_from_the_runner_config() {
        let policy = RoutingPolicy::from(&RunnerConfig {
            model_code: "c1".into(),
            model_logic: "l1".into(),
            model: "d1".into(),
            ..RunnerConfig::default()
        });
        let problems = check_text(BASIC, &policy);
        let policy_lines: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            policy_lines,
            [
                (
                    13,
                    "task T1: model `gpt-5.3-codex` is not in the routing policy"
                ),
                (
                    22,
                    "task T2: model `gpt-5.3-codex` is not in the routing policy"
                ),
            ]
        );
        assert_eq!(
            problems[0].hint,
            "use c1 (code, explore, review), l1 (analysis) or d1 (default)"
        );
        let strict = RoutingPolicy {
            sandboxes: vec![Sandbox::ReadOnly],
            ..RoutingPolicy::default()
        };
        let problems = check_text(BASIC, &strict);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(
            problems[0].message,
            "task T1: sandbox `workspace-write` is not allowed by the routing policy"
        );
    }

    #[test]
    fn the_plan_reads_into_tasks() {
        let plan = load(BASIC, &RoutingPolicy::default(), None).unwrap();
        assert_eq!(plan.feature, "Add a --verbose flag");
        assert_eq!(
            plan.goal,
            "`offload run --verbose` prints codex's full event stream to stderr, so a user can see why a run failed without opening the run folder."
        );
        let t2 = plan.task("T2").unwrap();
        assert_eq!(t2.files, ["src/supervise.rs", "tests/runner.rs"]);
        assert_eq!(t2.commands, ["cargo test -p offload --test runner verbose"]);
        assert_eq!(
            t2.backend,
            Some(Backend::Codex {
                model: "gpt-5.3-codex".into(),
                sandbox: Sandbox::WorkspaceWrite
            })
        );
        assert_eq!((t2.estimate_min, t2.done), (Some(4), false));
        assert_eq!(t2.depends_on, ["T1"]);
        assert_eq!(plan.task("T3").unwrap().backend, Some(Backend::Claude));
        assert_eq!(plan.estimate_min(), 9);
        // CRLF reads the same.
        let crlf = BASIC.replace('\n', "\r\n");
        assert_eq!(check_text(&crlf, &RoutingPolicy::default()), vec![]);
        assert_eq!(parse(&crlf).plan, parse(BASIC).plan);
    }

    #[test]
    fn batches_take_ready_codex_tasks_up_to_three_and_list_claude_apart() {
        let text = plan_of(&[
            ("A", CODE, "`a.rs`", "none"),
            ("B", CODE, "`b.rs`", "none"),
            ("C", "claude", "`README.md`", "none"),
            ("D", CODE, "`a.rs`", "none"),
            ("E", CODE, "`e.rs`", "none"),
            ("F", CODE, "`f.rs`", "none"),
            ("G", CODE, "`g.rs`", "A, C"),
        ]);
        let policy = RoutingPolicy::default();
        let plan = load(&text, &policy, None).unwrap();
        let ids = |ts: &[&shared::plan::Task]| ts.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        let b = next_batch(&plan, MAX_BATCH);
        // D shares a.rs with A: it waits for a later batch; F is over the limit.
        assert_eq!(ids(&b.codex), ["A", "B", "E"]);
        assert_eq!(ids(&b.claude), ["C"]);
        assert_eq!(ids(&b.later), ["D", "F"]);
        assert_eq!(b.waiting.len(), 1);
        assert_eq!(
            (b.waiting[0].task.id.as_str(), b.waiting[0].on.clone()),
            ("G", vec!["A", "C"])
        );
        // Mark A, B, E and C done: D, F, and now G are ready.
        let mut text = text;
        for id in ["A", "B", "E", "C"] {
            text = mark_done(&text, id).unwrap();
        }
        let plan = load(&text, &policy, None).unwrap();
        let b = next_batch(&plan, MAX_BATCH);
        assert_eq!(ids(&b.codex), ["D", "F", "G"]);
        assert!(b.claude.is_empty() && b.waiting.is_empty() && b.later.is_empty());
        assert_eq!((b.done, b.total), (4, 7));
    }

    #[test]
    fn a_prompt_carries_goal_criteria_paths_commands_and_output_format() {
        let plan = load(BASIC, &RoutingPolicy::default(), None).unwrap();
        let t2 = plan.task("T2").unwrap();
        let p = prompt(&plan, t2);
        assert_eq!(
            p,
            "Task T2 of the plan \"Add a --verbose flag\": Print the events

Goal of the plan: `offload run --verbose` prints codex's full event stream to stderr, so a user can see why a run failed without opening the run folder.

Objective: When verbose, copy every codex JSON line to stderr as it arrives.

Done when: a runner test sees the fake codex's events on stderr with `--verbose` only.

Files: `src/supervise.rs`, `tests/runner.rs`. Change only these files; do not create, edit or delete any other.

Commands: run these from the project root and make them pass before you finish:
- `cargo test -p offload --test runner verbose`

Output: end with a short summary: the files you changed, the commands you ran and their results, and anything left undone."
        );
        assert_eq!(
            run_args(t2, "P", ".").unwrap(),
            ["run", "-m", "gpt-5.3-codex", "P", "workspace-write", "."]
        );
        assert_eq!(run_args(plan.task("T3").unwrap(), "P", "."), None);
        // A read-only task is told to change nothing.
        let text = plan_of(&[("R", "codex gpt-5.4 read-only", "`a.rs`", "none")]);
        let plan = load(&text, &RoutingPolicy::default(), None).unwrap();
        let p = prompt(&plan, &plan.tasks[0]);
        assert!(p.contains("Files: `a.rs`. Read these (and what they use); the sandbox is read-only, so change nothing."), "{p}");
        assert!(p.ends_with("end with a short summary: what you found, the commands you ran and their results, and anything left undone."), "{p}");
    }

    #[test]
    fn marking_done_changes_one_line_and_keeps_the_plan_valid() {
        let policy = RoutingPolicy::default();
        let out = mark_done(BASIC, "T2").unwrap();
        let changed: Vec<(&str, &str)> = BASIC
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed, [("- Status: todo", "- Status: done")]);
        assert_eq!(out.len(), BASIC.len());
        assert_eq!(check_text(&out, &policy), vec![]);
        assert!(load(&out, &policy, None).unwrap().task("T2").unwrap().done);
        assert_eq!(mark_done(&out, "T2").unwrap(), out, "idempotent");
        assert_eq!(
            mark_done(BASIC, "T7").unwrap_err(),
            "the plan has no task T7"
        );
    }

    #[test]
    fn a_file_that_is_a_directory_in_the_project_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/cli.rs")).unwrap();
        let problems = check_text_at(BASIC, &RoutingPolicy::default(), dir.path());
        let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            [
                "11: task T1: `src/cli.rs` is a directory, not a file (name the files in it that the task touches)"
            ]
        );
        assert_eq!(
            load(BASIC, &RoutingPolicy::default(), Some(dir.path()))
                .unwrap_err()
                .len(),
            1
        );
    }
}
