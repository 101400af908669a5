//! What the review asks Codex, and what its answer means.
//!
//! The answer must carry one line `VERDICT: ALLOW` or `VERDICT: FINDINGS` (markdown emphasis,
//! backticks and a heading mark around it are tolerated); with FINDINGS, the findings follow.
//! Anything else (no verdict line, both verdicts, FINDINGS with nothing found, an empty
//! answer) is not a review: the gate says it could not review, and never counts it as clean.

/// What Codex's answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No problem found; any remark Codex added beside the verdict.
    Allow { note: String },
    /// Problems found: the findings as Codex wrote them.
    Findings(String),
    /// The answer is not a verdict: why.
    Unreadable(String),
}

/// The longest findings text passed on to Claude (the rest is cut, and says so).
pub const MAX_FINDINGS: usize = 8000;

/// The review's prompt for a diff of the project at `top` (`files` changed paths).
pub fn prompt(top: &str, files: &[String], diff: &str) -> String {
    // At most 50 names and about 4 KiB of them: the prompt reaches codex as one argument.
    let mut listed: Vec<&str> = Vec::new();
    let mut size = 0;
    for f in files.iter().take(50) {
        size += f.len() + 2;
        if size > 4096 {
            break;
        }
        listed.push(f);
    }
    let more = if files.len() > listed.len() {
        format!(" (and {} more)", files.len() - listed.len())
    } else {
        String::new()
    };
    format!(
        "You are reviewing changes another coding agent just made in the repository at {top}.\n\
         Review ONLY the diff below, for real problems: bugs, wrong or broken behaviour, security \
         holes, data loss, error handling that matters, tests that cannot pass. Ignore style and \
         taste. Do not modify any file; you may read files of the repository for context.\n\n\
         Answer in exactly this form. When the change has no real problem, one line:\n\
         VERDICT: ALLOW\n\
         When it has problems:\n\
         VERDICT: FINDINGS\n\
         - <path>:<line>: <the problem, and what to change>\n\
         (one line per finding, the most important first, at most 10)\n\n\
         Files changed: {}{more}\n\n\
         The diff (the working tree at the start of the agent's turn against now):\n\
         ```diff\n{diff}\n```\n",
        listed.join(", ")
    )
}

/// Read Codex's answer.
pub fn parse(answer: &str) -> Verdict {
    let answer = answer.trim();
    if answer.is_empty() {
        return Verdict::Unreadable("Codex's answer was empty".into());
    }
    let lines: Vec<&str> = answer.lines().collect();
    let mut found: Vec<(usize, bool)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(allow) = verdict_line(line) {
            found.push((i, allow));
        }
    }
    let Some(&(at, allow)) = found.first() else {
        return Verdict::Unreadable(
            "Codex's answer has no `VERDICT: ALLOW` or `VERDICT: FINDINGS` line".into(),
        );
    };
    if found.iter().any(|(_, a)| *a != allow) {
        return Verdict::Unreadable(
            "Codex's answer gives both verdicts, ALLOW and FINDINGS".into(),
        );
    }
    let rest = |range: &[&str]| -> String {
        range
            .iter()
            .filter(|l| verdict_line(l).is_none())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    };
    if allow {
        let note = rest(&lines);
        return Verdict::Allow {
            note: cut(&note, 500),
        };
    }
    // The findings follow the verdict; an answer that put them first is read as well.
    let after = rest(&lines[at + 1..]);
    let findings = if after.is_empty() {
        rest(&lines[..at])
    } else {
        after
    };
    if findings.is_empty() {
        return Verdict::Unreadable("Codex's answer says FINDINGS but names none".into());
    }
    Verdict::Findings(cut(&findings, MAX_FINDINGS))
}

