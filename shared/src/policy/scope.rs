//! Which paths the guard cares about, and why: inside the project or not, offload's own files
//! or not, code or exempt.
//!
//! Rules (each has a test below):
//! - A relative path is taken relative to the tool call's `cwd`; `.` and `..` are resolved
//!   lexically first, then symlinks are resolved for the part of the path that exists, so a
//!   link that points into the project counts as the project and a link that points out of it
//!   does not. The project root is resolved the same way.
//! - A path outside the project is never Codex-eligible: Codex works in the project, and
//!   scratch files elsewhere are the user's business.
//! - offload's state and config folders, and the project's `.claude/offload.json`, are
//!   protected: the guard refuses to let Claude change them, whatever the path spelling.
//! - Globs match the `/`-separated path relative to the project root, case-insensitively (a
//!   `MAIN.RS` is Rust on a case-insensitive disk too), `*` within one folder, `**` across.
//!   Exempt globs win over code globs.
//! - A path that is not valid UTF-8 is matched on its lossy form: the extension decides, and
//!   extensions offload knows are ASCII.
//! - A path git ignores (`.gitignore` of the project root and of each folder on the way, and
//!   `.git/info/exclude`) and does not track is not code: `target/`, `node_modules/` and build
//!   output are the tools' business. A tracked file stays code even when a pattern matches it, so
//!   a new `.gitignore` line cannot turn the project's own code into "ignored".

use std::cell::OnceCell;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::GuardConfig;

/// What a path is to the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathClass {
    /// offload's own state, config, or project override: never Claude's to change.
    Protected,
    /// Outside the project.
    Outside,
    /// In the project and exempt (plans, Markdown, `.claude/`).
    Exempt,
    /// In the project and code: Codex-eligible.
    Code,
    /// In the project, neither code nor exempt (data, config, text).
    Other,
}

/// The guard's view of one project.
pub struct Scope {
    project: PathBuf,
    project_real: PathBuf,
    protected: Vec<PathBuf>,
    code_globs: Vec<String>,
    exempt_globs: Vec<String>,
    /// The compiled (code, exempt) globs, built on the first path that needs them: most Bash
    /// calls write nothing and never pay for compiling them.
    sets: OnceCell<(GlobSet, GlobSet)>,
    /// The same globs as sets, for [`Scope::is_code_rel`].
    fast: OnceCell<(Fast, Fast)>,
    /// `.gitignore` matchers by folder, built when a code path needs them.
    ignores: std::cell::RefCell<
        std::collections::HashMap<PathBuf, Option<ignore::gitignore::Gitignore>>,
    >,
}

impl Scope {
    /// `protected`: offload's state and config folders. Invalid globs in `config` are replaced
    /// by the defaults when they are first needed (a broken glob must not open the gate);
    /// [`check_globs`] reports them.
    pub fn new(project: &Path, config: &GuardConfig, protected: &[PathBuf]) -> Scope {
        let project = normalize(project);
        let mut prot: Vec<PathBuf> = Vec::new();
        for p in protected
            .iter()
            .cloned()
            .chain([project.join(".claude").join("offload.json")])
        {
            let n = normalize(&p);
            let r = real(&n);
            prot.push(n);
            if !prot.contains(&r) {
                prot.push(r);
            }
        }
        Scope {
            project_real: real(&project),
            project,
            protected: prot,
            code_globs: config.code_globs.clone(),
            exempt_globs: config.exempt_globs.clone(),
            sets: OnceCell::new(),
            fast: OnceCell::new(),
            ignores: Default::default(),
        }
    }

    fn sets(&self) -> &(GlobSet, GlobSet) {
        self.sets.get_or_init(
            || match (globs(&self.code_globs), globs(&self.exempt_globs)) {
                (Ok(code), Ok(exempt)) => (code, exempt),
                _ => {
                    let d = GuardConfig::default();
                    (
                        globs(&d.code_globs).unwrap_or_default(),
                        globs(&d.exempt_globs).unwrap_or_default(),
                    )
                }
            },
        )
    }

    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The project's folder with its symlinks resolved.
    pub fn project_real(&self) -> &Path {
        &self.project_real
    }

