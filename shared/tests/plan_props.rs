//! The plan reader never panics, whatever it is given, and its line numbers always point into
//! the file. Inputs: arbitrary strings, strings built from plan-like fragments, and valid plans
//! with lines deleted, duplicated, swapped, shuffled or cut short. Bounded so that the whole
//! file takes a few seconds in a debug build.

mod plan {
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use shared::plan::{
        MAX_BATCH, RoutingPolicy, check_text, load, mark_done, next_batch, parse, prompt,
    };

    const VALID: [&str; 2] = [
        include_str!("fixtures/plans/valid/basic.md"),
        include_str!("fixtures/plans/valid/relaxed.md"),
    ];

    /// Pieces that steer the parser into each of its states.
    const FRAGMENTS: [&str; 40] = [
        "# Plan: x",
        "# ",
        "#",
        "## Tasks",
        "## Routing summary",
        "## Notes",
        "### T1: a",
        "### T2:",
        "### :",
        "###",
        "#### x",
        "Goal: g",
        "goal:",
        "- Status: todo",
        "- Status: done",
        "- Status:",
        "- Objective: o",
        "- Files: `a.rs`",
        "- Files: `",
        "- Files: a, , b",
        "- Commands: `true`",
        "- Commands: ``",
        "- Backend: codex gpt-5.4 read-only",
        "- Backend: codex",
        "- Backend: claude",
        "- Done when: d",
        "- Estimate: 3 min",
        "- Estimate: 99999999999999999999 min",
        "- Depends on: T1, T2",
        "- Depends on: T1,,",
        "- [ ] x",
        "  continued",
        "\t",
        "| Task | Backend | Model | Sandbox |",
        "|---|---|---|---|",
        "| T1 | codex | gpt-5.4 | read-only |",
        "| T2 | claude | - | - |",
        "|",
        "```",
        "{{x}} {{ }}",
    ];

    fn lines_of(text: &str) -> usize {
        text.lines().count().max(1)
    }

    /// Everything offload does with a plan, on any input: no panic, lines within the file.
    fn exercise(text: &str) {
        let policy = RoutingPolicy::default();
        let problems = check_text(text, &policy);
        let last = lines_of(text);
        for p in &problems {
            assert!(
                (1..=last).contains(&p.line),
                "line {} outside 1..={last}: {p:?}",
                p.line
            );
            assert!(!p.message.is_empty() && !p.hint.is_empty(), "{p:?}");
        }
        assert_eq!(problems, check_text(text, &policy), "deterministic");
        let parsed = parse(text);
        let batch = next_batch(&parsed.plan, MAX_BATCH);
        assert!(batch.codex.len() <= MAX_BATCH);
        for t in &parsed.plan.tasks {
            let _ = prompt(&parsed.plan, t);
            if let Ok(marked) = mark_done(text, &t.id) {
                assert_eq!(lines_of(&marked), last, "marking keeps the lines");
            }
        }
        if problems.is_empty() {
            let plan = load(text, &policy, None).expect("a clean plan loads");
            for t in plan.tasks.iter().filter(|t| !t.done) {
                let marked = mark_done(text, &t.id).expect("a clean plan can be marked");
                assert_eq!(check_text(&marked, &policy), vec![], "still clean");
                assert!(parse(&marked).plan.task(&t.id).unwrap().done);
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Edit {
        Delete(usize),
        Duplicate(usize),
        Swap(usize, usize),
        Insert(usize, &'static str),
        Cut(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Duplicate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
            (any::<usize>(), prop::sample::select(&FRAGMENTS[..]))
                .prop_map(|(a, f)| Edit::Insert(a, f)),
            any::<usize>().prop_map(Edit::Cut),
        ]
    }

    fn apply(text: &str, edits: &[Edit], shuffle: Option<u64>) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for e in edits {
            let n = lines.len().max(1);
            match *e {
                Edit::Delete(i) if !lines.is_empty() => {
                    lines.remove(i % n);
                }
                Edit::Duplicate(i) if !lines.is_empty() => {
                    let l = lines[i % n].clone();
                    lines.insert(i % n, l);
                }
                Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
                Edit::Insert(i, f) => lines.insert(i % (lines.len() + 1), f.to_owned()),
                Edit::Cut(i) if !lines.is_empty() => {
                    let l = &mut lines[i % n];
                    let at = (0..=l.len())
                        .rev()
                        .find(|k| l.is_char_boundary(*k) && *k <= i % (l.len() + 1))
                        .unwrap_or(0);
                    l.truncate(at);
                }
                _ => {}
            }
        }
        if let Some(seed) = shuffle {
            // A cheap deterministic shuffle of the whole file.
            let mut s = seed | 1;
            for i in (1..lines.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                lines.swap(i, (s % (i as u64 + 1)) as usize);
            }
        }
        lines.join("\n")
    }

    #[test]
    fn valid_plans_are_clean_and_exercised() {
        for text in VALID {
            assert_eq!(check_text(text, &RoutingPolicy::default()), vec![]);
            exercise(text);
        }
    }

    proptest! {
        #![proptest_config(Config { cases: 1500, failure_persistence: None, ..Config::default() })]

        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            exercise(&text);
        }

        #[test]
        fn never_panics_on_plan_like_text(
            parts in prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(&FRAGMENTS[..]).prop_map(str::to_owned),
                    1 => any::<String>(),
                ],
                0..60,
            ),
            crlf in any::<bool>(),
        ) {
            let text = parts.join(if crlf { "\r\n" } else { "\n" });
            exercise(&text);
        }

        #[test]
        fn never_panics_on_mutated_plans(
            which in 0..VALID.len(),
            edits in prop::collection::vec(edit(), 1..8),
            shuffle in proptest::option::weighted(0.2, any::<u64>()),
        ) {
            exercise(&apply(VALID[which], &edits, shuffle));
        }
    }
}
