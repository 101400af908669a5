//! What decides which codex an attempt runs and where it talks, beyond the codex file itself:
//! the variables a program loads code or certificates from, or sends its traffic by; the
//! interpreter of a script launcher; the files of an npm install; codex's own config. `offload
//! run` compares them with what the Claude Code above it started with (see its check of which
//! codex an attempt ran), and the guard keeps codex's config files out of Claude's reach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// offload's own settings that share codex's prefix: codex does not read them.
const OFFLOAD_CODEX_VARS: &[&str] = &[
    crate::env::CODEX_MODEL,
    crate::env::CODEX_MODEL_CODE,
    crate::env::CODEX_MODEL_LOGIC,
    crate::env::CODEX_EFFORT,
    crate::env::CODEX_TIMEOUT,
    crate::env::CODEX_FAIL_CLOSED,
    // Judged on their own: the codex resolved, and codex's home.
    crate::env::CODEX_BIN,
    crate::env::CODEX_HOME,
];

/// Whether a variable decides what code codex (or its launcher's interpreter) loads, or where
/// and through what it connects: one set from inside Claude Code to a value other than the
/// one Claude Code started with makes an attempt count for nothing.
pub fn watched_var(name: &str) -> bool {
    matches!(
        name,
        "NODE_OPTIONS"
            | "NODE_PATH"
            | "NODE_EXTRA_CA_CERTS"
            | "OPENAI_BASE_URL"
            | "OPENAI_API_BASE"
            | "SSL_CERT_FILE"
            | "SSL_CERT_DIR"
    ) || name.starts_with("LD_")
        || name.starts_with("DYLD_")
        || (name.starts_with("CODEX_") && !OFFLOAD_CODEX_VARS.contains(&name))
}

