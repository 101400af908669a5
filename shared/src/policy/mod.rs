//! The guard's decisions: whether a tool call is Codex-eligible work, and what to answer.
//!
//! - [`bash`]: which files a Bash command writes.
//! - [`scope`]: which paths are code, exempt, outside the project, or offload's own.
//! - [`guard`]: the PreToolUse decision, from the call, the config and the session summary.
//! - [`messages`]: the words Claude reads when it is denied.
//! - [`effect`], [`watch`]: the effect check behind the Bash analyzer, and the watcher that
//!   keeps it cheap.

pub mod bash;
pub mod effect;
pub mod guard;
pub mod hook;
pub mod messages;
pub mod programs;
pub mod scope;
pub mod watch;
