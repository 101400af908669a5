//! What a same-user process can do to offload that the guard cannot prevent, made visible: the
//! statusline shows a short red flag within one render, and `offload doctor` names each finding.
//!
//! Findings:
//! - **unwired**: no settings file Claude Code reads (managed, user, project, local) runs
//!   offload's PreToolUse hook, and no enabled offload plugin does;
//! - **hooks off**: `disableAllHooks` in a user, project or local settings file, with no managed
//!   drop-in of offload's to outlast it; or an `env` entry there switching offload off
//!   (`OFFLOAD_MODE=off`), moving its state (`OFFLOAD_HOME`, `HOME`…), loading code into the
//!   hook (`LD_PRELOAD`…) or changing how Claude Code runs hooks (`CLAUDE_CODE_SHELL_PREFIX`,
//!   `CLAUDE_CODE_SIMPLE`…, see [`crate::settings::flags_hooks_env`]);
//! - **settings unreadable** or **rejected**: a user, project or local settings file that is not
//!   JSON, or does not fit Claude Code's settings schema for its well-known keys
//!   ([`crate::settings::schema_problems`]): Claude Code ignores the whole file, hooks included;
//! - **hook missing**: the hook command a settings file names is not an executable file;
//! - **binary replaced**: the installed hook or statusline is not the file `offload setup`
//!   recorded (size, modification time, inode: `cp /bin/true` over it changes all three);
//! - **forged record**: the session's approval has a source offload never writes (only `prompt`
//!   and `terminal`), or its newest attempt succeeded with a codex that is not the configured one.
//!
//! Cheap enough for the statusline's budget: the answer is cached in the state folder under a
//! key of the settings files' sizes and modification times (a few `stat`s), and recomputed only
//! when one of them changed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ledger::SessionSummary;

/// The settings files Claude Code reads for a session in `project` (managed first).
pub fn settings_files(
    home: Option<&Path>,
    project: Option<&Path>,
    managed: &Path,
) -> Vec<(PathBuf, bool)> {
    let mut out = vec![(managed.join("managed-settings.json"), true)];
    let mut dropins: Vec<PathBuf> = std::fs::read_dir(managed.join("managed-settings.d"))
        .into_iter()
        .flatten()
        .flatten()
        .take(64)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    dropins.sort();
    out.extend(dropins.into_iter().map(|p| (p, true)));
    if let Some(h) = home {
        out.push((h.join(".claude/settings.json"), false));
    }
    if let Some(p) = project {
        out.push((p.join(".claude/settings.json"), false));
        out.push((p.join(".claude/settings.local.json"), false));
    }
    out
}

/// Claude Code's managed settings folder (`OFFLOAD_MANAGED_DIR`, else the platform's).
pub fn managed_dir() -> PathBuf {
    if let Some(d) = crate::env::var(crate::env::OFFLOAD_MANAGED_DIR) {
        return PathBuf::from(d);
    }
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/ClaudeCode")
    } else {
        PathBuf::from("/etc/claude-code")
    }
}

