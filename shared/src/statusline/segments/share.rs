//! `share`: Codex's share of this session's tokens, Codex / (Codex + Claude).

use crate::statusline::{Ctx, Segment};

use super::UNKNOWN;

pub fn render(ctx: &Ctx<'_>) -> Segment {
    let codex = ctx.session.map_or(0, |s| s.tokens.total);
    match ctx.input.claude_tokens {
        Some(claude) if codex + claude > 0 => Segment {
            text: format!(
                "{}%",
                (codex as f64 * 100.0 / (codex + claude) as f64).round() as u64
            ),
            source: format!("{codex} Codex tokens, {claude} Claude tokens (stdin context_window)"),
        },
        _ => Segment {
            text: UNKNOWN.into(),
            source: "no tokens on either side yet".into(),
        },
    }
}