    /// Classify `path` (absolute, or relative to `cwd`).
    pub fn classify(&self, path: &Path, cwd: &Path) -> PathClass {
        let lexical = normalize(&cwd.join(path));
        let resolved = real(&lexical);
        if self.is_protected(&lexical) || self.is_protected(&resolved) {
            return PathClass::Protected;
        }
        let Ok(rel) = resolved.strip_prefix(&self.project_real) else {
            return PathClass::Outside;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.is_empty() {
            return PathClass::Other;
        }
        let lower = rel.to_ascii_lowercase();
        let (code, exempt) = self.fast();
        // The common glob shapes are answered from sets; only other shapes compile a matcher
        // (compiling 400 case-insensitive globs would cost every hook call milliseconds).
        let is_exempt = exempt
            .matches(&lower)
            .unwrap_or_else(|| self.sets().1.is_match(&rel));
        let is_code = || {
            code.matches(&lower)
                .unwrap_or_else(|| self.sets().0.is_match(&rel))
        };
        if is_exempt {
            PathClass::Exempt
        } else if is_code() {
            if self.ignored(&rel) && !crate::policy::effect::tracked(&self.project_real, &rel) {
                PathClass::Other
            } else {
                PathClass::Code
            }
        } else {
            PathClass::Other
        }
    }

    /// Whether git would ignore `rel` (relative to the project): a `.gitignore` in the project
    /// root or a folder on the way to it, or `.git/info/exclude`, says so.
    fn ignored(&self, rel: &str) -> bool {
        self.ignored_as(rel, false)
    }

    /// Whether git would ignore the file `rel` (relative to the project), tracked or not.
    pub fn ignored_rel(&self, rel: &str) -> bool {
        self.ignored_as(rel, false)
    }

    /// Whether git would ignore the folder `rel` (relative to the project).
    pub fn ignored_dir(&self, rel: &str) -> bool {
        self.ignored_as(rel, true)
    }

    fn ignored_as(&self, rel: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut dir = self.project_real.clone();
        let full = self.project_real.join(rel);
        let mut files: Vec<(PathBuf, PathBuf)> =
            vec![(dir.clone(), dir.join(".git").join("info").join("exclude"))];
        for part in &parts[..parts.len().saturating_sub(1)] {
            files.push((dir.clone(), dir.join(".gitignore")));
            dir.push(part);
        }
        files.push((dir.clone(), dir.join(".gitignore")));
        let mut cache = self.ignores.borrow_mut();
        let mut verdict = false;
        for (root, file) in files {
            let key = file.clone();
            let matcher = cache
                .entry(key)
                .or_insert_with(|| crate::policy::effect::ignore_rules(&root, &file));
            if let Some(m) = matcher {
                match m.matched_path_or_any_parents(&full, is_dir) {
                    ignore::Match::Ignore(_) => verdict = true,
                    ignore::Match::Whitelist(_) => verdict = false,
                    ignore::Match::None => {}
                }
            }
        }
        verdict
    }

    /// Whether a `/`-separated path relative to the project is code (a code glob matches and no
    /// exempt glob does). The effect check asks this for every file it walks, so the common glob
    /// shapes (`**/*.{ext,…}`, `**/NAME`, `**/NAME.*`, `DIR/**`) are answered from sets, and only
    /// other globs go through the compiled matcher.
    pub fn is_code_rel(&self, rel: &str) -> bool {
        let fast = self.fast();
        let lower = rel.to_ascii_lowercase();
        let code = match fast.0.matches(&lower) {
            Some(m) => m,
            None => self.sets().0.is_match(rel),
        };
        if !code {
            return false;
        }
        let exempt = match fast.1.matches(&lower) {
            Some(m) => m,
            None => self.sets().1.is_match(rel),
        };
        !exempt
    }

    fn fast(&self) -> &(Fast, Fast) {
        self.fast
            .get_or_init(|| (Fast::of(&self.code_globs), Fast::of(&self.exempt_globs)))
    }

    /// The code and exempt globs, as one string (a cache key).
    pub fn globs_key(&self) -> String {
        format!("{:?}|{:?}", self.code_globs, self.exempt_globs)
    }

    /// Is `dir` inside the project (for writes whose files are not named)?
    pub fn contains_dir(&self, dir: &Path, cwd: &Path) -> bool {
        real(&normalize(&cwd.join(dir))).starts_with(&self.project_real)
    }

    fn is_protected(&self, p: &Path) -> bool {
        self.protected.iter().any(|prot| p.starts_with(prot))
    }

    /// Every spelling of the protected locations a Bash command might use: absolute, and under
    /// `~/` or `$HOME/` when inside `home`.
    pub fn protected_spellings(&self, home: Option<&Path>) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.protected {
            let abs = p.to_string_lossy().into_owned();
            if let Some(rel) = home.and_then(|h| p.strip_prefix(h).ok()) {
                let rel = rel.to_string_lossy();
                for prefix in ["~/", "$HOME/", "${HOME}/"] {
                    out.push(format!("{prefix}{rel}"));
                }
            }
            out.push(abs);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Globs of the common shapes, as sets (all lowercase): a path matches when its extension, its
/// name, a name prefix, or a folder prefix is listed. `other` holds globs of any other shape:
/// when there are some, a path the sets do not match is left to the compiled matcher.
#[derive(Default)]
struct Fast {
    exts: std::collections::HashSet<String>,
    names: std::collections::HashSet<String>,
    name_prefixes: Vec<String>,
    name_suffixes: Vec<String>,
    dirs: Vec<String>,
    other: bool,
}

impl Fast {
    fn of(globs: &[String]) -> Fast {
        let mut f = Fast::default();
        let plain = |s: &str| !s.contains(['*', '?', '[', ']', '{', '}', '\\']);
        for g in globs {
            let g = g.to_ascii_lowercase();
            if let Some(name) = g.strip_prefix("**/") {
                if let Some(list) = name.strip_prefix("*.{").and_then(|r| r.strip_suffix('}')) {
                    if list.split(',').all(plain) {
                        f.exts.extend(list.split(',').map(str::to_owned));
                        continue;
                    }
                } else if let Some(ext) = name.strip_prefix("*.") {
                    if plain(ext) {
                        f.exts.insert(ext.to_owned());
                        continue;
                    }
                    if let Some(suffix) = name.strip_prefix('*').filter(|s| plain(s)) {
                        f.name_suffixes.push(suffix.to_owned());
                        continue;
                    }
                } else if plain(name) && !name.contains('/') {
                    f.names.insert(name.to_owned());
                    continue;
                } else if let Some(prefix) = name
                    .strip_suffix('*')
                    .filter(|p| plain(p) && !p.contains('/'))
                {
                    f.name_prefixes.push(prefix.to_owned());
                    continue;
                }
            } else if let Some(dir) = g.strip_suffix("/**").filter(|d| plain(d)) {
                f.dirs.push(format!("{dir}/"));
                continue;
            }
            f.other = true;
        }
        f
    }

    /// `Some(true)`: matched; `Some(false)`: no glob of any shape matches; `None`: ask the
    /// compiled matcher (there are globs of other shapes). `rel` is lowercase.
    fn matches(&self, rel: &str) -> Option<bool> {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let hit = self.dirs.iter().any(|d| rel.starts_with(d.as_str()))
            || self.names.contains(name)
            || name
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && self.exts.contains(ext))
            || self
                .name_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
            || self
                .name_suffixes
                .iter()
                .any(|s| name.ends_with(s.as_str()));
        if hit {
            Some(true)
        } else if self.other {
            None
        } else {
            Some(false)
        }
    }
}

/// Whether the config's globs compile; the error names the bad one.
pub fn check_globs(config: &GuardConfig) -> Result<(), String> {
    globs(&config.code_globs)?;
    globs(&config.exempt_globs)?;
    Ok(())
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = GlobBuilder::new(p)
            .case_insensitive(true)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid glob {p:?} in the guard config: {e}"))?;
        b.add(g);
    }
    b.build().map_err(|e| format!("invalid guard globs: {e}"))
}

/// Resolve `.` and `..` without touching the disk (`/a/b/../c` → `/a/c`; `..` above the root
/// stays at the root; a relative path keeps the `..` it cannot resolve: `../../x`).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// Resolve symlinks in the longest existing prefix of an absolute, normalised path; the rest
/// is appended as it is (a file about to be created does not exist yet).
pub fn real(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(r) = std::fs::canonicalize(&existing) {
            let mut out = r;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        scope: Scope,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let project = root.join("proj");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::create_dir_all(root.join("state")).unwrap();
        let scope = Scope::new(&project, &GuardConfig::default(), &[root.join("state")]);
        Fixture {
            _dir: dir,
            root,
            scope,
        }
    }

    #[test]
    fn classes_of_paths() {
        let f = fixture();
        let p = f.root.join("proj");
        let c = |path: &str| f.scope.classify(Path::new(path), &p);
        assert_eq!(c("src/main.rs"), PathClass::Code);
        assert_eq!(c(&format!("{}/src/main.rs", p.display())), PathClass::Code);
        assert_eq!(
            c("src/new/deep/mod.py"),
            PathClass::Code,
            "files not created yet"
        );
        assert_eq!(c("Makefile"), PathClass::Code);
        assert_eq!(c("README.md"), PathClass::Exempt);
        assert_eq!(c("docs/plans/2026-11-24-x.md"), PathClass::Exempt);
        assert_eq!(c(".claude/agents/x.py"), PathClass::Exempt);
        assert_eq!(c("data/config.json"), PathClass::Other);
        assert_eq!(c("Cargo.toml"), PathClass::Other);
        assert_eq!(c("/etc/hosts.py"), PathClass::Outside);
        assert_eq!(c("../elsewhere/x.rs"), PathClass::Outside);
        assert_eq!(c("src/../../elsewhere/x.rs"), PathClass::Outside);
        assert_eq!(c("src/../lib.rs"), PathClass::Code);
        assert_eq!(c(""), PathClass::Other);
    }

    #[test]
    fn case_is_ignored() {
        let f = fixture();
        let p = f.root.join("proj");
        assert_eq!(
            f.scope.classify(Path::new("SRC/MAIN.RS"), &p),
            PathClass::Code
        );
        assert_eq!(
            f.scope.classify(Path::new("NOTES.MD"), &p),
            PathClass::Exempt
        );
    }

    #[test]
    fn symlinks_count_where_they_point() {
        let f = fixture();
        let p = f.root.join("proj");
        std::os::unix::fs::symlink(f.root.join("elsewhere"), p.join("out")).unwrap();
        std::os::unix::fs::symlink(p.join("src"), f.root.join("elsewhere/in")).unwrap();
        assert_eq!(
            f.scope.classify(Path::new("out/x.rs"), &p),
            PathClass::Outside
        );
        let via_link = f.root.join("elsewhere/in/x.rs");
        assert_eq!(f.scope.classify(&via_link, &p), PathClass::Code);
        // The project reached through a symlinked path is still the project.
        std::os::unix::fs::symlink(&p, f.root.join("alias")).unwrap();
        let alias = f.root.join("alias");
        assert_eq!(
            f.scope.classify(Path::new("src/a.rs"), &alias),
            PathClass::Code
        );
    }

    #[test]
    fn offloads_own_files_are_protected_in_every_spelling() {
        let f = fixture();
        let p = f.root.join("proj");
        let c = |path: &Path| f.scope.classify(path, &p);
        assert_eq!(c(&f.root.join("state/events.jsonl")), PathClass::Protected);
        assert_eq!(
            c(Path::new("../state/sessions/x.json")),
            PathClass::Protected
        );
        assert_eq!(c(Path::new(".claude/offload.json")), PathClass::Protected);
        std::os::unix::fs::symlink(f.root.join("state"), p.join("st")).unwrap();
        assert_eq!(c(Path::new("st/totals.json")), PathClass::Protected);
        let spellings = f.scope.protected_spellings(Some(&f.root));
        assert!(spellings.contains(&"~/state".to_string()), "{spellings:?}");
        assert!(spellings.contains(&"$HOME/state".to_string()));
    }

    #[test]
    fn non_utf8_paths_are_judged_by_their_extension() {
        use std::os::unix::ffi::OsStrExt;
        let f = fixture();
        let p = f.root.join("proj");
        let name = std::ffi::OsStr::from_bytes(b"src/caf\xe9.rs");
        assert_eq!(f.scope.classify(Path::new(name), &p), PathClass::Code);
        let md = std::ffi::OsStr::from_bytes(b"caf\xe9.md");
        assert_eq!(f.scope.classify(Path::new(md), &p), PathClass::Exempt);
    }

    #[test]
    fn bad_globs_are_reported_and_fall_back_to_the_defaults() {
        let cfg = GuardConfig {
            code_globs: vec!["src/[".into()],
            ..GuardConfig::default()
        };
        let err = check_globs(&cfg).unwrap_err();
        assert!(err.contains("src/["), "{err}");
        let scope = Scope::new(Path::new("/p"), &cfg, &[]);
        assert_eq!(
            scope.classify(Path::new("src/a.rs"), Path::new("/p")),
            PathClass::Code
        );
        assert!(check_globs(&GuardConfig::default()).is_ok());
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("../../x")), PathBuf::from("../../x"));
    }
}
