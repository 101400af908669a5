//! `RL C:` Codex's remaining share of a rate-limit window and when it resets: `58%@14:05`,
//! `58%@Tue 14:05` when the reset is more than a day away, `100%` once it has passed, `--`
//! without data. Red at or below `low_remaining`, yellow at or below `warn_remaining`.

use chrono::{DateTime, Local, Utc};

use crate::codex::rollout::{FIVE_HOURS, WEEK};
use crate::statusline::{Color, Ctx, Segment, paint};

use super::UNKNOWN;

pub fn five_hour(ctx: &Ctx<'_>) -> Segment {
    window(ctx, FIVE_HOURS)
}

pub fn weekly(ctx: &Ctx<'_>) -> Segment {
    window(ctx, WEEK)
}

fn window(ctx: &Ctx<'_>, minutes: u64) -> Segment {
    let Some(w) = ctx.rate.and_then(|s| s.window(minutes)) else {
        return Segment {
            text: UNKNOWN.into(),
            source: format!("no {minutes}-minute window in any snapshot"),
        };
    };
    let text = remaining(
        w.used_percent,
        w.resets_at,
        ctx.now,
        ctx.config.low_remaining,
        ctx.config.warn_remaining,
        ctx.color,
    );
    Segment {
        text,
        source: format!("{minutes}-minute window, used {}%", w.used_percent),
    }
}

/// `remaining%@reset`, coloured by threshold. Shared with Claude's own limit.
pub fn remaining(
    used: f64,
    resets_at: Option<i64>,
    now: DateTime<Utc>,
    low: f64,
    warn: f64,
    color: bool,
) -> String {
    let reset = resets_at.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
    if reset.is_some_and(|r| r <= now) {
        return "100%".into();
    }
    let left = (100.0 - used).clamp(0.0, 100.0);
    let pct = format!("{}%", left.round() as i64);
    let pct = if left <= low {
        paint(&pct, Some(Color::Red), color)
    } else if left <= warn {
        paint(&pct, Some(Color::Yellow), color)
    } else {
        pct
    };
    match reset {
        Some(r) => format!("{pct}@{}", when(r, now)),
        None => pct,
    }
}

/// `HH:MM` local, or `Tue HH:MM` when more than a day away.
pub fn when(reset: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = reset.with_timezone(&Local);
    if reset - now > chrono::Duration::hours(24) {
        local.format("%a %H:%M").to_string()
    } else {
        local.format("%H:%M").to_string()
    }
}
