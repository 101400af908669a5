//! `offload-hook`: the Claude Code hook binary (guard rules arrive with the guard).
fn main() {}
