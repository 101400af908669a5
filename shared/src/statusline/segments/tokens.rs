//! `C:` this Claude session's Codex tokens (input + output), `Σ:` all sessions, all time.

use crate::format::tokens;
use crate::statusline::{Ctx, Segment};

use super::UNKNOWN;

pub fn session(ctx: &Ctx<'_>) -> Segment {
    match (ctx.input.session_id.as_deref(), ctx.session) {
        (Some(_), Some(s)) => Segment {
            text: tokens(s.tokens.total),
            source: format!("sessions/{}.json", s.session),
        },
        (Some(id), None) => Segment {
            text: "0".into(),
            source: format!("no Codex attempt recorded for session {id}"),
        },
        (None, _) => Segment {
            text: UNKNOWN.into(),
            source: "no session_id on stdin".into(),
        },
    }
}

pub fn total(ctx: &Ctx<'_>) -> Segment {
    match ctx.totals {
        Some(t) => Segment {
            text: tokens(t.tokens.total),
            source: "totals.json".into(),
        },
        None if ctx.ledger_has_events => Segment {
            text: UNKNOWN.into(),
            source: "totals.json missing or not the log's (being rebuilt)".into(),
        },
        None => Segment {
            text: "0".into(),
            source: "no totals.json yet".into(),
        },
    }
}
