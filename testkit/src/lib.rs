//! Test support for offload: loopback mock model servers and helpers to drive the real clients.

pub mod codex;
pub mod responses;
