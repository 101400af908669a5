//! The client versions offload is tested against: the pins `scripts/install-clients.sh`
//! installs for the end-to-end suite (its defaults are the newest of each list), and the
//! versions the suite passed on before. `offload doctor` reports an installed client against
//! them.

use std::fmt;

pub use crate::settings::ClaudeVersion as Version;

/// Codex CLI versions the suite passed on, oldest first.
pub const CODEX: &[Version] = &[Version(0, 169, 0), Version(0, 171, 0)];
/// Claude Code versions the suite runs on, oldest first: the oldest supported, the last
/// without the `PreSkillShellCommand` hook event, the current one.
pub const CLAUDE: &[Version] = &[Version(2, 1, 197), Version(2, 1, 330), Version(2, 1, 332)];

/// An installed version against a tested list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tested {
    /// One of the tested versions.
    Exactly,
    /// Newer than the newest tested (which it carries).
    Newer(Version),
    /// Older than the oldest tested (which it carries).
    Older(Version),
    /// Between tested versions, not itself tested (the newest tested one is carried).
    Between(Version),
}

/// Where `v` stands against `tested` (oldest first, never empty).
pub fn judge(v: Version, tested: &[Version]) -> Tested {
    let (Some(&oldest), Some(&newest)) = (tested.first(), tested.last()) else {
        return Tested::Exactly;
    };
    if tested.contains(&v) {
        Tested::Exactly
    } else if v > newest {
        Tested::Newer(newest)
    } else if v < oldest {
        Tested::Older(oldest)
    } else {
        Tested::Between(newest)
    }
}

impl fmt::Display for Tested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tested::Exactly => f.write_str("a tested version"),
            Tested::Newer(n) => write!(f, "newer than the newest tested ({n})"),
            Tested::Older(o) => write!(f, "older than any tested version ({o} and later)"),
            Tested::Between(n) => write!(f, "not itself tested (tested up to {n})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judged_against_the_list() {
        assert_eq!(judge(Version(2, 1, 330), CLAUDE), Tested::Exactly);
        assert_eq!(
            judge(Version(2, 1, 400), CLAUDE),
            Tested::Newer(Version(2, 1, 332))
        );
        assert_eq!(
            judge(Version(2, 0, 1), CLAUDE),
            Tested::Older(Version(2, 1, 197))
        );
        assert_eq!(
            judge(Version(2, 1, 200), CLAUDE),
            Tested::Between(Version(2, 1, 332))
        );
        assert_eq!(
            judge(Version(0, 170, 2), CODEX).to_string(),
            "not itself tested (tested up to 0.171.0)"
        );
    }

    /// The install script's default pins are the newest tested versions, so doctor and the
    /// suite speak of the same clients.
    #[test]
    fn the_install_script_pins_the_newest() {
        let script = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-clients.sh"),
        )
        .unwrap();
        let pin = |var: &str| {
            let line = script
                .lines()
                .find(|l| l.contains(&format!("${{{var}:-")))
                .unwrap_or_else(|| panic!("no {var} pin"));
            let v = line.split(":-").nth(1).unwrap().trim_end_matches('}');
            Version::parse(v).unwrap()
        };
        assert_eq!(pin("OFFLOAD_CODEX_VERSION"), *CODEX.last().unwrap());
        assert_eq!(pin("OFFLOAD_CLAUDE_VERSION"), *CLAUDE.last().unwrap());
        let test = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test.sh"),
        )
        .unwrap();
        for v in &CLAUDE[..CLAUDE.len() - 1] {
            assert!(
                test.contains(&format!("claude-{v}")),
                "test.sh installs claude-{v}"
            );
        }
    }
}
