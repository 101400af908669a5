//! `RL Claude:` Claude's own 5-hour limit, when Claude Code sends it (subscription logins).

use crate::statusline::{Ctx, Segment};

use super::UNKNOWN;
use super::rate_limit::remaining;

pub fn render(ctx: &Ctx<'_>) -> Segment {
    match &ctx.input.claude_five_hour {
        Some(l) => Segment {
            text: remaining(
                l.used_percent,
                l.resets_at,
                ctx.now,
                ctx.config.low_remaining,
                ctx.config.warn_remaining,
                ctx.color,
            ),
            source: "stdin rate_limits.five_hour".into(),
        },
        None => Segment {
            text: UNKNOWN.into(),
            source: "Claude Code sent no rate_limits (API-key logins never do)".into(),
        },
    }
}
