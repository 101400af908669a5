//! Number formats shared by the runner's summary line, `offload stats` and the statusline.

/// Tokens as a short figure: `0`, `999`, `12.4k`, `123k`, `1.3M`, `2.1B`. One decimal below 100
/// of a unit, whole numbers from 100; a figure that rounds to 1000 of a unit moves up a unit.
pub fn tokens(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B")];
    if n < 1000 {
        return n.to_string();
    }
    let n = n as u128;
    for (i, (size, unit)) in UNITS.iter().enumerate() {
        let size = *size as u128;
        let tenths = (n * 10 + size / 2) / size;
        if tenths < 1000 {
            return if tenths.is_multiple_of(10) {
                format!("{}{unit}", tenths / 10)
            } else {
                format!("{}.{}{unit}", tenths / 10, tenths % 10)
            };
        }
        let whole = (n + size / 2) / size;
        if whole < 1000 || i == UNITS.len() - 1 {
            return format!("{whole}{unit}");
        }
    }
    unreachable!("the last unit always returns")
}

/// A duration in milliseconds as `850ms`, `2.3s`, `4m05s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_figures() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1k"),
            (1290, "1.3k"),
            (12_400, "12.4k"),
            (99_949, "99.9k"),
            (123_456, "123k"),
            (999_400, "999k"),
            (999_949, "1M"),
            (1_000_000, "1M"),
            (1_300_000, "1.3M"),
            (1_250_000_000, "1.3B"),
        ];
        for (n, want) in cases {
            assert_eq!(tokens(n), want, "{n}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(millis(850), "850ms");
        assert_eq!(millis(2345), "2.3s");
        assert_eq!(millis(245_000), "4m05s");
    }
}