/// The watched variables of an environment.
pub fn watched_env<'a>(
    vars: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(k, _)| watched_var(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The watched variables of this process's environment.
pub fn own_watched_env() -> BTreeMap<String, String> {
    let all: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    watched_env(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The first watched variable whose value differs between `now` and `start` (set, unset or
/// changed), described.
pub fn env_difference(
    now: &BTreeMap<String, String>,
    start: &BTreeMap<String, String>,
) -> Option<String> {
    let names: std::collections::BTreeSet<&String> = now.keys().chain(start.keys()).collect();
    names.into_iter().find_map(|k| {
        let (a, b) = (now.get(k), start.get(k));
        (a != b).then(|| {
            format!(
                "{k}={} (Claude Code started with {})",
                a.map_or("(unset)", String::as_str),
                b.map_or_else(|| "it unset".to_string(), |v| format!("{k}={v}"))
            )
        })
    })
}

/// The interpreter a script's first line names: `#!/path/X …` gives `/path/X`, `#!/usr/bin/env
/// [options] X …` gives `X` (found on `PATH` when it runs). `None`: not a script.
pub fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let program = words.next()?.to_owned();
    if program.rsplit('/').next() != Some("env") {
        return Some(program);
    }
    // `env [-S] [-i] [-u NAME] [NAME=value …] X`: with `-S` the rest is split again.
    let mut rest: Vec<String> = words.map(str::to_owned).collect();
    let mut i = 0;
    while i < rest.len() {
        let w = rest[i].clone();
        if w == "-S" || w == "--split-string" {
            let split: Vec<String> = rest[i + 1..]
                .iter()
                .flat_map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            rest.truncate(i);
            rest.extend(split);
            continue;
        }
        if let Some(joined) = w.strip_prefix("-S") {
            rest[i] = joined.to_owned();
            continue;
        }
        if w == "-u" || w == "--unset" || w == "-C" || w == "--chdir" {
            i += 2;
            continue;
        }
        if w.starts_with('-') || w.contains('=') {
            i += 1;
            continue;
        }
        return Some(w);
    }
    None
}

/// The interpreter of the script `launcher`, resolved as it runs under `path`: the file, or
/// `None` when it is not a script or the interpreter is not found.
pub fn interpreter_of(launcher: &Path, path: &std::ffi::OsStr) -> Option<Result<PathBuf, String>> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(launcher)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let name = shebang_interpreter(&head[..n])?;
    Some(
        crate::process::resolve_bin_in(&name, path)
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .map_err(|_| name),
    )
}

/// For a launcher of an npm install (`…/node_modules/@openai/codex/…`), that
/// `…/node_modules/@openai` folder: what codex's package and its platform package live in.
pub fn npm_scope(launcher: &Path) -> Option<PathBuf> {
    let parts: Vec<_> = launcher.components().collect();
    let at = parts.windows(3).rposition(|w| {
        w[0].as_os_str() == "node_modules"
            && w[1].as_os_str() == "@openai"
            && w[2].as_os_str() == "codex"
    })?;
    Some(parts[..at + 2].iter().collect())
}

/// At most this many entries of an npm install are looked at; a larger one does not count.
pub const MAX_ENTRIES: usize = 5000;

/// When a file's status last changed (its content, mode, name or links): the later of the
/// link's own and, for a symlink, its target's.
pub fn changed_at(p: &Path) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let at = |m: std::fs::Metadata| {
        SystemTime::UNIX_EPOCH
            + Duration::new(
                m.ctime().max(0) as u64,
                m.ctime_nsec().clamp(0, 999_999_999) as u32,
            )
    };
    let own = std::fs::symlink_metadata(p).ok().map(at)?;
    Some(
        std::fs::metadata(p)
            .ok()
            .map(at)
            .map_or(own, |t| t.max(own)),
    )
}

/// The first entry under `root` (itself included: files, folders, links, not followed) whose
/// status changed after `since`. `Err`: more than `max` entries, or not done by `deadline`.
pub fn changed_under(
    root: &Path,
    since: SystemTime,
    max: usize,
    deadline: Instant,
) -> Result<Option<PathBuf>, String> {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > max {
            return Err(format!(
                "{} holds more than {max} files, too many to check",
                root.display()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("{} could not be checked in time", root.display()));
        }
        let meta = std::fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if changed_at(&p).is_some_and(|t| t > since) {
            return Ok(Some(p));
        }
        if meta.is_dir() {
            let entries = std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            for e in entries {
                stack.push(e.map_err(|e| format!("{}: {e}", p.display()))?.path());
            }
        }
    }
    Ok(None)
}

/// codex's home for an environment: `CODEX_HOME`, else `~/.codex`.
pub fn codex_home(codex_home: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    match codex_home {
        Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => home.map(|h| h.join(".codex")),
    }
}

/// codex's files in its home that decide where it talks: its config (provider, server) and
/// the variables it loads from `.env`. One changed during the session makes its attempts count
/// for nothing. (Its login, `auth.json`, is left out there: codex rewrites it itself when it
/// refreshes a ChatGPT login, and a login cannot move codex to another server.)
pub fn config_files(codex_home: &Path) -> Vec<PathBuf> {
    ["config.toml", ".env"]
        .iter()
        .map(|f| codex_home.join(f))
        .collect()
}

/// codex's files Claude's tools may not write: [`config_files`] and its login.
pub fn protected_files(codex_home: &Path) -> Vec<PathBuf> {
    let mut files = config_files(codex_home);
    files.push(codex_home.join("auth.json"));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_variables() {
        for v in [
            "NODE_OPTIONS",
            "NODE_PATH",
            "LD_PRELOAD",
            "LD_AUDIT",
            "LD_BIND_NOW",
            "DYLD_INSERT_LIBRARIES",
            "OPENAI_BASE_URL",
            "OPENAI_API_BASE",
            "CODEX_API_KEY",
            "CODEX_CA_CERTIFICATE",
            "SSL_CERT_FILE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            assert!(watched_var(v), "{v}");
        }
        for v in [
            "PATH",
            "HOME",
            "CODEX_HOME",
            "CODEX_BIN",
            "CODEX_MODEL",
            "CODEX_TIMEOUT",
            "OPENAI_API_KEY",
            "FAKE_CODEX_MODE",
            // A proxy cannot answer for an HTTPS server without a certificate codex trusts
            // (whose variables are watched); corporate shells set them.
            "https_proxy",
            "HTTPS_PROXY",
            "NO_PROXY",
        ] {
            assert!(!watched_var(v), "{v}");
        }
    }

    #[test]
    fn differences_name_the_variable() {
        let m = |pairs: &[(&str, &str)]| watched_env(pairs.iter().copied());
        let start = m(&[("LD_LIBRARY_PATH", "/x"), ("PATH", "/bin")]);
        assert_eq!(
            env_difference(&m(&[("LD_LIBRARY_PATH", "/x")]), &start),
            None
        );
        let d = env_difference(
            &m(&[
                ("NODE_OPTIONS", "--require /tmp/r.js"),
                ("LD_LIBRARY_PATH", "/x"),
            ]),
            &start,
        )
        .unwrap();
        assert!(d.starts_with("NODE_OPTIONS=--require /tmp/r.js"), "{d}");
        let d = env_difference(&m(&[]), &start).unwrap();
        assert!(d.contains("LD_LIBRARY_PATH=(unset)"), "{d}");
    }

    #[test]
    fn interpreters_of_scripts() {
        let s = |h: &str| shebang_interpreter(h.as_bytes());
        assert_eq!(s("#!/usr/bin/env node\nx"), Some("node".into()));
        assert_eq!(s("#!/usr/bin/env -S node --foo\n"), Some("node".into()));
        assert_eq!(s("#!/usr/bin/env -u X -i A=b node"), Some("node".into()));
        assert_eq!(s("#! /bin/sh\n"), Some("/bin/sh".into()));
        assert_eq!(s("\x7fELF"), None);
    }

    #[test]
    fn npm_scopes() {
        assert_eq!(
            npm_scope(Path::new("/p/lib/node_modules/@openai/codex/bin/codex.js")),
            Some(PathBuf::from("/p/lib/node_modules/@openai"))
        );
        assert_eq!(npm_scope(Path::new("/usr/bin/codex")), None);
    }

    #[test]
    fn changes_under_a_folder_are_found_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), "x").unwrap();
        let far = Instant::now() + Duration::from_secs(30);
        let past = SystemTime::now() - Duration::from_secs(3600);
        assert!(changed_under(dir.path(), past, 100, far).unwrap().is_some());
        std::thread::sleep(Duration::from_millis(20));
        let mark = SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(changed_under(dir.path(), mark, 100, far), Ok(None));
        std::fs::write(dir.path().join("a/b/f"), "y").unwrap();
        assert_eq!(
            changed_under(dir.path(), mark, 100, far),
            Ok(Some(dir.path().join("a/b/f")))
        );
        assert!(changed_under(dir.path(), mark, 2, far).is_err());
    }
}
