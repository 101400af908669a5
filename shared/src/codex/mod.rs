//! Everything offload knows about the Codex CLI: how to call `codex exec` ([`command`]), how to
//! read its `--json` event stream ([`events`]), and where its rate limits really are: only in
//! the session rollout file, never in the event stream ([`rollout`]); which models it knows
//! ([`catalog`]); and how a thread is continued and its turn counted ([`resume`]).
//!
//! The formats are the ones observed from Codex CLI 0.169.0 (see the fixtures in
//! `shared/tests/fixtures/codex/`). Codex adds fields and item types over time: unknown ones
//! are ignored and missing ones default, so an upgrade degrades to fewer details, never to a
//! wrong outcome.

pub mod catalog;
pub mod command;
pub mod events;
pub mod resume;
pub mod rollout;
pub mod trust;
