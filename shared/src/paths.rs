//! Where offload keeps its config and its state, decided in one place.
//!
//! Fallback order:
//! 1. `OFFLOAD_HOME` set: everything lives directly in that folder (`config.json`,
//!    `events.jsonl`, `totals.json`, `sessions/`, `runs/`). Tests and users who want one
//!    self-contained folder use this.
//! 2. Otherwise the platform folders from `directories`: config in
//!    `<config dir>/offload/config.json` (`~/.config/offload/config.json` on Linux) and state in
//!    `<data dir>/offload/` (`~/.local/share/offload/` on Linux).
//!
//! State folders are created with mode 0700 and files with 0600: the ledger says what a user
//! worked on, and the approval records must not be writable by anyone else.

use std::path::{Path, PathBuf};

use crate::env;

/// The resolved locations of offload's config and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The JSON config file (may not exist).
    pub config_file: PathBuf,
    /// The folder holding the ledger, summaries and per-run files.
    pub state_dir: PathBuf,
}

/// Neither `OFFLOAD_HOME` nor a home directory could be found.
#[derive(Debug)]
pub struct NoHome;

impl std::fmt::Display for NoHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot find a home directory for offload's state; set {} to a folder",
            env::OFFLOAD_HOME
        )
    }
}

impl std::error::Error for NoHome {}

impl Paths {
    /// Resolve from the environment (see the module docs for the order).
    pub fn from_env() -> Result<Paths, NoHome> {
        if let Some(home) = std::env::var_os(env::OFFLOAD_HOME).filter(|v| !v.is_empty()) {
            return Ok(Paths::in_folder(PathBuf::from(home)));
        }
        let base = directories::BaseDirs::new().ok_or(NoHome)?;
        Ok(Paths {
            config_file: base.config_dir().join("offload").join("config.json"),
            state_dir: base.data_dir().join("offload"),
        })
    }

    /// Config and state together in one folder (what `OFFLOAD_HOME` selects).
    pub fn in_folder(home: PathBuf) -> Paths {
        Paths {
            config_file: home.join("config.json"),
            state_dir: home,
        }
    }

    /// The config folder (parent of [`Paths::config_file`]).
    pub fn config_dir(&self) -> &Path {
        self.config_file.parent().unwrap_or(Path::new("."))
    }

    /// `events.jsonl`: the append-only source of truth.
    pub fn events(&self) -> PathBuf {
        self.state_dir.join("events.jsonl")
    }

    /// The lock file every ledger writer holds exclusively.
    pub fn lock(&self) -> PathBuf {
        self.state_dir.join("ledger.lock")
    }

    /// `totals.json`: all-time summary.
    pub fn totals(&self) -> PathBuf {
        self.state_dir.join("totals.json")
    }

    /// Folder of per-session summaries.
    pub fn sessions_dir(&self) -> PathBuf {
        self.state_dir.join("sessions")
    }

    /// `sessions/<id>.json` for a session id, with the id made safe as a file name.
    pub fn session(&self, id: &str) -> PathBuf {
        self.sessions_dir()
            .join(format!("{}.json", session_file_stem(id)))
    }

    /// Folder of per-run files (`runs/<run id>/`).
    pub fn runs_dir(&self) -> PathBuf {
        self.state_dir.join("runs")
    }
}

/// A file-name-safe form of a session id. Claude Code's ids are UUIDs and pass unchanged;
/// anything else is percent-encoded byte by byte so that two ids never share a file and no id
/// can climb out of `sessions/`.
pub fn session_file_stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    // File names stop at 255 bytes: a longer id keeps its first 120 bytes and a hash of the
    // whole (`~`, which the escaping above never writes, sets these names apart).
    if out.len() > 200 {
        let mut cut = 120;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        out = format!("{}~{hash:016x}", &out[..cut]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_session_ids_are_file_names_as_they_are() {
        let id = "3f2c1a9e-7b7d-4c39-9a1e-0d6f5b2c8e11";
        assert_eq!(session_file_stem(id), id);
    }

    #[test]
    fn long_session_ids_are_names_a_file_system_takes() {
        let long = "s".repeat(300);
        let stem = session_file_stem(&long);
        assert!(stem.len() <= 200, "{}", stem.len());
        assert_ne!(stem, session_file_stem(&"s".repeat(301)));
        assert_eq!(stem, session_file_stem(&long), "the same id, the same name");
        let escaped = "é".repeat(100);
        assert!(session_file_stem(&escaped).len() <= 200);
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(format!("{stem}.json")), "{}").unwrap();
    }

    #[test]
    fn hostile_session_ids_stay_inside_sessions() {
        assert_eq!(session_file_stem("../x"), "%2E%2E%2Fx");
        assert_eq!(session_file_stem(""), "%00");
        assert_eq!(session_file_stem("a.b"), "a%2Eb");
        let p = Paths::in_folder(PathBuf::from("/s"));
        assert_eq!(
            p.session("../../etc/passwd").parent().unwrap(),
            Path::new("/s/sessions")
        );
    }

    #[test]
    fn offload_home_holds_everything() {
        let p = Paths::in_folder(PathBuf::from("/h"));
        assert_eq!(p.config_file, PathBuf::from("/h/config.json"));
        assert_eq!(p.events(), PathBuf::from("/h/events.jsonl"));
        assert_eq!(p.runs_dir(), PathBuf::from("/h/runs"));
    }
}
