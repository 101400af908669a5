//! Test support for offload: loopback mock model servers and helpers to drive the real clients.

pub mod claude;
pub mod codex;
mod http;
pub mod messages;
pub mod responses;
