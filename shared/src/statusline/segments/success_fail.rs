//! `S/F C:` this session's successful / failed Codex attempts; failures in red.

use crate::statusline::{Color, Ctx, Segment, paint};

use super::UNKNOWN;

pub fn render(ctx: &Ctx<'_>) -> Segment {
    if ctx.input.session_id.is_none() {
        return Segment {
            text: format!("{UNKNOWN}/{UNKNOWN}"),
            source: "no session_id on stdin".into(),
        };
    }
    let (s, f) = ctx.session.map_or((0, 0), |s| (s.successes, s.failures));
    let failures = f.to_string();
    let failures = if f > 0 {
        paint(&failures, Some(Color::Red), ctx.color)
    } else {
        failures
    };
    Segment {
        text: format!("{s}/{failures}"),
        source: ctx.session.map_or_else(
            || "no Codex attempt recorded for this session".into(),
            |s| format!("sessions/{}.json", s.session),
        ),
    }
}