/// The findings about offload's wiring in these settings files.
pub fn wiring_findings(files: &[(PathBuf, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut wired = false;
    let mut managed_ours = false;
    let mut disabled = None;
    for (path, managed) in files {
        let Some(text) = crate::fsutil::read_regular_text(path, 4 << 20) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            if !managed {
                out.push(format!(
                    "{} is not valid JSON: Claude Code runs none of its hooks",
                    path.display()
                ));
            }
            continue;
        };
        if let Some(problem) = crate::settings::schema_problems(&v).first() {
            if !managed {
                out.push(format!(
                    "{} does not fit Claude Code's settings schema ({problem}): Claude Code \
                     ignores the whole file, hooks included",
                    path.display()
                ));
            }
            continue;
        }
        let ours = pre_tool_use_hooks(&v);
        for cmd in &ours {
            let bin = crate::settings::shell_words(cmd)
                .and_then(|w| w.into_iter().next())
                .unwrap_or_default();
            let ok = std::fs::metadata(&bin).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if !ok {
                out.push(format!(
                    "the hook {bin} named in {} is missing or not executable",
                    path.display()
                ));
            }
        }
        wired |= !ours.is_empty();
        managed_ours |= *managed && !ours.is_empty();
        if v.get("enabledPlugins")
            .and_then(Value::as_object)
            .is_some_and(|p| {
                p.iter()
                    .any(|(k, on)| k.starts_with("offload") && on == &Value::Bool(true))
            })
        {
            wired = true;
        }
        if !managed {
            if v.get("disableAllHooks") == Some(&Value::Bool(true)) {
                disabled = Some(path.clone());
            }
            let env = &v["env"];
            if env["OFFLOAD_MODE"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("off"))
            {
                out.push(format!("{} sets OFFLOAD_MODE=off", path.display()));
            }
            if env.get("OFFLOAD_HOME").is_some() {
                out.push(format!("{} sets OFFLOAD_HOME", path.display()));
            }
            for key in env.as_object().into_iter().flatten().map(|(k, _)| k) {
                if crate::settings::loads_code_env(key) {
                    out.push(format!(
                        "{} sets {key} for the session (loads code into offload's hook)",
                        path.display()
                    ));
                } else if crate::settings::moves_home_env(key) {
                    out.push(format!(
                        "{} sets {key} for the session (moves offload's config and state)",
                        path.display()
                    ));
                } else if crate::settings::flags_hooks_env(key) {
                    out.push(format!(
                        "{} sets {key} for the session (changes how Claude Code runs hooks, or \
                         whether)",
                        path.display()
                    ));
                }
            }
        }
    }
    if let Some(p) = disabled
        && !managed_ours
    {
        out.push(format!("{} sets disableAllHooks", p.display()));
    }
    if !wired {
        out.insert(
            0,
            "offload's hooks are not wired in any settings file".into(),
        );
    }
    out
}

/// The hook commands of offload's in a settings file's PreToolUse groups.
fn pre_tool_use_hooks(v: &Value) -> Vec<String> {
    v["hooks"]["PreToolUse"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().into_iter().flatten())
        .filter(|e| crate::settings::is_our_hook(e))
        .filter_map(|e| e["command"].as_str().map(str::to_owned))
        .collect()
}

/// The findings about the session's records.
pub fn ledger_findings(session: Option<&SessionSummary>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = session else {
        return out;
    };
    if let Some(a) = &s.approval
        && a.source != "prompt"
        && a.source != "terminal"
    {
        out.push(format!(
            "an approval offload did not write (source {:?})",
            a.source
        ));
    }
    if let Some((turn, ts, what)) = &s.tamper {
        out.push(format!(
            "in turn {turn}, at {} UTC, a command Claude ran changed offload's own records or config: {what}",
            ts.format("%H:%M:%S")
        ));
    }
    if let Some(a) = &s.approval
        && a.turn == s.turn
        && let Some(why) = &a.unverified
    {
        out.push(format!(
            "an approval from a terminal offload cannot vouch for, at {} UTC ({why}); if you did not \
             give it, it holds only for this turn: end the turn (Esc) and tell Claude",
            a.ts.format("%H:%M:%S")
        ));
    }
    if s.split_outcomes
        && let Some(l) = &s.last_attempt
        && l.outcome.is_success()
        && s.last_success
            .as_ref()
            .is_none_or(|w| w.attempt != l.attempt)
    {
        out.push(format!(
            "attempt {} succeeded with a codex that is not the configured one",
            l.attempt
        ));
    }
    out
}

/// The findings about offload's own config: the guard switched off (`mode: off`), or code no
/// longer guarded (`exempt_globs` that exempt, or `code_globs` that leave out, common code
/// files). Visible, whoever wrote it: the user who chose it knows why the flag is there.
pub fn config_findings(guard: &crate::config::GuardConfig) -> Vec<String> {
    let mut out = Vec::new();
    if guard.mode == crate::config::Mode::Off {
        out.push("offload's config turns the guard off (guard.mode \"off\")".to_string());
    }
    let defaults = crate::config::GuardConfig::default();
    if guard.exempt_globs != defaults.exempt_globs || guard.code_globs != defaults.code_globs {
        let project = Path::new("/offload-probe");
        let scope = crate::policy::scope::Scope::new(project, guard, &[]);
        let unguarded: Vec<&str> = ["src/lib.rs", "main.py", "app/index.ts", "cmd/x/main.go"]
            .into_iter()
            .filter(|f| {
                !matches!(
                    scope.classify(Path::new(f), project),
                    crate::policy::scope::PathClass::Code
                )
            })
            .collect();
        if !unguarded.is_empty() {
            out.push(format!(
                "offload's config leaves code unguarded (guard.exempt_globs / code_globs: {} not guarded)",
                unguarded.join(", ")
            ));
        }
    }
    out
}

/// An installed binary's identity as setup saw it: size, modification time, inode, and the
/// inode's change time, which a process can set back for the modification time (`utime`) but
/// never for the change time, so bytes written in place show even when size, inode and
/// modification time are kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BinSig {
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    /// Absent in records of an older setup (then not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime_ns: Option<i128>,
}

