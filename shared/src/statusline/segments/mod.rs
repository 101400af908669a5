//! The segments: one file each, one signature, `fn(&Ctx) -> Segment`. Adding one means a file
//! and a line in [`by_name`].

mod claude;
mod rate_limit;
mod share;
mod success_fail;
mod tokens;

use super::{Ctx, Segment};

/// A segment renderer.
pub type Render = fn(&Ctx<'_>) -> Segment;

/// Every placeholder the format string knows.
pub const NAMES: [&str; 7] = ["tokens", "total", "sf", "rl", "weekly", "claude", "share"];

/// The renderer for a placeholder.
pub fn by_name(name: &str) -> Option<(&'static str, Render)> {
    let r: Render = match name {
        "tokens" => tokens::session,
        "total" => tokens::total,
        "sf" => success_fail::render,
        "rl" => rate_limit::five_hour,
        "weekly" => rate_limit::weekly,
        "claude" => claude::render,
        "share" => share::render,
        _ => return None,
    };
    NAMES.iter().find(|n| **n == name).map(|n| (*n, r))
}

/// The text for a value that cannot be known.
pub const UNKNOWN: &str = "--";