/// `Some(true)` for a line that says `VERDICT: ALLOW`, `Some(false)` for `VERDICT: FINDINGS`.
fn verdict_line(line: &str) -> Option<bool> {
    let bare: String = line
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '_'))
        .collect();
    let bare = bare.trim().trim_start_matches(['#', '>', '-']).trim();
    let upper = bare.to_ascii_uppercase();
    let rest = upper.strip_prefix("VERDICT")?.trim_start();
    let rest = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix('='))?
        .trim();
    let word = rest.trim_end_matches(['.', '!']).trim();
    match word {
        "ALLOW" => Some(true),
        "FINDINGS" => Some(false),
        _ => None,
    }
}

/// `s` cut to at most `max` bytes on a character boundary, saying so when it was cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… cut: {} more bytes]", &s[..end], s.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_with_or_without_remarks() {
        assert_eq!(
            parse("VERDICT: ALLOW"),
            Verdict::Allow {
                note: String::new()
            }
        );
        for answer in [
            "**VERDICT: ALLOW**",
            "`VERDICT: ALLOW`",
            "## Verdict: allow.",
            "verdict = ALLOW",
            "  VERDICT:ALLOW  \n",
        ] {
            assert!(matches!(parse(answer), Verdict::Allow { .. }), "{answer:?}");
        }
        assert_eq!(
            parse("The rename is consistent.\nVERDICT: ALLOW"),
            Verdict::Allow {
                note: "The rename is consistent.".into()
            }
        );
    }

    #[test]
    fn findings_after_or_before_the_verdict() {
        assert_eq!(
            parse("VERDICT: FINDINGS\n- src/lib.rs:1: `b` is never called\n- src/lib.rs:2: x"),
            Verdict::Findings("- src/lib.rs:1: `b` is never called\n- src/lib.rs:2: x".into())
        );
        assert_eq!(
            parse("- a.rs:3: off by one\n\n**VERDICT: FINDINGS**"),
            Verdict::Findings("- a.rs:3: off by one".into())
        );
    }

    #[test]
    fn anything_else_is_not_a_review() {
        for (answer, why) in [
            ("", "empty"),
            ("   \n ", "empty"),
            ("Looks good to me!", "no `VERDICT"),
            ("VERDICT: MAYBE", "no `VERDICT"),
            ("The verdict: ALLOW is what I would say", "no `VERDICT"),
            ("VERDICT: FINDINGS", "names none"),
            ("VERDICT: FINDINGS\n\n", "names none"),
            (
                "VERDICT: ALLOW\nVERDICT: FINDINGS\n- a.rs:1: bug",
                "both verdicts",
            ),
        ] {
            match parse(answer) {
                Verdict::Unreadable(w) => assert!(w.contains(why), "{answer:?}: {w}"),
                v => panic!("{answer:?} read as {v:?}"),
            }
        }
    }

    #[test]
    fn long_findings_are_cut_and_say_so() {
        let long = format!("VERDICT: FINDINGS\n{}", "- é: x\n".repeat(5000));
        let Verdict::Findings(f) = parse(&long) else {
            panic!("not findings")
        };
        assert!(f.len() < MAX_FINDINGS + 100, "{}", f.len());
        assert!(f.ends_with("more bytes]"), "{}", &f[f.len() - 60..]);
    }

    #[test]
    fn the_prompt_carries_the_diff_and_the_answer_form() {
        let files: Vec<String> = (0..60).map(|i| format!("f{i}.rs")).collect();
        let p = prompt("/w", &files, "+fn b() {}");
        assert!(p.contains("```diff\n+fn b() {}\n```"), "{p}");
        assert!(p.contains("VERDICT: ALLOW") && p.contains("VERDICT: FINDINGS"));
        assert!(p.contains("f49.rs (and 10 more)"), "{p}");
        assert!(!p.contains("f50.rs"));
        let long: Vec<String> = (0..50)
            .map(|i| format!("{i}{}", "d/".repeat(200)))
            .collect();
        let p = prompt("/w", &long, "");
        assert!(p.len() < 6000, "{}", p.len());
        assert!(p.contains("more)"), "{p}");
    }
}
