//! `offload stats`: what the ledger recorded, per day, per Claude Code session and per model.
//!
//!   offload stats [--since X] [--json] [--rebuild]
//!
//! It reads `events.jsonl` (under a bounded shared lock; a torn last line is left out and
//! reported), folds it with [`shared::stats::report`], and prints a table, or JSON. Days are
//! local days; `--since` takes a date (`2026-11-01`, local midnight), an RFC 3339 time, or an
//! age (`7d`, `12h`).
//!
//! `--rebuild` first recomputes the summaries (`totals.json`, `sessions/*.json`) from the log,
//! says whether they differed, then shows the stats as usual.
//!
//! `--json` prints one object: [`shared::stats::Report`] (schema 1; see that module for every
//! field), plus `events_file` (the log's path) and, with `--rebuild`, `rebuild`:
//! `{events, skipped_lines, sessions, changed, repaired_tail}`. Fields are only ever added.

use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use shared::format::{millis, tokens};
use shared::ledger::{Ledger, Line, RebuildReport};
use shared::paths::Paths;
use shared::stats::{self, Group, Report};

use crate::Error;
use crate::cli::StatsArgs;

/// Sessions shown in the table (the newest); `--json` has them all.
const SESSIONS_SHOWN: usize = 15;
/// Days in the attempts-per-day sparkline.
const SPARK_DAYS: usize = 60;
/// Width of the success-rate bars, in cells.
const BAR: usize = 5;

pub fn main(args: StatsArgs) -> Result<u8, Error> {
    let since = args
        .since
        .as_deref()
        .map(|s| stats::parse_since(s, Utc::now(), &Local))
        .transpose()
        .map_err(Error::usage)?;
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let ledger = Ledger::new(paths);
    let rebuilt = if args.rebuild {
        Some(
            ledger
                .rebuild()
                .map_err(|e| Error::with_code(format!("rebuild failed: {e}"), 1))?,
        )
    } else {
        None
    };
    // The log as long as it is now, folded in parallel parts (one per core, at most 4),
    // streaming, without holding the lock.
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (folds, torn) = ledger
        .fold_parts(
            parts,
            || (stats::Folder::new(since, Local), 0u64),
            |(folder, skipped), line| match line {
                Line::Event(ev, _) => folder.add(ev),
                Line::Bad(_) => *skipped += 1,
            },
        )
        .map_err(|e| Error::with_code(format!("cannot read the ledger: {e}"), 1))?;
    let mut folds = folds.into_iter();
    let (mut folder, mut skipped) = folds
        .next()
        .unwrap_or_else(|| (stats::Folder::new(since, Local), 0));
    for (later, s) in folds {
        folder.merge(later);
        skipped += s;
    }
    let report = folder.finish(skipped, torn);
    let events_file = ledger.paths().events().display().to_string();
    if args.json {
        let out = JsonOut {
            report: &report,
            events_file,
            rebuild: rebuilt.as_ref().map(RebuildJson::from),
        };
        let text =
            serde_json::to_string_pretty(&out).map_err(|e| Error::with_code(e.to_string(), 1))?;
        emit(&format!("{text}\n"));
        return Ok(0);
    }
    let mut text = String::new();
    if let Some(r) = &rebuilt {
        text.push_str(&rebuild_line(&events_file, r));
        text.push('\n');
    }
    text.push_str(&render(&report, &events_file));
    emit(&text);
    Ok(0)
}

/// Print to stdout; a reader that went away (`offload stats | head`) is not an error.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a Report,
    events_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rebuild: Option<RebuildJson>,
}

#[derive(Serialize)]
struct RebuildJson {
    events: u64,
    skipped_lines: u64,
    sessions: usize,
    /// The summaries on disk differed from a fold of the log (and were replaced).
    changed: bool,
    /// A torn last line was terminated (it now counts as a skipped line).
    repaired_tail: bool,
}

impl From<&RebuildReport> for RebuildJson {
    fn from(r: &RebuildReport) -> Self {
        RebuildJson {
            events: r.events,
            skipped_lines: r.skipped_lines,
            sessions: r.sessions,
            changed: r.changed,
            repaired_tail: r.repaired_tail,
        }
    }
}

