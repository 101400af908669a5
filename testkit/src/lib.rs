//! Test support for offload: loopback mock model servers, an OTLP/HTTP receiver, and helpers to
//! drive the real clients.

pub mod claude;
pub mod codex;
mod http;
pub mod messages;
pub mod otlp;
pub mod responses;
