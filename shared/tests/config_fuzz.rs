//! Config fuzz: thousands of random config documents (the real keys of the schema, nested at
//! random, with huge, negative, fractional, textual, null, array and object values, raw number
//! tokens JSON cannot hold, mutated and random bytes), each fed to every path that consumes the
//! config: loading (user file and project override), the environment, the guard's attempt scope
//! and the statusline. None may panic. Deterministic: iteration `i` always makes the same
//! document, and a failure prints it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use shared::config::{Config, GuardConfig};
use shared::ledger::{Approval, LastAttempt, SessionSummary};
use shared::outcome::Outcome;
use shared::paths::Paths;
use shared::policy::guard::{AttemptScope, unlocked};
use shared::statusline::{Env, compose};

/// Documents per run; `CONFIG_FUZZ_ITERATIONS` asks for more (or fewer) by hand.
const ITERATIONS: u64 = 2000;

fn iterations() -> u64 {
    std::env::var("CONFIG_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ITERATIONS)
}
const SEED: u64 = 0x0FF1_0AD5_EED5_0001;

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(iteration: u64) -> Rng {
        let mut r = Rng((SEED ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A string that stands for a raw number token (replaced after serialising).
const RAW: &str = "@@raw-number@@";

/// Number tokens serde_json cannot hold or reads oddly.
const RAW_TOKENS: [&str; 12] = [
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "-0",
    "NaN",
    "Infinity",
    "1.0e+",
    "00012",
    "-",
    "0.0000000000000000000000000000000001",
    "18446744073709551616",
];

const STRINGS: [&str; 46] = [
    "1e20",
    "1e15",
    "-1",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "",
    " ",
    "0",
    "0.0",
    "-0",
    "1e-20",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "9999999999999999999y",
    "99999999999999999999999999d",
    "30m",
    "24h",
    "25h",
    "30d",
    "31d",
    "1s",
    "500ms",
    "600",
    "3s",
    "turn",
    "session",
    "enforce",
    "warn",
    "off",
    "read-only",
    "sometimes",
    "{tokens} {total} {sf} {rl} {weekly} {claude} {share}",
    "{",
    "}",
    "{{}}",
    "{unknown}",
    "**/*.{",
    "[",
    "**/*.rs",
    "\u{0}",
    "é\u{202e}",
    "approve fallback",
    "gpt-5.4",
];

fn number(rng: &mut Rng) -> Value {
    match rng.below(20) {
        0 => json!(u64::MAX),
        1 => json!(i64::MIN),
        2 => json!(i64::MAX),
        3 => json!(0),
        4 => json!(1),
        5 => json!(-1),
        6 => json!(1e20),
        7 => json!(-1e20),
        8 => json!(f64::MAX),
        9 => json!(-f64::MAX),
        10 => json!(1e15),
        11 => json!(0.5),
        12 => json!(-0.0),
        13 => json!(10_000),
        14 => json!(10_001),
        15 => json!(86_400),
        16 => json!(rng.next()),
        17 => json!(rng.next() as i64),
        // Any finite double (a non-finite one would serialise as null).
        18 => {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                json!(f)
            } else {
                json!(f64::MIN_POSITIVE)
            }
        }
        _ => json!(rng.below(200) as f64 - 50.0),
    }
}

fn string(rng: &mut Rng) -> Value {
    if rng.chance(10) {
        let len = rng.below(12);
        let s: String = (0..len)
            .map(|_| char::from_u32(rng.below(0x2FF) as u32).unwrap_or('?'))
            .collect();
        Value::String(s)
    } else {
        Value::String((*rng.pick(&STRINGS)).to_owned())
    }
}

/// Any JSON value, nested at most `depth` deep; objects use the schema's keys or none.
fn wild(rng: &mut Rng, schema: &Value, depth: u32) -> Value {
    let kinds = if depth == 0 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => number(rng),
        3 => string(rng),
        4 => Value::String(RAW.into()),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| wild(rng, schema, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                let key = any_key(rng, schema);
                m.insert(key, wild(rng, schema, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// A key of the schema (a section or a setting of any section), or now and then another one.
fn any_key(rng: &mut Rng, schema: &Value) -> String {
    let sections: Vec<&String> = schema.as_object().unwrap().keys().collect();
    let section = *rng.pick(&sections);
    if rng.chance(30) {
        return section.clone();
    }
    if rng.chance(10) {
        return format!("key{}", rng.below(5));
    }
    let keys: Vec<&String> = schema[section].as_object().unwrap().keys().collect();
    (*rng.pick(&keys)).clone()
}

/// A value of the type the default has, with values chosen to hurt.
fn typed(rng: &mut Rng, default: &Value, schema: &Value) -> Value {
    match default {
        Value::Bool(_) => Value::Bool(rng.chance(50)),
        Value::Number(_) => number(rng),
        Value::String(_) => string(rng),
        Value::Array(_) => Value::Array((0..rng.below(5)).map(|_| string(rng)).collect()),
        // A map of strings (headers, resource attributes).
        Value::Object(m) if m.values().all(Value::is_string) => Value::Object(
            (0..rng.below(4))
                .map(|_| (format!("k{}", rng.below(100)), string(rng)))
                .collect(),
        ),
        _ => wild(rng, schema, 2),
    }
}

/// The config's shape, with a value of the right type where the default is `null` (so that
/// typed documents fill optional fields with their type).
fn schema() -> Value {
    let mut s = serde_json::to_value(Config::default()).unwrap();
    let t = &mut s["telemetry"];
    t["endpoint"] = json!("http://collector:4318");
    t["protocol"] = json!("http/protobuf");
    t["timeout_ms"] = json!(10000);
    t["headers"] = json!({"authorization": "x"});
    t["resource_attributes"] = json!({"team": "x"});
    s
}

/// A config document shaped like the schema: sections and keys present at random, values of
/// the right type or not, sections nested where they do not belong.
fn structured(rng: &mut Rng, schema: &Value) -> Value {
    // How often a value is of any type: most documents are well typed (so their numbers reach
    // the checks past the parser), some are not at all.
    let wildness = *rng.pick(&[0, 0, 2, 5, 20, 60]);
    let mut doc = Map::new();
    for (section, keys) in schema.as_object().unwrap() {
        if !rng.chance(80) {
            continue;
        }
        if rng.chance(wildness / 4) {
            doc.insert(section.clone(), wild(rng, schema, 2));
            continue;
        }
        let mut m = Map::new();
        for (key, default) in keys.as_object().unwrap() {
            if !rng.chance(60) {
                continue;
            }
            let v = if rng.chance(wildness) {
                wild(rng, schema, 2)
            } else if key == "mode" && rng.chance(90) {
                json!(rng.pick(&["enforce", "warn", "off"]))
            } else {
                typed(rng, default, schema)
            };
            m.insert(key.clone(), v);
        }
        if rng.chance(wildness / 2) {
            let key = any_key(rng, schema);
            m.insert(key, wild(rng, schema, 3));
        }
        // Globs other than the defaults are compiled on every load, and the default code
        // globs take ~15 ms to in a debug build: a short list keeps thousands of documents fast.
        if section == "guard" {
            m.entry("code_globs")
                .or_insert_with(|| typed(rng, &json!([]), schema));
        }
        doc.insert(section.clone(), Value::Object(m));
    }
    if rng.chance(wildness / 2) {
        let key = any_key(rng, schema);
        doc.insert(key, wild(rng, schema, 3));
    }
    Value::Object(doc)
}

/// The bytes of one document.
fn document(rng: &mut Rng, schema: &Value) -> Vec<u8> {
    let kind = rng.below(10);
    let value = if kind == 0 {
        wild(rng, schema, 3)
    } else {
        structured(rng, schema)
    };
    let quoted = format!("\"{RAW}\"");
    let mut text = value.to_string();
    while let Some(at) = text.find(&quoted) {
        let token = *rng.pick(&RAW_TOKENS);
        text.replace_range(at..at + quoted.len(), token);
    }
    let mut bytes = text.into_bytes();
    match kind {
        // Mutated: cut short, bytes flipped, bytes inserted.
        1 if !bytes.is_empty() => {
            let n = rng.below(bytes.len());
            bytes.truncate(n);
        }
        2 if !bytes.is_empty() => {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
        }
        3 => {
            let at = rng.below(bytes.len() + 1);
            let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
            bytes.splice(at..at, junk);
        }
        // Random bytes.
        4 if rng.chance(50) => {
            bytes = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        }
        _ => {}
    }
    bytes
}

/// A session whose success, failure and approval are stamped `ts`, in this turn or the last.
fn summary(ts: DateTime<Utc>, this_turn: bool) -> SessionSummary {
    let attempt = |outcome: Outcome| LastAttempt {
        attempt: "a1".into(),
        ts,
        turn: if this_turn { 3 } else { 2 },
        outcome,
        model: "gpt-5.3-codex".into(),
        sandbox: "workspace-write".into(),
        work_type: None,
        error: None,
        cwd: None,
    };
    SessionSummary {
        turn: 3,
        last_attempt: Some(attempt(Outcome::Success)),
        last_success: Some(attempt(Outcome::Success)),
        last_write_success: Some(attempt(Outcome::Success)),
        last_failure: Some(attempt(Outcome::Failed)),
        split_outcomes: true,
        approval: (!this_turn).then(|| Approval {
            ts,
            turn: 2,
            source: "prompt".into(),
            terminal: None,
            unverified: None,
        }),
        ..SessionSummary::new("s1")
    }
}

/// Statusline stdin: nothing, or Claude's own limits with numbers chosen to hurt.
fn stdin(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(30) {
        return b"{}".to_vec();
    }
    let mut v = json!({
        "session_id": "s1",
        "rate_limits": {"five_hour": {"used_percentage": number(rng), "resets_at": number(rng)}},
        "context_window": {"total_input_tokens": number(rng), "total_output_tokens": number(rng)},
    });
    if rng.chance(30) {
        v["rate_limits"]["five_hour"]["resets_at"] = string(rng);
    }
    v.to_string().into_bytes()
}

/// Everything that reads the config, on the files in `home` (user) and `project` (override).
fn consume(rng: &mut Rng, home: &Path, project: &Path) {
    let paths = Paths::in_folder(home.to_path_buf());
    let loaded = Config::load_file(&paths.config_file);
    let merged = Config::load_for_project(&paths.config_file, Some(project));
    let mut config = loaded.config.clone();
    let names = [
        "CODEX_TIMEOUT",
        "OFFLOAD_KILL_GRACE",
        "OFFLOAD_RUNS_KEEP",
        "CODEX_FAIL_CLOSED",
    ];
    let mut values: Vec<(&str, String)> = Vec::new();
    for name in names {
        if rng.chance(50) {
            values.push((name, string(rng).as_str().unwrap().to_owned()));
        }
    }
    let _ = config.apply_env_from(|k| values.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()));
    let _ = Config::load(&paths.config_file);
    let now = Utc::now();
    let defaults = GuardConfig::default();
    // (The environment sets runner settings only: `config.guard` is `loaded`'s.)
    let mut guards = vec![&loaded.config.guard];
    if merged.config.guard != loaded.config.guard {
        guards.push(&merged.config.guard);
    }
    for guard in guards {
        let _ = AttemptScope::parse(&guard.attempt_scope);
        // The default globs compile (tested elsewhere) and take ~15 ms to in a debug build.
        if guard.code_globs != defaults.code_globs || guard.exempt_globs != defaults.exempt_globs {
            let _ = shared::policy::scope::check_globs(guard);
        }
        let _ = shared::tamper::config_findings(guard);
        for ts in [
            now,
            now - Duration::hours(1),
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MIN_UTC,
        ] {
            for this_turn in [true, false] {
                let s = summary(ts, this_turn);
                for at in [now, DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
                    let _ = unlocked(Some(&s), guard, at);
                }
            }
        }
        // Any attempt scope, raw: a value that never passed the config check.
        let raw = GuardConfig {
            attempt_scope: string(rng).as_str().unwrap().to_owned(),
            ..guard.clone()
        };
        let _ = unlocked(Some(&summary(now, false)), &raw, now);
    }
    let env = Env {
        paths,
        codex_home: None,
        session_env: Some("s1".into()),
        no_color: rng.chance(50),
        now,
        home: None,
    };
    let composed = compose(&stdin(rng), &env);
    assert!(
        composed.wrap_timeout <= std::time::Duration::from_secs(10),
        "wrap timeout {:?}",
        composed.wrap_timeout
    );
}

#[test]
fn no_config_document_makes_offload_panic() {
    let schema = schema();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    let over = project.join(".claude/offload.json");
    let mut failures = Vec::new();
    let iterations = iterations();
    for i in 0..iterations {
        let mut rng = Rng::new(i);
        let doc = document(&mut rng, &schema);
        let over_doc = if rng.chance(30) {
            Some(document(&mut rng, &schema))
        } else {
            None
        };
        std::fs::write(home.join("config.json"), &doc).unwrap();
        match &over_doc {
            Some(o) => std::fs::write(&over, o).unwrap(),
            None => {
                let _ = std::fs::remove_file(&over);
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| consume(&mut rng, &home, &project)));
        if let Err(panic) = result {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!(
                "iteration {i}: {why}\n  config.json: {:?}\n  .claude/offload.json: {:?}",
                String::from_utf8_lossy(&doc),
                over_doc.as_deref().map(String::from_utf8_lossy)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {iterations} config documents panicked; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

/// The generator makes what it should: documents that load cleanly, ones that warn, and ones
/// that are not JSON at all (a generator that only made broken files would test nothing).
#[test]
fn the_generator_covers_valid_warned_and_broken_documents() {
    let schema = schema();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    let (mut clean, mut warned_number, mut broken) = (0, 0, 0);
    for i in 0..ITERATIONS {
        let doc = document(&mut Rng::new(i), &schema);
        std::fs::write(&file, &doc).unwrap();
        let l = Config::load_file(&file);
        if l.warnings.is_empty() && l.source.is_some() {
            clean += 1;
        } else if l.warnings.iter().any(|w| w.0.contains("(allowed: ")) {
            warned_number += 1;
        } else if !l.warnings.is_empty() {
            broken += 1;
        }
    }
    // Every number field a document holds may be absurd, so the clean share shrinks as the
    // config grows (36 fields now): dozens of clean documents in 2 000 still load every field.
    assert!(
        clean > 30 && warned_number > 300 && broken > 300,
        "clean {clean}, a number warned {warned_number}, broken {broken}"
    );
}
