//! Placeholder until the Bash write detector lands.
use std::path::{Path, PathBuf};

pub struct Write {
    pub path: PathBuf,
    pub how: &'static str,
}

pub enum Target {
    File(Write),
    Unknown { dir: PathBuf, how: &'static str },
}

pub fn writes(_command: &str, _cwd: &Path, _home: Option<&Path>) -> Vec<Target> {
    Vec::new()
}
