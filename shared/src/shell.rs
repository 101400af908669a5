//! POSIX shell words: quoting a word so a shell reads it back unchanged, and the command line
//! of a list of words. Used wherever offload prints or writes a command for a shell: deny
//! reasons, `CLAUDE_ENV_FILE` lines, settings.json hook and statusline commands, plan commands.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// `s` as one word: as is when it is made only of characters no shell treats specially, else
/// in single quotes (a single quote inside becomes `'\''`).
pub fn quote(s: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(single_quote(s))
}

/// `'s'`, always quoted, with each `'` written as `'\''`.
pub fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line a shell runs as exactly `words`.
pub fn command_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a command shown to Claude or the user runs offload's CLI at `bin`: the bare `offload`
/// when that is what `path` (a `PATH` value) finds first, else `bin` itself, as `~/…` under
/// `home`, quoted for the shell where needed. Claude's Bash tool and a terminal may lack
/// `~/.local/bin` on `PATH`; the full path runs either way. A `bin` that does not exist gives
/// the bare name.
pub fn offload_command(bin: &Path, path: Option<&OsStr>, home: Option<&Path>) -> String {
    let Ok(ours) = std::fs::metadata(bin) else {
        return "offload".into();
    };
    if let Some(path) = path {
        for dir in std::env::split_paths(path).filter(|d| d.is_absolute()) {
            let Ok(m) = std::fs::metadata(dir.join("offload")) else {
                continue;
            };
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                if (m.dev(), m.ino()) == (ours.dev(), ours.ino()) {
                    return "offload".into();
                }
                break;
            }
        }
    }
    if let Some(rest) = home
        .filter(|h| h.is_absolute() && h != &Path::new("/"))
        .and_then(|h| bin.strip_prefix(h).ok())
        .and_then(Path::to_str)
        && !rest.is_empty()
        && quote(rest) == rest
    {
        return format!("~/{rest}");
    }
    quote(&bin.display().to_string()).into_owned()
}

/// [`offload_command`] for the `offload` beside the running executable (the hook, the
/// statusline and `offload` itself are installed side by side), with this process's `PATH`
/// and `HOME`.
pub fn this_offload() -> String {
    let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.join("offload")))
    else {
        return "offload".into();
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    offload_command(&bin, std::env::var_os("PATH").as_deref(), home.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offload_command_is_the_bare_name_only_when_path_finds_it() {
        use std::os::unix::fs::PermissionsExt;
        let t = std::env::temp_dir().join(format!("offload-cmd-{}", std::process::id()));
        let home = t.join("home");
        let bin_dir = home.join(".local/bin");
        let other = t.join("other bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let bin = bin_dir.join("offload");
        for f in [&bin, &other.join("offload")] {
            std::fs::write(f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();
        // On PATH, first: the bare name.
        let p = path(&[Path::new("/nonexistent"), &bin_dir]);
        assert_eq!(offload_command(&bin, Some(&p), Some(&home)), "offload");
        // Off PATH: the path under home, unquoted.
        let p = path(&[Path::new("/usr/bin")]);
        assert_eq!(
            offload_command(&bin, Some(&p), Some(&home)),
            "~/.local/bin/offload"
        );
        assert_eq!(
            offload_command(&bin, None, Some(&home)),
            "~/.local/bin/offload"
        );
        // Another offload first on PATH: ours by its path.
        let p = path(&[&other, &bin_dir]);
        assert_eq!(
            offload_command(&bin, Some(&p), Some(&home)),
            "~/.local/bin/offload"
        );
        // Outside home, with a space: quoted.
        let theirs = other.join("offload");
        assert_eq!(
            offload_command(&theirs, None, Some(&home)),
            quote(&theirs.display().to_string())
        );
        // No such file: the bare name.
        assert_eq!(offload_command(&t.join("nope"), None, None), "offload");
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("gpt-5.4"), "gpt-5.4");
        assert_eq!(quote("/a/b"), "/a/b");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert_eq!(single_quote("plain"), "'plain'");
        assert_eq!(command_line(&["echo", "a b"]), "echo 'a b'");
    }
}
