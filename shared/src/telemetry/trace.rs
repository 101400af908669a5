//! W3C Trace Context for `offload run`: the `TRACEPARENT` it was given (Claude Code sets one
//! for Bash commands with `CLAUDE_CODE_PROPAGATE_TRACEPARENT=1`), the span it opens for each
//! attempt, and the `TRACEPARENT` it hands to codex, which continues the trace from there.

use super::otlp::hex;

/// A parsed `traceparent` header (version 00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids and version `ff` are invalid (W3C Trace
    /// Context §3.2). A later version is read by its first four fields, as the spec says.
    pub fn parse(s: &str) -> Option<TraceParent> {
        let s = s.trim();
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() < 4 {
            return None;
        }
        let (version, trace, span, flags) = (parts[0], parts[1], parts[2], parts[3]);
        if version.len() != 2 || version.eq_ignore_ascii_case("ff") || unhex::<1>(version).is_none()
        {
            return None;
        }
        if version == "00" && parts.len() != 4 {
            return None;
        }
        let trace_id = unhex::<16>(trace)?;
        let span_id = unhex::<8>(span)?;
        let flags = unhex::<1>(flags)?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The header's text (version 00).
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// Lowercase (or uppercase) hex of exactly `N` bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Random bytes from the kernel (`getrandom`), never all zero; falls back to a hash of the
/// time and pid should the call fail.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SAFETY: the buffer is valid for N bytes.
    let got = unsafe { libc::getrandom(out.as_mut_ptr().cast(), N, 0) };
    if got != N as isize || out.iter().all(|b| *b == 0) {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        out = derived(&seed);
    }
    out
}

/// `N` bytes derived from `seed` (FNV-1a, 64 bits at a time): the same seed gives the same
/// ids, so a span exported again (`offload export --since`) keeps its ids.
pub fn derived<const N: usize>(seed: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_le_bytes()[..chunk.len()]);
    }
    if out.iter().all(|b| *b == 0) {
        out[0] = 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_w3c_examples_and_refuses_the_invalid() {
        let t =
            TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert!(t.sampled());
        assert_eq!(
            t.header(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert!(
            !TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
                .unwrap()
                .sampled()
        );
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-xyz7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x")
                .is_some()
        );
    }

    #[test]
    fn ids_are_random_or_derived() {
        assert_ne!(random::<16>(), random::<16>());
        assert_eq!(derived::<8>("a"), derived::<8>("a"));
        assert_ne!(derived::<8>("a"), derived::<8>("b"));
        assert_ne!(derived::<16>("a")[..8], derived::<16>("a")[8..]);
    }
}