impl BinSig {
    /// Whether `now` is the file this record describes (the change time compared when the
    /// record has one).
    pub fn recorded_matches(&self, now: &BinSig) -> bool {
        self.size == now.size
            && self.mtime_ns == now.mtime_ns
            && self.ino == now.ino
            && (self.ctime_ns.is_none() || self.ctime_ns == now.ctime_ns)
    }
}

/// The identity of the file at `path` now.
pub fn bin_sig(path: &Path) -> Option<BinSig> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(BinSig {
        size: m.len(),
        mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        ino: m.ino(),
        ctime_ns: Some(m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128),
    })
}

/// The installed binaries that changed since `offload setup` recorded them (in
/// `setup.json`).
pub fn binary_findings(state_dir: &Path) -> Vec<String> {
    let Some(text) = crate::fsutil::read_regular_text(&state_dir.join("setup.json"), 4 << 20)
    else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, sig) in v["binaries"].as_object().into_iter().flatten() {
        let Ok(sig) = serde_json::from_value::<BinSig>(sig.clone()) else {
            continue;
        };
        if !bin_sig(Path::new(path)).is_some_and(|now| sig.recorded_matches(&now)) {
            out.push(format!(
                "{path} is not the binary offload setup installed (replaced or changed since; run `offload setup` after an upgrade)"
            ));
        }
    }
    out
}

/// The identity setup recorded of the binary at `path` (`setup.json` in the state folder), if
/// any.
pub fn recorded_sig(state_dir: &Path, path: &Path) -> Option<BinSig> {
    let text = crate::fsutil::read_regular_text(&state_dir.join("setup.json"), 4 << 20)?;
    let v: Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(v["binaries"][path.display().to_string()].clone()).ok()
}

/// The statusline's flag for these findings: short, the first finding's kind and how many more.
pub fn flag(findings: &[String]) -> Option<String> {
    let first = findings.first()?;
    let kind = if first.contains("not wired") {
        "hooks unwired"
    } else if first.contains("disableAllHooks") {
        "hooks disabled"
    } else if first.contains("OFFLOAD_") || first.contains("for the session (") {
        "switched off in settings"
    } else if first.contains("missing or not executable") {
        "hook missing"
    } else if first.contains("not the binary offload setup installed") {
        "binary replaced"
    } else if first.contains("not valid JSON") {
        "settings unreadable"
    } else if first.contains("does not fit Claude Code's settings schema") {
        "settings rejected"
    } else if first.contains("offload's config turns the guard off") {
        "guard off (config)"
    } else if first.contains("offload's config leaves code unguarded") {
        "code unguarded (config)"
    } else if first.contains("a command Claude ran changed offload") {
        "records tampered"
    } else if first.contains("cannot vouch for") {
        "unverified approval"
    } else {
        "forged record"
    };
    let more = if findings.len() > 1 {
        format!(" +{}", findings.len() - 1)
    } else {
        String::new()
    };
    Some(format!("⚠ offload: {kind}{more} (offload doctor)"))
}

