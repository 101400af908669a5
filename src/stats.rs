//! `offload stats`: what the ledger recorded. For now the all-time totals and `--rebuild`;
//! per-session, per-day and per-model tables come with the operations tooling.

use shared::ledger::Ledger;
use shared::paths::Paths;

use crate::Error;
use crate::cli::StatsArgs;

pub fn main(args: StatsArgs) -> Result<u8, Error> {
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let ledger = Ledger::new(paths);
    if args.rebuild {
        let r = ledger
            .rebuild()
            .map_err(|e| Error::with_code(format!("rebuild failed: {e}"), 1))?;
        if !args.json {
            println!(
                "rebuilt from {}: {} events, {} skipped lines, {} sessions; summaries {}{}",
                ledger.paths().events().display(),
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
            );
        }
    }
    let totals = ledger.totals().unwrap_or_default();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&totals)
                .map_err(|e| Error::with_code(e.to_string(), 1))?
        );
        return Ok(0);
    }
    use shared::format::tokens;
    let log = ledger
        .read_log()
        .map_err(|e| Error::with_code(format!("cannot read the ledger: {e}"), 1))?;
    let denials = log
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                shared::ledger::Body::GuardDenied { warn: false, .. }
            )
        })
        .count();
    println!(
        "attempts {} (✓ {} ✗ {}) · in flight or lost {} · tokens {} (in {}, out {}) · guard denials {} · skipped lines {}",
        totals.attempts,
        totals.successes,
        totals.failures,
        totals.attempts_started.saturating_sub(totals.attempts),
        tokens(totals.tokens.total),
        tokens(totals.tokens.input),
        tokens(totals.tokens.output),
        denials,
        log.skipped,
    );
    Ok(0)
}