fn rebuild_line(events_file: &str, r: &RebuildReport) -> String {
    format!(
        "rebuilt the summaries from {events_file}: {} events, {} skipped lines, {} sessions; they {}{}",
        r.events,
        r.skipped_lines,
        r.sessions,
        if r.changed {
            "differed and were replaced"
        } else {
            "were already right"
        },
        if r.repaired_tail {
            "; a torn last line was terminated"
        } else {
            ""
        },
    )
}

/// The terminal report: a summary block, then tables by day, session and model.
fn render(r: &Report, events_file: &str) -> String {
    let mut out = String::new();
    let t = &r.total;
    let (Some(first), Some(last)) = (t.first, t.last) else {
        line(
            &mut out,
            &match r.since {
                Some(s) => format!("Nothing recorded since {} in {events_file}.", local(s)),
                None => format!(
                    "Nothing recorded yet in {events_file}: `offload run` records Codex attempts, the guard records denials."
                ),
            },
        );
        if let Some(d) = damage(r) {
            line(&mut out, &d);
        }
        return out;
    };
    let mut title = format!(
        "Offload stats  {} → {} · {} events",
        day(first),
        day(last),
        r.events
    );
    if let Some(s) = r.since {
        title.push_str(&format!(" since {}", local(s)));
    }
    line(&mut out, &title);
    let mut attempts = format!("{} (✓ {} ✗ {}", t.attempts, t.successes, t.failures);
    let failures: Vec<String> = t
        .outcomes
        .iter()
        .filter(|(o, _)| !matches!(o.as_str(), "success" | "interrupted"))
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    if !failures.is_empty() {
        attempts.push_str(&format!(": {}", failures.join(", ")));
    }
    attempts.push(')');
    if t.interrupted > 0 {
        attempts.push_str(&format!(
            " · {} interrupted (stopped by the user; not counted as failed)",
            t.interrupted
        ));
    }
    if r.unfinished > 0 {
        attempts.push_str(&format!(
            " · {} unfinished (running, or lost)",
            r.unfinished
        ));
    }
    let mut block: Vec<(&str, String)> = vec![("attempts", attempts)];
    if let Some(rate) = t.success_rate {
        block.push(("success", format!("{} {}", stats::bar(rate, 10), pct(rate))));
    }
    if t.attempts + t.interrupted > 0 {
        block.push((
            "tokens",
            format!(
                "{} offloaded: in {} (cached {}), out {} (reasoning {})",
                tokens(t.tokens.total),
                tokens(t.tokens.input),
                tokens(t.tokens.cached_input),
                tokens(t.tokens.output),
                tokens(t.tokens.reasoning),
            ),
        ));
    }
    if let Some(ms) = t.median_duration_ms {
        block.push(("duration", format!("median {}", millis(ms))));
    }
    let mut guard = format!("denied {}", t.denied.total);
    if t.denied.total > 0 {
        guard.push_str(&format!(" ({})", t.denied.describe()));
    }
    if t.would_deny.total > 0 {
        guard.push_str(&format!(
            " · would deny {} in warn mode ({})",
            t.would_deny.total,
            t.would_deny.describe()
        ));
    }
    if t.approvals > 0 {
        guard.push_str(&format!(" · fallbacks approved {}", t.approvals));
    }
    block.push(("guard", guard));
    let mut reasons = Vec::new();
    if t.denied.total > 0 {
        reasons.push(t.denied.describe_reasons());
    }
    if t.would_deny.total > 0 {
        reasons.push(format!("in warn mode: {}", t.would_deny.describe_reasons()));
    }
    if !reasons.is_empty() {
        block.push(("reasons", reasons.join(" · ")));
    }
    if let Some(l) = per_day(&r.by_day) {
        block.push(("per day", l));
    }
    if let Some(d) = damage(r) {
        block.push(("log", d));
    }
    for (k, v) in &block {
        line(&mut out, &format!("  {k:<9} {v}"));
    }

    line(&mut out, "");
    out.push_str(&table(
        &["day"],
        r.by_day
            .iter()
            .map(|g| vec![g.key.clone().unwrap_or_default()])
            .collect(),
        &r.by_day,
        true,
    ));

    line(&mut out, "");
    let named = r.by_session.iter().filter(|g| g.key.is_some()).count();
    let hidden = named.saturating_sub(SESSIONS_SHOWN);
    let shown: Vec<Group> = r
        .by_session
        .iter()
        .enumerate()
        .filter(|(i, g)| g.key.is_none() || *i >= hidden)
        .map(|(_, g)| g.clone())
        .collect();
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    out.push_str(&table(
        &["session", "started", "project"],
        shown
            .iter()
            .map(|g| {
                vec![
                    g.key
                        .as_deref()
                        .map_or("(no session)".into(), short_session),
                    g.first.map(stamp).unwrap_or_default(),
                    g.project
                        .as_deref()
                        .map_or_else(|| "-".into(), |p| short_project(p, home.as_deref())),
                ]
            })
            .collect(),
        &shown,
        true,
    ));
    if hidden > 0 {
        line(
            &mut out,
            &format!("… and {hidden} earlier sessions (narrow with --since, or see --json)"),
        );
    }

    if !r.by_model.is_empty() {
        line(&mut out, "");
        out.push_str(&table(
            &["model"],
            r.by_model
                .iter()
                .map(|g| vec![g.key.clone().unwrap_or_default()])
                .collect(),
            &r.by_model,
            false,
        ));
    }
    out
}

