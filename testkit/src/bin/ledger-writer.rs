//! A ledger writer for crash tests: appends attempt events to the ledger in `OFFLOAD_HOME`
//! in a loop, one append per event, until it has written COUNT or is killed.
//!
//!   ledger-writer COUNT SESSION

use shared::ledger::{AttemptFinished, AttemptStarted, Body, Event, Ledger, Tokens};
use shared::outcome::Outcome;
use shared::paths::Paths;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let session = args.next().unwrap_or_else(|| "crash".into());
    let Ok(paths) = Paths::from_env() else {
        eprintln!("ledger-writer: set OFFLOAD_HOME");
        std::process::exit(2);
    };
    let ledger = Ledger::new(paths);
    let pid = std::process::id();
    for i in 0..count {
        let attempt = format!("{pid}-{i}");
        let body = if i % 2 == 0 {
            Body::AttemptStarted(AttemptStarted {
                attempt,
                model: "m".into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: "/".into(),
                pid,
                resumed_from: None,
            })
        } else {
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt,
                outcome: Outcome::Success,
                exit_code: 0,
                codex_exit: Some(0),
                model: "m".into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: "/".into(),
                duration_ms: 1,
                // A long error text makes each line several KiB, so kills land mid-work more often.
                tokens: Tokens {
                    input: 10,
                    cached_input: 0,
                    output: 1,
                    reasoning: 0,
                    total: 11,
                },
                thread_id: None,
                error: Some("x".repeat(4096)),
                resumed_from: None,
                job: None,
                trace: None,
            }))
        };
        if let Err(e) = ledger.append(&[Event::now(Some(&session), body)]) {
            eprintln!("ledger-writer: {e}");
            std::process::exit(1);
        }
    }
}
