//! `offload-statusline`: the Claude Code statusline binary.
fn main() {}