/// A cache key of the files' sizes and modification times.
fn key(files: &[(PathBuf, bool)]) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut k = String::new();
    for (p, _) in files {
        match std::fs::metadata(p) {
            Ok(m) => k.push_str(&format!(
                "{}:{}:{}.{};",
                p.display(),
                m.len(),
                m.mtime(),
                m.mtime_nsec()
            )),
            Err(_) => k.push_str(&format!("{}:-;", p.display())),
        }
    }
    k
}

/// The wiring findings, from the cache in `state_dir` while the settings files are unchanged.
pub fn cached_wiring_findings(state_dir: &Path, files: &[(PathBuf, bool)]) -> Vec<String> {
    let cache = state_dir.join("tamper-cache.json");
    let k = key(files);
    if let Some(text) = crate::fsutil::read_regular_text(&cache, 1 << 20)
        && let Ok(v) = serde_json::from_str::<Value>(&text)
        && v["key"].as_str() == Some(k.as_str())
        && let Some(list) = v["findings"].as_array()
    {
        return list
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
    }
    let found = wiring_findings(files);
    let _ = crate::fsutil::write_atomic(
        &cache,
        serde_json::json!({"key": k, "findings": found})
            .to_string()
            .as_bytes(),
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, user: Value, managed: Option<Value>) -> Vec<(PathBuf, bool)> {
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::write(home.join(".claude/settings.json"), user.to_string()).unwrap();
        let m = dir.join("managed");
        let _ = std::fs::remove_dir_all(&m);
        if let Some(v) = managed {
            std::fs::create_dir_all(m.join("managed-settings.d")).unwrap();
            std::fs::write(m.join("managed-settings.d/50-offload.json"), v.to_string()).unwrap();
        }
        settings_files(Some(&home), None, &m)
    }

    /// An executable hook in `dir`, and settings that wire it.
    fn wired_hook(dir: &Path) -> (PathBuf, Value) {
        use std::os::unix::fs::PermissionsExt;
        let hook = dir.join("offload-hook");
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wired = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": hook.display().to_string()}]}]}});
        (hook, wired)
    }

    #[test]
    fn each_way_of_switching_the_guard_off_is_found() {
        let t = tempfile::tempdir().unwrap();
        let (hook, wired) = wired_hook(t.path());
        assert!(wiring_findings(&files(t.path(), wired.clone(), None)).is_empty());
        let mut off = wired.clone();
        off["disableAllHooks"] = Value::Bool(true);
        let f = wiring_findings(&files(t.path(), off.clone(), None));
        assert!(f.iter().any(|x| x.contains("disableAllHooks")), "{f:?}");
        // A managed drop-in of offload's outlasts it.
        assert!(wiring_findings(&files(t.path(), off, Some(wired.clone()))).is_empty());
        let f = wiring_findings(&files(t.path(), serde_json::json!({}), None));
        assert!(f[0].contains("not wired"), "{f:?}");
        let mut env = wired.clone();
        env["env"] = serde_json::json!({"OFFLOAD_MODE": "off"});
        assert!(wiring_findings(&files(t.path(), env, None))[0].contains("OFFLOAD_MODE"));
        for key in ["LD_PRELOAD", "HOME", "XDG_CONFIG_HOME", "BASH_ENV"] {
            let mut env = wired.clone();
            env["env"] = serde_json::json!({key: "/tmp/x"});
            let found = wiring_findings(&files(t.path(), env, None));
            assert!(found[0].contains(key), "{key}: {found:?}");
            assert_eq!(
                flag(&found).unwrap(),
                "⚠ offload: switched off in settings (offload doctor)"
            );
        }
        // What changes how Claude Code runs hooks, or whether (a red team's round 7).
        for key in [
            "CLAUDE_CODE_SHELL_PREFIX",
            "CLAUDE_CODE_SIMPLE",
            "CLAUDE_CODE_SHELL",
            "CLAUDE_CONFIG_DIR",
            "SHELL",
            "BASH_FUNC_ls%%",
            "GLIBC_TUNABLES",
            "GCONV_PATH",
            "GIT_CONFIG_GLOBAL",
        ] {
            let mut env = wired.clone();
            env["env"] = serde_json::json!({key: "/tmp/x"});
            let found = wiring_findings(&files(t.path(), env, None));
            assert!(found[0].contains(key), "{key}: {found:?}");
            assert_eq!(
                flag(&found).unwrap(),
                "⚠ offload: switched off in settings (offload doctor)"
            );
        }
        // Settings a user sets for their own work are not flagged.
        let mut env = wired.clone();
        env["env"] = serde_json::json!({"ANTHROPIC_MODEL": "x", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "9", "PYTHONPATH": "/p"});
        assert!(wiring_findings(&files(t.path(), env, None)).is_empty());
        std::fs::remove_file(&hook).unwrap();
        let f = wiring_findings(&files(t.path(), wired, None));
        assert!(f[0].contains("missing or not executable"), "{f:?}");
    }

    #[test]
    fn settings_claude_code_rejects_are_found_like_unreadable_ones() {
        let t = tempfile::tempdir().unwrap();
        let (_, wired) = wired_hook(t.path());
        for (key, bad) in [
            ("permissions", serde_json::json!(5)),
            ("model", serde_json::json!(5)),
            ("statusLine", serde_json::json!(5)),
            ("cleanupPeriodDays", serde_json::json!("x")),
            ("enabledPlugins", serde_json::json!(5)),
        ] {
            let mut v = wired.clone();
            v[key] = bad;
            let found = wiring_findings(&files(t.path(), v, None));
            assert!(
                found
                    .iter()
                    .any(|f| f.contains(key) && f.contains("schema")),
                "{key}: {found:?}"
            );
            assert!(found[0].contains("not wired"), "{key}: {found:?}");
            assert!(
                flag(&found[1..]).unwrap().contains("settings rejected"),
                "{found:?}"
            );
        }
        // A managed drop-in keeps the hooks wired; the rejected user file is still named.
        let mut v = wired.clone();
        v["model"] = serde_json::json!(5);
        let found = wiring_findings(&files(t.path(), v, Some(wired.clone())));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            flag(&found).unwrap(),
            "⚠ offload: settings rejected (offload doctor)"
        );
    }

    #[test]
    fn config_that_switches_the_guard_off_or_exempts_code_is_found() {
        use crate::config::{GuardConfig, Mode};
        assert!(config_findings(&GuardConfig::default()).is_empty());
        let off = GuardConfig {
            mode: Mode::Off,
            ..GuardConfig::default()
        };
        assert_eq!(
            flag(&config_findings(&off)).unwrap(),
            "⚠ offload: guard off (config) (offload doctor)"
        );
        let mut exempt = GuardConfig::default();
        exempt.exempt_globs.push("**".into());
        let found = config_findings(&exempt);
        assert!(found[0].contains("src/lib.rs"), "{found:?}");
        let mut narrow = GuardConfig::default();
        narrow.exempt_globs.push("docs/**".into());
        assert!(
            config_findings(&narrow).is_empty(),
            "exempting docs leaves code guarded"
        );
    }

    #[test]
    fn a_binary_replaced_since_setup_is_found() {
        let t = tempfile::tempdir().unwrap();
        let hook = t.path().join("offload-hook");
        std::fs::write(&hook, "the real one").unwrap();
        let record = serde_json::json!({"v": 1, "settings": {}, "binaries": {
            hook.display().to_string(): bin_sig(&hook).unwrap()
        }});
        std::fs::write(t.path().join("setup.json"), record.to_string()).unwrap();
        assert!(binary_findings(t.path()).is_empty());
        // `cp /bin/true` over it: a new inode, size and time.
        std::fs::remove_file(&hook).unwrap();
        std::fs::write(&hook, "#!/bin/sh\n").unwrap();
        let f = binary_findings(t.path());
        assert!(
            f[0].contains("not the binary offload setup installed"),
            "{f:?}"
        );
        assert_eq!(
            flag(&f).unwrap(),
            "⚠ offload: binary replaced (offload doctor)"
        );
        // Bytes written in place, with size, inode and modification time put back: the
        // change time still moves.
        let record = serde_json::json!({"v": 1, "settings": {}, "binaries": {
            hook.display().to_string(): bin_sig(&hook).unwrap()
        }});
        std::fs::write(t.path().join("setup.json"), record.to_string()).unwrap();
        assert!(binary_findings(t.path()).is_empty());
        let before = std::fs::metadata(&hook).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        {
            use std::io::{Seek, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&hook).unwrap();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.write_all(b"#!/bin/x\n").unwrap();
            f.set_modified(before.modified().unwrap()).unwrap();
        }
        let now = bin_sig(&hook).unwrap();
        assert_eq!(
            (now.size, now.ino, now.mtime_ns),
            {
                let r = serde_json::from_value::<BinSig>(
                    record["binaries"][hook.display().to_string()].clone(),
                )
                .unwrap();
                (r.size, r.ino, r.mtime_ns)
            },
            "size, inode and time kept"
        );
        assert!(
            binary_findings(t.path())[0].contains("not the binary offload setup installed"),
            "an in-place rewrite is found"
        );
        // A record of an older setup (no change time): compared as before.
        let mut old = serde_json::to_value(bin_sig(&hook).unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("ctime_ns");
        let record = serde_json::json!({"v": 1, "settings": {}, "binaries": {
            hook.display().to_string(): old
        }});
        std::fs::write(t.path().join("setup.json"), record.to_string()).unwrap();
        assert!(binary_findings(t.path()).is_empty());
        // No record (an older setup, or none): nothing to compare.
        std::fs::write(t.path().join("setup.json"), "{}").unwrap();
        assert!(binary_findings(t.path()).is_empty());
    }

    #[test]
    fn records_offload_could_not_have_written_are_found() {
        use crate::ledger::{Approval, LastAttempt};
        use crate::outcome::Outcome;
        let mut s = SessionSummary::new("s1");
        assert!(ledger_findings(Some(&s)).is_empty());
        s.approval = Some(Approval {
            ts: chrono::Utc::now(),
            turn: 1,
            source: "hand".into(),
            terminal: None,
            unverified: None,
        });
        assert!(ledger_findings(Some(&s))[0].contains("did not write"));
        // From a terminal offload cannot vouch for: named while its turn lasts.
        s.turn = 1;
        s.approval = Some(Approval {
            ts: chrono::Utc::now(),
            turn: 1,
            source: "terminal".into(),
            terminal: Some("/dev/pts/9 of tmux: server (pid 9)".into()),
            unverified: Some("made during the session".into()),
        });
        let found = ledger_findings(Some(&s));
        assert!(found[0].contains("cannot vouch for"), "{found:?}");
        assert_eq!(
            flag(&found).unwrap(),
            "⚠ offload: unverified approval (offload doctor)"
        );
        s.turn = 2;
        assert!(ledger_findings(Some(&s)).is_empty(), "its turn is over");
        s.approval = None;
        let last = LastAttempt {
            attempt: "a2".into(),
            ts: chrono::Utc::now(),
            turn: 1,
            outcome: Outcome::Success,
            model: "m".into(),
            sandbox: "workspace-write".into(),
            work_type: None,
            error: None,
            cwd: None,
        };
        s.split_outcomes = true;
        s.last_attempt = Some(last.clone());
        assert!(ledger_findings(Some(&s))[0].contains("not the configured one"));
        s.last_success = Some(last);
        assert!(ledger_findings(Some(&s)).is_empty());
    }
}
