//! `offload plan new`: the file name and the template. The template fails the check until its
//! `{{placeholders}}` are filled in, and passes once they are (a test fills each with a word).

use chrono::NaiveDate;

use super::RoutingPolicy;

/// The longest slug, in bytes.
const SLUG_MAX: usize = 60;

/// The feature as a file-name slug: lowercase ASCII letters and digits (Latin letters with
/// accents as their base letters: `Ünïcödé` is `unicode`), runs of anything else as one `-`,
/// at most 60 bytes (cut at a `-` where possible). `None` when nothing is left.
pub fn slug(feature: &str) -> Option<String> {
    let mut s = String::new();
    for c in feature.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if let Some(base) = latin_base(c) {
            s.push_str(base);
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    if s.len() > SLUG_MAX {
        let cut = s[..=SLUG_MAX]
            .rfind('-')
            .filter(|i| *i > 0)
            .unwrap_or(SLUG_MAX);
        s.truncate(cut);
    }
    let s = s.trim_end_matches('-').to_owned();
    (!s.is_empty()).then_some(s)
}

/// The base letters of a lowercase Latin letter with an accent (or a ligature).
fn latin_base(c: char) -> Option<&'static str> {
    const TABLE: [(&str, &str); 24] = [
        ("àáâãäåāăą", "a"),
        ("çćĉċč", "c"),
        ("ďđ", "d"),
        ("èéêëēĕėęě", "e"),
        ("ĝğġģ", "g"),
        ("ĥħ", "h"),
        ("ìíîïĩīĭįı", "i"),
        ("ĵ", "j"),
        ("ķ", "k"),
        ("ĺļľŀł", "l"),
        ("ñńņňŉ", "n"),
        ("òóôõöøōŏő", "o"),
        ("ŕŗř", "r"),
        ("śŝşš", "s"),
        ("ţťŧ", "t"),
        ("ùúûüũūŭůűų", "u"),
        ("ŵ", "w"),
        ("ýÿŷ", "y"),
        ("źżž", "z"),
        ("ß", "ss"),
        ("æ", "ae"),
        ("œ", "oe"),
        ("þ", "th"),
        ("ð", "d"),
    ];
    TABLE
        .iter()
        .find(|(from, _)| from.contains(c))
        .map(|(_, to)| *to)
}

/// `YYYY-MM-DD-<slug>.md`.
pub fn file_name(date: NaiveDate, slug: &str) -> String {
    format!("{}-{slug}.md", date.format("%Y-%m-%d"))
}

/// A new plan for `feature`, routed per `policy`.
pub fn template(feature: &str, policy: &RoutingPolicy) -> String {
    let feature = feature.split_whitespace().collect::<Vec<_>>().join(" ");
    let code = &policy.model_code;
    let logic = &policy.model_logic;
    format!(
        "# Plan: {feature}

Goal: {{{{what this plan achieves, in one paragraph, and how to tell that it worked}}}}

<!--
Format: `offload plan format` prints it. Fill in every placeholder in double braces; add or remove
tasks (2-5 minutes each) and keep the routing summary in step; then run
`offload plan check <this file>`. Backends:
  code:               codex {code} workspace-write
  explore, review:    codex {code} read-only
  analysis:           codex {logic} read-only
  docs, plans:        claude
-->

## Tasks

### T1: {{{{short title}}}}
- Status: todo
- Objective: {{{{what this task changes, in a sentence or two}}}}
- Files: `{{{{path/to/file}}}}`
- Commands: `{{{{command that proves it works, e.g. cargo test -p name}}}}`
- Backend: codex {code} workspace-write
- Done when: {{{{what must be true, checkably}}}}
- Estimate: 3 min

### T2: {{{{short title}}}}
- Status: todo
- Objective: {{{{what this task changes, in a sentence or two}}}}
- Files: `{{{{path/to/test_file}}}}`
- Commands: `{{{{command that proves it works}}}}`
- Backend: codex {code} workspace-write
- Done when: {{{{what must be true, checkably}}}}
- Estimate: 3 min
- Depends on: T1

## Routing summary

| Task | Backend | Model | Sandbox |
|---|---|---|---|
| T1 | codex | {code} | workspace-write |
| T2 | codex | {code} | workspace-write |
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            slug("Add a --verbose flag!").as_deref(),
            Some("add-a-verbose-flag")
        );
        assert_eq!(slug("  Über  café 2 ").as_deref(), Some("uber-cafe-2"));
        assert_eq!(slug("Ünïcödé feature!").as_deref(), Some("unicode-feature"));
        assert_eq!(slug("Straße Æon").as_deref(), Some("strasse-aeon"));
        assert_eq!(slug("---"), None);
        assert_eq!(slug("日本"), None);
        let long = slug(&"word ".repeat(30)).unwrap();
        assert!(long.len() <= SLUG_MAX && !long.ends_with('-'), "{long}");
        assert_eq!(slug(&"x".repeat(80)).unwrap().len(), SLUG_MAX);
    }
}