/// The attempts-per-day sparkline of the last [`SPARK_DAYS`] days, one bar a day (a single
/// day is one bar); none without any attempt to chart.
fn per_day(by_day: &[Group]) -> Option<String> {
    let series = stats::daily_attempts(by_day, SPARK_DAYS);
    let values: Vec<u64> = series.iter().map(|d| d.1).collect();
    let most = values.iter().max().copied().unwrap_or(0);
    let (first, last) = (series.first()?.0, series.last()?.0);
    if most == 0 {
        return None;
    }
    let spark = stats::sparkline(&values);
    Some(if first == last {
        format!("{spark}  attempts on {}: {most}", first.format("%m-%d"))
    } else {
        format!(
            "{spark}  attempts {} → {}, at most {most}",
            first.format("%m-%d"),
            last.format("%m-%d"),
        )
    })
}

fn line(out: &mut String, s: &str) {
    out.push_str(s.trim_end());
    out.push('\n');
}

/// What was wrong with the log, if anything.
fn damage(r: &Report) -> Option<String> {
    let mut parts = Vec::new();
    if r.skipped_lines > 0 {
        parts.push(format!(
            "{} unreadable line{} skipped",
            r.skipped_lines,
            if r.skipped_lines == 1 { "" } else { "s" }
        ));
    }
    if r.torn_tail {
        parts.push(
            "a torn last line left out (a write in progress, or a writer that died)".to_string(),
        );
    }
    if r.future_events > 0 {
        parts.push(format!(
            "{} event{} stamped in the future (written by a clock that was ahead: counted, but they open no time window)",
            r.future_events,
            if r.future_events == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A table: the leading text columns given, then the figures of each group.
fn table(lead: &[&str], lead_cells: Vec<Vec<String>>, groups: &[Group], denials: bool) -> String {
    let mut header: Vec<(&str, bool)> = lead.iter().map(|h| (*h, false)).collect();
    // Runs the user stopped (or cancelled), apart from the attempts: shown when there are any.
    let stopped = groups.iter().any(|g| g.interrupted > 0);
    let mut figures = vec!["attempts"];
    if stopped {
        figures.push("stopped");
    }
    figures.extend(["success", "in", "cached", "out", "total", "median"]);
    if denials {
        figures.extend(["denied", "would"]);
    }
    header.extend(figures.iter().map(|h| (*h, true)));
    let rows: Vec<Vec<String>> = lead_cells
        .into_iter()
        .zip(groups)
        .map(|(mut row, g)| {
            let none = || "-".to_string();
            let has = g.attempts + g.interrupted > 0;
            row.push(g.attempts.to_string());
            if stopped {
                row.push(g.interrupted.to_string());
            }
            row.push(g.success_rate.map_or_else(none, |rate| {
                format!("{} {:>4}", stats::bar(rate, BAR), pct(rate))
            }));
            for n in [
                g.tokens.input,
                g.tokens.cached_input,
                g.tokens.output,
                g.tokens.total,
            ] {
                row.push(if has { tokens(n) } else { none() });
            }
            row.push(g.median_duration_ms.map_or_else(none, millis));
            if denials {
                row.push(g.denied.total.to_string());
                row.push(g.would_deny.total.to_string());
            }
            row
        })
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].0.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    let mut emit = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = widths[i].saturating_sub(c.chars().count());
            if header[i].1 {
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    emit(header.iter().map(|h| h.0).collect());
    for r in &rows {
        emit(r.iter().map(String::as_str).collect());
    }
    out
}

/// Session ids are UUIDs: the first 8 characters tell them apart in a table.
fn short_session(id: &str) -> String {
    if id.chars().count() <= 13 {
        id.to_string()
    } else {
        format!("{}…", id.chars().take(8).collect::<String>())
    }
}

/// Cells a project takes in the sessions table.
const PROJECT_WIDTH: usize = 24;

/// A project folder as the sessions table shows it: `~` for the home folder, and a path too
/// long for [`PROJECT_WIDTH`] cut to its last component (`…/name`, itself cut with `…`).
/// `--json` has the full path.
fn short_project(path: &str, home: Option<&std::path::Path>) -> String {
    let p = std::path::Path::new(path);
    let shown = match home.and_then(|h| p.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Some(rest) if home.is_some_and(|h| h.parent().is_some()) => {
            format!("~/{}", rest.display())
        }
        _ => path.to_owned(),
    };
    if shown.chars().count() <= PROJECT_WIDTH {
        return shown;
    }
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let keep = PROJECT_WIDTH - 2;
    if name.chars().count() <= keep {
        format!("…/{name}")
    } else {
        format!("…/{}…", name.chars().take(keep - 1).collect::<String>())
    }
}

fn pct(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn day(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d").to_string()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%m-%d %H:%M").to_string()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_shorten_only_when_long() {
        assert_eq!(short_session("sess-1"), "sess-1");
        assert_eq!(
            short_session("3f2c1a9e-7b7d-4c39-9a1e-0d6f5b2c8e11"),
            "3f2c1a9e…"
        );
    }

    #[test]
    fn projects_shorten_to_home_and_their_last_component() {
        let home = Some(std::path::Path::new("/home/dev"));
        assert_eq!(short_project("/home/dev/proj", home), "~/proj");
        assert_eq!(short_project("/home/dev", home), "~");
        assert_eq!(
            short_project("/home/developer/x", home),
            "/home/developer/x"
        );
        assert_eq!(short_project("/srv/proj", None), "/srv/proj");
        assert_eq!(
            short_project("/home/dev/src/clients/offload-plugin", home),
            "…/offload-plugin"
        );
        let long = format!("/w/{}", "n".repeat(40));
        let shown = short_project(&long, home);
        assert_eq!(shown.chars().count(), PROJECT_WIDTH, "{shown}");
        assert!(
            shown.starts_with("…/nnn") && shown.ends_with('…'),
            "{shown}"
        );
        // A home of `/` does not make every path `~/…`.
        assert_eq!(
            short_project("/srv/p", Some(std::path::Path::new("/"))),
            "/srv/p"
        );
    }

    #[test]
    fn the_per_day_sparkline_shows_from_one_day() {
        let day = |key: &str, attempts: u64| {
            let mut g = Group::default();
            g.key = Some(key.into());
            g.attempts = attempts;
            g
        };
        assert_eq!(
            per_day(&[day("2026-11-24", 3)]).as_deref(),
            Some("█  attempts on 11-24: 3")
        );
        assert_eq!(
            per_day(&[day("2026-11-23", 1), day("2026-11-25", 2)]).as_deref(),
            Some("▄ █  attempts 11-23 → 11-25, at most 2")
        );
        assert_eq!(per_day(&[day("2026-11-24", 0)]), None, "nothing to chart");
        assert_eq!(per_day(&[]), None);
    }

    #[test]
    fn tables_align_numbers_right_and_text_left() {
        let groups = vec![Group::default(), Group::default()];
        let t = table(
            &["day"],
            vec![vec!["a".into()], vec!["longer".into()]],
            &groups,
            true,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("day     attempts  success"), "{t}");
        assert!(lines[1].starts_with("a              0        -"), "{t}");
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{t}");
    }
}
