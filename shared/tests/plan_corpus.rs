//! The plan checker against a corpus: `fixtures/plans/valid/*.md` must pass, and each
//! `fixtures/plans/invalid/*.md` must give exactly the problems in the `.expected` file beside
//! it, one per line: `<line>: [<rule>] <message> (<hint>)`. Every rule has an invalid plan.
//!
//! After a deliberate change of wording, `OFFLOAD_BLESS=1 cargo test -p offload-shared --test
//! plan_corpus` rewrites the `.expected` files; review the diff before committing it.

mod plan {
    use std::collections::BTreeSet;
    use std::fs;
    use std::path::{Path, PathBuf};

    use shared::plan::{Problem, RoutingPolicy, Rule, check_text};

    fn dir(kind: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plans")
            .join(kind)
    }

    fn plans(kind: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        v.sort();
        assert!(!v.is_empty(), "no plans in {}", dir(kind).display());
        v
    }

    fn render(problems: &[Problem]) -> String {
        problems
            .iter()
            .map(|p| format!("{}: [{}] {} ({})\n", p.line, p.rule, p.message, p.hint))
            .collect()
    }

    #[test]
    fn valid_plans_have_no_problem() {
        let policy = RoutingPolicy::default();
        for path in plans("valid") {
            let text = fs::read_to_string(&path).unwrap();
            let problems = check_text(&text, &policy);
            assert!(
                problems.is_empty(),
                "{}:\n{}",
                path.display(),
                render(&problems)
            );
        }
    }

    #[test]
    fn invalid_plans_give_exactly_the_expected_problems() {
        let policy = RoutingPolicy::default();
        let bless = std::env::var_os("OFFLOAD_BLESS").is_some();
        let mut failures = Vec::new();
        for path in plans("invalid") {
            let text = fs::read_to_string(&path).unwrap();
            let got = render(&check_text(&text, &policy));
            let expected_path = path.with_extension("expected");
            if bless {
                fs::write(&expected_path, &got).unwrap();
                continue;
            }
            let want = fs::read_to_string(&expected_path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (OFFLOAD_BLESS=1 writes it)",
                    expected_path.display()
                )
            });
            assert!(!want.is_empty(), "{} expects nothing", path.display());
            if got != want {
                failures.push(format!(
                    "{}\n--- expected\n{want}--- got\n{got}",
                    path.display()
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_rule_has_an_invalid_plan() {
        let policy = RoutingPolicy::default();
        let mut seen = BTreeSet::new();
        for path in plans("invalid") {
            let text = fs::read_to_string(&path).unwrap();
            seen.extend(check_text(&text, &policy).iter().map(|p| p.rule));
        }
        let missing: Vec<Rule> = Rule::ALL
            .into_iter()
            .filter(|r| !seen.contains(r))
            .collect();
        assert!(missing.is_empty(), "no invalid plan breaks {missing:?}");
    }
}
