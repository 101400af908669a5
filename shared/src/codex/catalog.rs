//! The models the installed codex knows, from `codex debug models --bundled`.
//!
//! codex runs a model it has no metadata for anyway, with fallback metadata ("Model metadata for
//! `gpt-5.4` not found. Defaulting to fallback metadata; this can degrade performance and cause
//! issues."): the run works, only worse, and nothing says so but a line in its output. offload's
//! routed models are names in its config; this module tells whether codex knows them, so that
//! `offload doctor`, `offload setup` and the summary line of a run can say so.
//!
//! The catalog is about 1 MB of JSON on one line: `{"models":[{"slug","display_name",
//! "description","visibility":"list"|"hide","priority","upgrade":null|{"model",…},…}]}`. It is
//! read with a deadline and a size cap, and parsed leniently: only `slug`, `visibility`,
//! `priority`, `description` and `upgrade` matter, anything else is ignored, and an entry without
//! a usable slug is skipped. A codex without the command, one that hangs, or output that is not
//! a catalog all mean "could not check" (an `Err` with the reason): never a reason to stop.
//!
//! The catalog is bundled in the codex binary, so it is cached by that binary's identity (its
//! real path, device, inode, size and times, and those of the npm `package.json` beside it) in
//! `codex-models.json` in offload's state folder, with codex's version: `offload run` then pays
//! the ~0.15 s once per codex install. A failure is cached too, for an hour, so a codex that
//! hangs costs one deadline an hour, not one per run.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env;
use crate::process::run_captured;

/// The most of `codex debug models --bundled` read (16 MiB; 0.171.0 prints 0.9 MB).
pub const MAX_BYTES: usize = 16 << 20;
/// Models kept from one catalog.
const MAX_MODELS: usize = 1000;
/// The longest slug taken as one (longer: the entry is skipped).
const MAX_SLUG: usize = 200;
/// Descriptions are cut to this many characters.
const MAX_DESCRIPTION: usize = 200;
/// The cache file in the state folder.
pub const CACHE_FILE: &str = "codex-models.json";
/// The most of the cache file read.
const MAX_CACHE_BYTES: u64 = 8 << 20;
/// Catalogs of this many codex binaries are kept.
const MAX_ENTRIES: usize = 8;
/// How long a failure to read the catalog is remembered.
const FAILURE_TTL: Duration = Duration::from_secs(3600);

/// One model of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub slug: String,
    /// `list` (shown in codex's picker) or `hide`; absent in a catalog that has no such field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Order in codex's picker: lower first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The model codex suggests moving to from this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<String>,
}

impl Model {
    /// Offered to users: listed, or from a catalog that does not say.
    pub fn listed(&self) -> bool {
        matches!(self.visibility.as_deref(), None | Some("list"))
    }
}

/// What the installed codex knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// codex's version (`0.171.0`), when `--version` told it.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub models: Vec<Model>,
}

impl Catalog {
    pub fn get(&self, slug: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.slug == slug)
    }

    /// Whether codex has metadata for `slug` (listed or hidden alike).
    pub fn knows(&self, slug: &str) -> bool {
        self.get(slug).is_some()
    }

    /// The models codex offers (listed), in its order: by priority, then as written.
    pub fn candidates(&self) -> Vec<&Model> {
        let mut out: Vec<&Model> = self.models.iter().filter(|m| m.listed()).collect();
        out.sort_by_key(|m| m.priority.unwrap_or(i64::MAX));
        out
    }

    /// `codex 0.171.0`, or `codex` when the version is not known (or not one: a version read
    /// back from the cache is shown only as printable ASCII).
    pub fn codex(&self) -> String {
        match self
            .version
            .as_deref()
            .filter(|v| !v.is_empty() && v.len() <= 40 && v.chars().all(|c| c.is_ascii_graphic()))
        {
            Some(v) => format!("codex {v}"),
            None => "codex".into(),
        }
    }
}

/// The models of a `codex debug models --bundled` answer, leniently (see the module docs).
/// `Err` says why it is not a catalog: too large, not JSON, no `models` list, no model in it.
pub fn parse(bytes: &[u8]) -> Result<Vec<Model>, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the catalog is larger than {} MiB",
            MAX_BYTES >> 20
        ));
    }
    if bytes.trim_ascii().is_empty() {
        return Err("the catalog is empty".into());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        format!("the catalog is not JSON ({e}; it starts {head:?})")
    })?;
    let list = match &value {
        Value::Object(o) => o.get("models").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    }
    .ok_or("the catalog has no \"models\" list")?;
    let mut seen = HashSet::new();
    let mut models = Vec::new();
    for entry in list {
        if models.len() == MAX_MODELS {
            break;
        }
        if let Some(m) = model(entry)
            && seen.insert(m.slug.clone())
        {
            models.push(m);
        }
    }
    if models.is_empty() {
        return Err("the catalog lists no models".into());
    }
    Ok(models)
}

/// One entry, or `None` when it has no usable slug.
fn model(entry: &Value) -> Option<Model> {
    let slug = name(entry.get("slug")?)?;
    let visibility = entry
        .get("visibility")
        .and_then(Value::as_str)
        .map(|v| v.trim().to_ascii_lowercase().chars().take(32).collect());
    let priority = entry.get("priority").and_then(|p| match p {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let description = entry
        .get("description")
        .and_then(Value::as_str)
        .map(one_line)
        .unwrap_or_default();
    let upgrade = entry.get("upgrade").and_then(|u| match u {
        Value::Object(o) => o.get("model").or_else(|| o.get("slug")).and_then(name),
        v => name(v),
    });
    Some(Model {
        slug,
        visibility,
        priority,
        description,
        upgrade,
    })
}

/// A model name as codex spells it: a string, trimmed, not empty, not too long, no control
/// characters.
fn name(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty() && s.chars().count() <= MAX_SLUG && !s.chars().any(char::is_control))
        .then(|| s.to_owned())
}

/// Whitespace runs made one space, at most [`MAX_DESCRIPTION`] characters.
fn one_line(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= MAX_DESCRIPTION {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_DESCRIPTION - 1).collect();
    cut.push('…');
    cut
}

/// The version in `codex --version`'s answer (`codex-cli 0.171.0` → `0.171.0`).
pub fn version_of(answer: &str) -> Option<String> {
    answer
        .lines()
        .next()?
        .split_whitespace()
        .rfind(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| w.len() <= 40 && w.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
}

/// The model codex says it has no metadata for, from the message it prints then (an `error`
/// item in `--json` output, a line on stderr otherwise): "Model metadata for `gpt-5.4` not
/// found. Defaulting to fallback metadata; …".
pub fn fallback_model(message: &str) -> Option<&str> {
    const START: &str = "Model metadata for `";
    let rest = &message[message.find(START)? + START.len()..];
    let end = rest.find('`')?;
    rest[end..]
        .starts_with("` not found")
        .then(|| &rest[..end])
        .filter(|m| !m.is_empty())
}

/// Ask `bin` for its catalog and its version, each within `wait`. `codex_home`: the
/// `CODEX_HOME` to give it (else it inherits this process's).
pub fn fetch(bin: &Path, codex_home: Option<&Path>, wait: Duration) -> Result<Catalog, String> {
    fetch_with(bin, codex_home, wait, None, &|b| Command::new(b))
}

/// How a question to codex is started: `Command::new(bin)`, or through a supervisor (`offload
/// run` asks through its reaper, so that nothing the question starts outlives a killed run).
pub type Starter<'a> = &'a dyn Fn(&Path) -> Command;

/// [`fetch`], with codex's version when the caller knows it already.
fn fetch_with(
    bin: &Path,
    codex_home: Option<&Path>,
    wait: Duration,
    version: Option<String>,
    start: Starter<'_>,
) -> Result<Catalog, String> {
    let tag = probe_tag();
    let command = |args: &[&str]| {
        let mut cmd = start(bin);
        cmd.args(args).env(env::OFFLOAD_PROBE, &tag);
        if let Some(home) = codex_home {
            cmd.env(env::CODEX_HOME, home);
        }
        cmd
    };
    let ran = run_captured(command(&["debug", "models", "--bundled"]), wait, MAX_BYTES);
    // Whatever the question left running (a daemon outside its group) goes with it.
    crate::process::end_tagged(env::OFFLOAD_PROBE, &tag);
    let ran = ran.map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if let Some(why) = ran.failure(MAX_BYTES) {
        return Err(format!("`codex debug models --bundled`: {why}"));
    }
    let models = parse(&ran.stdout)?;
    let version = version.or_else(|| {
        let ran = run_captured(command(&["--version"]), wait, 4096);
        crate::process::end_tagged(env::OFFLOAD_PROBE, &tag);
        ran.ok()
            .filter(|r| r.failure(4096).is_none())
            .and_then(|r| version_of(&String::from_utf8_lossy(&r.stdout)))
    });
    Ok(Catalog { version, models })
}

/// The tag ([`env::OFFLOAD_PROBE`]) of the catalog questions a process asks: its pid and start
/// time (so a dead run's can be named from its running marker).
pub fn probe_tag() -> String {
    probe_tag_of(
        std::process::id(),
        crate::process::start_time(std::process::id()).unwrap_or(0),
    )
}

/// [`probe_tag`] of process `pid` that started at `start`.
pub fn probe_tag_of(pid: u32, start: u64) -> String {
    format!("{pid}-{start}")
}

/// The catalog of `bin`: from the cache in `state_dir` when it holds this very binary's, else
/// fetched (see [`fetch`]) and cached. The cache is written only into a state folder that
/// exists.
pub fn cached(
    state_dir: &Path,
    bin: &Path,
    codex_home: Option<&Path>,
    wait: Duration,
) -> Result<Catalog, String> {
    cached_with(state_dir, bin, codex_home, wait, &|b| Command::new(b))
}

/// [`cached`], asking codex through `start`.
pub fn cached_with(
    state_dir: &Path,
    bin: &Path,
    codex_home: Option<&Path>,
    wait: Duration,
    start: Starter<'_>,
) -> Result<Catalog, String> {
    let Some(key) = identity(bin) else {
        return fetch_with(bin, codex_home, wait, None, start);
    };
    let now = Utc::now();
    if let Some(e) = read_cache(state_dir)
        .entries
        .into_iter()
        .find(|e| e.key == key)
    {
        match (e.catalog, e.error) {
            (Some(c), _) => return Ok(c),
            (None, Some(why))
                if now
                    .signed_duration_since(e.checked_at)
                    .to_std()
                    .is_ok_and(|age| age < FAILURE_TTL) =>
            {
                return Err(why);
            }
            _ => {}
        }
    }
    let fetched = fetch_with(bin, codex_home, wait, None, start);
    store(state_dir, &key, &fetched);
    fetched
}

/// [`fetch`], and the answer cached in `state_dir` when given (for `offload doctor`, which
/// always asks codex itself, and knows its version already when `version` is given).
pub fn refresh(
    state_dir: Option<&Path>,
    bin: &Path,
    codex_home: Option<&Path>,
    wait: Duration,
    version: Option<&str>,
) -> Result<Catalog, String> {
    let fetched = fetch_with(bin, codex_home, wait, version.map(str::to_owned), &|b| {
        Command::new(b)
    });
    if let (Some(dir), Some(key)) = (state_dir, identity(bin)) {
        store(dir, &key, &fetched);
    }
    fetched
}

/// What tells one codex binary from another: its real path, device, inode, size and times,
/// and those of the `package.json` of the npm package it is the launcher of, if any.
fn identity(bin: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(bin).ok()?;
    let sig = |m: &std::fs::Metadata| {
        format!(
            "{}:{} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
    };
    let meta = std::fs::metadata(&real).ok()?;
    let mut key = format!("{} {}", real.display(), sig(&meta));
    if let Some(pkg) = real
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("package.json"))
        && let Ok(m) = std::fs::metadata(&pkg)
        && m.is_file()
    {
        key.push_str(&format!(" package.json {}", sig(&m)));
    }
    Some(key)
}

#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    #[serde(default)]
    entries: Vec<Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    key: String,
    checked_at: DateTime<Utc>,
    #[serde(default)]
    catalog: Option<Catalog>,
    #[serde(default)]
    error: Option<String>,
}

/// The cache, or an empty one when it is missing, too large or unreadable.
fn read_cache(state_dir: &Path) -> CacheFile {
    crate::fsutil::read_regular(&state_dir.join(CACHE_FILE), MAX_CACHE_BYTES)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Put `fetched` first in the cache under `key` (atomically; a failure to write only costs the
/// next run a fetch).
fn store(state_dir: &Path, key: &str, fetched: &Result<Catalog, String>) {
    if !state_dir.is_dir() {
        return;
    }
    let mut cache = read_cache(state_dir);
    cache.entries.retain(|e| e.key != key);
    let (catalog, error) = match fetched {
        Ok(c) => (Some(c.clone()), None),
        Err(e) => (None, Some(e.clone())),
    };
    cache.entries.insert(
        0,
        Entry {
            key: key.to_owned(),
            checked_at: Utc::now(),
            catalog,
            error,
        },
    );
    cache.entries.truncate(MAX_ENTRIES);
    if let Ok(bytes) = serde_json::to_vec(&cache) {
        let _ = crate::fsutil::write_atomic(&state_dir.join(CACHE_FILE), &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn real() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/codex/debug-models-bundled.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_real_catalog_reads_as_its_models_in_pickers_order() {
        let models = parse(&real()).unwrap();
        assert_eq!(models.len(), 14);
        let c = Catalog {
            version: Some("0.171.0".into()),
            models,
        };
        let sol = c.get("gpt-6.2-sol").unwrap();
        assert_eq!(
            (
                sol.visibility.as_deref(),
                sol.priority,
                sol.description.as_str()
            ),
            (
                Some("list"),
                Some(1),
                "Fast, go-to model for coding and everyday work."
            )
        );
        assert_eq!(
            c.get("gpt-5.5").unwrap().upgrade.as_deref(),
            Some("gpt-6-sol")
        );
        assert_eq!(c.get("gpt-6.2-sol").unwrap().upgrade, None);
        // Hidden models are known (codex has their metadata) but not offered.
        assert!(c.knows("codex-auto-review"));
        let offered: Vec<&str> = c.candidates().iter().map(|m| m.slug.as_str()).collect();
        assert_eq!(
            offered,
            [
                "gpt-6.2-sol",
                "gpt-6.2-astra",
                "gpt-6.1-terra",
                "gpt-6.1-sol",
                "gpt-6-astra",
                "gpt-6-sol",
                "gpt-6-luna",
                "gpt-5.6-sol",
                "gpt-5.6-terra",
                "gpt-5.6-luna",
                "gpt-5.5"
            ]
        );
        // offload's default names are not in it: codex runs them on fallback metadata.
        assert!(!c.knows("gpt-5.4") && !c.knows("gpt-5.3-codex"));
        assert_eq!(c.codex(), "codex 0.171.0");
        let odd = Catalog {
            version: Some("1.0\u{1b}[2J".into()),
            models: Vec::new(),
        };
        assert_eq!(odd.codex(), "codex");
    }

    #[test]
    fn entries_are_read_leniently_and_bad_ones_skipped() {
        let text = r#"{"models":[
            {"slug":"a","priority":"3","visibility":" LIST ","upgrade":"b","description":"two\n  lines"},
            {"slug":"b","priority":1.9,"visibility":7,"upgrade":{"slug":"c"}},
            {"slug":"","priority":0},
            {"slug":42},
            {"priority":0},
            "not an object",
            null,
            {"slug":"a","description":"a second a is ignored"},
            {"slug":"c","priority":1e300,"visibility":"hide","upgrade":[1]},
            {"slug":"bad\u0007slug"}
        ],"extra":{"ignored":true}}"#;
        let models = parse(text.as_bytes()).unwrap();
        let slugs: Vec<&str> = models.iter().map(|m| m.slug.as_str()).collect();
        assert_eq!(slugs, ["a", "b", "c"]);
        assert_eq!(models[0].priority, Some(3));
        assert_eq!(models[0].description, "two lines");
        assert_eq!(models[0].upgrade.as_deref(), Some("b"));
        assert_eq!(models[1].priority, Some(1));
        assert!(models[1].listed(), "no usable visibility: listed");
        assert_eq!(models[1].upgrade.as_deref(), Some("c"));
        assert_eq!(models[2].priority, Some(i64::MAX));
        assert!(!models[2].listed());
        assert_eq!(models[2].upgrade, None);
        // A bare list is taken too.
        assert_eq!(parse(br#"[{"slug":"x"}]"#).unwrap()[0].slug, "x");
    }

    #[test]
    fn garbage_empty_and_huge_answers_are_not_catalogs() {
        for (bytes, why) in [
            (&b""[..], "empty"),
            (b"  \n", "empty"),
            (b"WARNING: something\n{\"models\":[]}", "not JSON"),
            (b"\xff\xfe\x00garbage", "not JSON"),
            (b"{\"models\":[]}", "lists no models"),
            (b"{\"models\":{\"slug\":\"a\"}}", "no \"models\" list"),
            (b"{\"data\":[]}", "no \"models\" list"),
            (b"42", "no \"models\" list"),
            (b"{\"models\":[{\"slug\":\"a\"}", "not JSON"),
        ] {
            let e = parse(bytes).unwrap_err();
            assert!(e.contains(why), "{:?}: {e}", String::from_utf8_lossy(bytes));
        }
        // Nested too deep for the parser: an error, not a crash.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).unwrap_err().contains("not JSON"));
        // Larger than the cap: refused unread.
        let huge = vec![b' '; MAX_BYTES + 1];
        assert!(parse(&huge).unwrap_err().contains("larger than 16 MiB"));
        // Many models and long texts: bounded.
        let many: Vec<Value> = (0..5000)
            .map(|i| serde_json::json!({"slug": format!("m{i}"), "description": "d".repeat(1000)}))
            .collect();
        let models =
            parse(&serde_json::to_vec(&serde_json::json!({"models": many})).unwrap()).unwrap();
        assert_eq!(models.len(), MAX_MODELS);
        assert!(
            models
                .iter()
                .all(|m| m.description.chars().count() == MAX_DESCRIPTION)
        );
        let long =
            serde_json::json!({"models":[{"slug": "s".repeat(MAX_SLUG + 1)}, {"slug":"ok"}]});
        assert_eq!(parse(long.to_string().as_bytes()).unwrap()[0].slug, "ok");
    }

    #[test]
    fn versions_and_fallback_messages() {
        assert_eq!(
            version_of("codex-cli 0.171.0\n").as_deref(),
            Some("0.171.0")
        );
        assert_eq!(version_of("codex-cli\n"), None);
        assert_eq!(version_of(""), None);
        let real = "Model metadata for `gpt-5.4` not found. Defaulting to fallback metadata; this can degrade performance and cause issues.";
        assert_eq!(fallback_model(real), Some("gpt-5.4"));
        assert_eq!(fallback_model("Model metadata for `` not found"), None);
        assert_eq!(fallback_model("Model metadata for `x"), None);
        assert_eq!(fallback_model("Reconnecting... 1/5"), None);
        assert_eq!(fallback_model("Model metadata for `x` found"), None);
    }

    /// A stand-in codex that answers `debug models --bundled` from a file and counts its runs.
    fn fake_codex(dir: &Path, catalog: &str) -> std::path::PathBuf {
        let bin = dir.join("codex");
        std::fs::write(dir.join("catalog.json"), catalog).unwrap();
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{0}/calls'\ncase \"$1\" in\n  --version) echo 'codex-cli 9.9.9' ;;\n  debug) cat '{0}/catalog.json' ;;\n  *) exit 2 ;;\nesac\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    fn calls(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("calls"))
            .map(|s| s.lines().filter(|l| l.starts_with("debug")).count())
            .unwrap_or(0)
    }

    #[test]
    fn the_catalog_is_fetched_once_per_codex_binary() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let bin = fake_codex(
            dir.path(),
            r#"{"models":[{"slug":"m1","visibility":"list"}]}"#,
        );
        let wait = Duration::from_secs(10);
        let c = cached(&state, &bin, None, wait).unwrap();
        assert_eq!((c.version.as_deref(), c.models.len()), (Some("9.9.9"), 1));
        assert_eq!(cached(&state, &bin, None, wait).unwrap(), c);
        assert_eq!(
            calls(dir.path()),
            1,
            "the second answer came from the cache"
        );
        // Another binary at the same path (an upgrade): asked again.
        std::thread::sleep(Duration::from_millis(20));
        let text = std::fs::read_to_string(&bin).unwrap();
        std::fs::write(&bin, format!("{text}# upgraded\n")).unwrap();
        std::fs::write(
            dir.path().join("catalog.json"),
            r#"{"models":[{"slug":"m2"}]}"#,
        )
        .unwrap();
        let c = cached(&state, &bin, None, wait).unwrap();
        assert!(c.knows("m2") && !c.knows("m1"));
        assert_eq!(calls(dir.path()), 2);
        // A failure is remembered too (for an hour), so a broken codex is not asked each run.
        std::fs::write(dir.path().join("catalog.json"), "garbage").unwrap();
        std::fs::write(&bin, format!("{text}# broken\n")).unwrap();
        let e = cached(&state, &bin, None, wait).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        assert_eq!(cached(&state, &bin, None, wait).unwrap_err(), e);
        assert_eq!(calls(dir.path()), 3);
        // A damaged cache file is only a miss.
        std::fs::write(state.join(CACHE_FILE), "{{{").unwrap();
        assert!(cached(&state, &bin, None, wait).is_err());
        assert_eq!(calls(dir.path()), 4);
        // doctor's refresh always asks.
        assert!(refresh(Some(&state), &bin, None, wait, Some("1.0.0")).is_err());
        assert_eq!(calls(dir.path()), 5);
    }

    #[test]
    fn no_state_folder_no_cache_and_a_hung_codex_costs_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_codex(dir.path(), r#"{"models":[{"slug":"m1"}]}"#);
        let missing = dir.path().join("no-state");
        assert!(cached(&missing, &bin, None, Duration::from_secs(10)).is_ok());
        assert!(
            !missing.exists(),
            "the state folder is not created for a cache"
        );
        let hang = dir.path().join("hang");
        std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
        let start = std::time::Instant::now();
        let e = fetch(&hang, None, Duration::from_millis(300)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(e.contains("no answer within"), "{e}");
        let e = fetch(&dir.path().join("absent"), None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }
}
