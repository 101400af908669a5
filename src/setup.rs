//! `offload setup` and `offload uninstall`: wire offload into Claude Code and take it out again.
//!
//! The merge itself is [`shared::settings`] (pure, unit-tested); this module does the I/O around
//! it: find the settings file (user `~/.claude/settings.json`, or `.claude/settings.json` of the
//! current folder with `--project`), find `offload-hook` and `offload-statusline` beside the
//! running `offload` (or in `OFFLOAD_BIN_DIR`), ask `claude --version` whether `onFailure` may be
//! written and whether the `PreSkillShellCommand` event exists, back up, write atomically, install the `plan-and-execute` skill, and keep a record of
//! what it did in offload's state folder (`setup.json`, mode 0600, one entry per settings file)
//! so that `uninstall` can take exactly that away again.
//!
//! A settings file that is not valid JSON is reported and never written. A run that would change
//! nothing writes nothing (no backup either), so setup can be re-run at will.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::env;
use shared::fsutil::{create_private_dir, write_atomic};
use shared::paths::Paths;
use shared::settings::{self, ClaudeVersion, Record, Wiring};

use crate::Error;
use crate::cli::{SetupArgs, SetupCmd};

/// The skill setup installs, embedded at build time: (file name, content, mode).
const SKILL_DIR: &str = "plan-and-execute";
const SKILL_FILES: [(&str, &str, u32); 3] = [
    (
        "SKILL.md",
        include_str!("../skills/plan-and-execute/SKILL.md"),
        0o644,
    ),
    (
        "codex-runner.sh",
        include_str!("../skills/plan-and-execute/codex-runner.sh"),
        0o755,
    ),
    ("plan-format.md", crate::plan::PLAN_FORMAT, 0o644),
];

/// How long `claude --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

pub fn setup(cmd: SetupCmd) -> Result<u8, Error> {
    let args = cmd.wiring.clone();
    // The same check as uninstall and approve: Claude rewiring the hooks (to an older binary, a
    // narrower matcher, another scope) is switching the guard off by other means; and offload's
    // config is the user's, not Claude's, to change.
    if !args.dry_run
        && let Some(why) = shared::claude_marker::inside_claude_code()
    {
        return Err(Error::with_code(
            format!(
                "refusing to change offload's wiring or config from inside Claude Code ({why}). Run \
                 `offload setup` in your own terminal."
            ),
            1,
        ));
    }
    if cmd.code_model.is_some() || cmd.logic_model.is_some() {
        return crate::models::switch(
            cmd.code_model.as_deref(),
            cmd.logic_model.as_deref(),
            args.dry_run,
        );
    }
    let flag = cmd.review_gate_flag();
    if let Some(on) = flag {
        println!("{}", switch_review_gate(on, args.dry_run)?);
    }
    let (hook, statusline, missing) = binaries(args.dry_run)?;
    let claude = find_claude();
    let mut wiring = Wiring {
        hook: hook.display().to_string(),
        statusline: statusline.display().to_string(),
        on_failure: claude.version().map(ClaudeVersion::supports_on_failure),
        claude: claude.version(),
        plugin: None,
        review_gate: review_gate_on(args.project && !args.managed, flag, args.dry_run),
    };
    if let Some(on) = flag
        && on != wiring.review_gate
    {
        eprintln!(
            "offload: warning: the project's .claude/offload.json turns the review gate {}; it \
             overrides your config in this project",
            if wiring.review_gate { "on" } else { "off" }
        );
    }
    if args.managed {
        return managed_setup(&args, &wiring);
    }
    let scope = Scope::resolve(args.project)?;

    let current = SettingsFile::read(&scope.settings)?;
    wiring.plugin = enabled_plugin(&scope, &current.value).or_else(|| {
        args.statusline_only
            .then(|| "the offload plugin (--statusline-only)".to_owned())
    });
    let state = StateFile::at_default()?;
    let mut records = state.load();
    let key = scope.key();
    let prev = records.settings.get(&key).cloned();

    let merged = settings::merge(&current.value, &wiring, prev.as_ref().map(|p| &p.settings))
        .map_err(|e| shape_error(&scope.settings, &e, "setup"))?;
    let settings_change = current.value != merged.settings || current.text.is_none();
    let new_text = settings::to_pretty(&merged.settings, current.text.as_deref());
    // The plugin brings the skill: setup's copy would be a second one.
    let (skill, skill_removal) = if wiring.plugin.is_some() {
        let removal = prev
            .as_ref()
            .map(|p| plan_skill_removal(&scope.skill_dir, Some(p)))
            .unwrap_or_default();
        (Vec::new(), removal)
    } else {
        (plan_skill(&scope.skill_dir, prev.as_ref()), Vec::new())
    };
    let skill_writes: Vec<&SkillPlan> = skill.iter().filter(|p| p.write).collect();
    let skill_removes = skill_removal.iter().any(|s| s.remove);

    // The binaries as wired now (an upgrade re-runs setup, which records the new ones).
    let before = records.binaries.clone();
    for bin in [&hook, &statusline, &hook.with_file_name("offload")] {
        if let Some(sig) = shared::tamper::bin_sig(bin) {
            records.binaries.insert(bin.display().to_string(), sig);
        }
    }
    let title = format!("offload setup ({})", scope.label);
    if !settings_change && skill_writes.is_empty() && !skill_removes {
        if !args.dry_run && records.binaries != before {
            let _ = state.save(&records);
        }
        println!(
            "{title}: already set up in {}; nothing changed.",
            scope.settings.display()
        );
        print_plugin_note(wiring.plugin.as_deref());
        print_claude_note(&claude);
        return Ok(0);
    }

    if args.dry_run {
        println!("{title} --dry-run: nothing is written.");
        for m in &missing {
            println!("  note: {m}");
        }
        if settings_change {
            println!();
            print!(
                "{}",
                unified_diff(
                    current.text.as_deref().map_or("", |_| &current.pretty),
                    &new_text,
                    &format!("{} (now)", scope.settings.display()),
                    &format!("{} (after setup)", scope.settings.display()),
                )
            );
            println!();
        } else {
            println!("  {}: already set up", scope.settings.display());
        }
        for p in &skill_writes {
            println!("  would write {}", p.describe());
        }
        for s in skill_removal.iter().filter(|s| s.remove) {
            println!(
                "  would remove {} (the plugin brings the skill)",
                s.path.display()
            );
        }
        print_plugin_note(wiring.plugin.as_deref());
        print_claude_note(&claude);
        return Ok(0);
    }

    println!("{title}: {}", scope.settings.display());
    let mut created_dirs = prev
        .as_ref()
        .map(|p| p.created_dirs.clone())
        .unwrap_or_default();
    if settings_change {
        note_created_dirs(&mut created_dirs, &scope.claude_dir, &scope.claude_dir);
        fs::create_dir_all(&scope.claude_dir)
            .map_err(|e| io_error("create", &scope.claude_dir, &e))?;
        if let Some(backup) = current.backup()? {
            println!("  backup: {}", backup.display());
        }
        current.replace(&new_text)?;
        for change in &merged.changes {
            println!("  {change}");
        }
    } else {
        println!("  settings: already set up");
    }

    let mut skill_files: Vec<SkillFile> = Vec::new();
    note_created_dirs(&mut created_dirs, &scope.skill_dir, &scope.claude_dir);
    if !skill_writes.is_empty() {
        fs::create_dir_all(&scope.skill_dir)
            .map_err(|e| io_error("create", &scope.skill_dir, &e))?;
    }
    for p in &skill {
        let mut backup = p.prev_backup.clone();
        if p.write {
            if let Some(b) = &p.backup {
                fs::rename(&p.path, b).map_err(|e| io_error("back up", &p.path, &e))?;
                println!("  kept your {} as {}", p.path.display(), b.display());
                backup = Some(b.clone());
            }
            write_atomic(&p.path, p.content.as_bytes())
                .and_then(|()| fs::set_permissions(&p.path, fs::Permissions::from_mode(p.mode)))
                .map_err(|e| io_error("write", &p.path, &e))?;
            println!("  skill: wrote {}", p.describe());
        }
        skill_files.push(SkillFile {
            path: p.path.clone(),
            fnv: fnv64(p.content.as_bytes()),
            backup,
        });
    }
    remove_skill(&skill_removal)?;
    if skill_removes {
        remove_empty_dirs(prev.as_ref().map(|p| p.created_dirs.as_slice()), &scope);
    }

    let installed = Installed {
        settings: merged.record,
        file_created: prev.as_ref().is_some_and(|p| p.file_created) || current.text.is_none(),
        created_dirs,
        skill: skill_files,
        hook: wiring.hook.clone(),
        statusline: wiring.statusline.clone(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    records.settings.insert(key, installed);
    if let Err(e) = state.save(&records) {
        eprintln!(
            "offload: warning: cannot record the setup in {} ({e}); `offload uninstall` will \
             recognise offload's entries by their paths instead",
            state.path.display()
        );
    }

    for note in setting_notes(&merged.settings) {
        println!("  note: {note}");
    }
    for m in &missing {
        println!("  note: {m}");
    }
    print_plugin_note(wiring.plugin.as_deref());
    print_claude_note(&claude);
    let offload = shared::shell::this_offload();
    println!("\nNext:");
    if wiring.plugin.is_some() && enabled_plugin(&scope, &merged.settings).is_none() {
        // --statusline-only before the plugin: nothing is guarded until it is enabled.
        println!(
            "  - nothing is guarded yet: the hooks come with the offload plugin. Enable it:\n      \
             claude plugin marketplace add <the offload repository>\n      \
             claude plugin install offload@offload{}",
            if args.project { " --scope project" } else { "" }
        );
    } else {
        println!(
            "  - start a new Claude Code session{} (sessions already running keep the old settings);",
            if args.project { " in this project" } else { "" }
        );
        println!(
            "    edits of code files are then held until Codex was tried: `{offload} run ...`"
        );
    }
    if wiring.review_gate {
        println!(
            "  - review gate on: when Claude stops after changing code in a git project, Codex \
             reviews the turn's diff (read-only) and findings send Claude back once; \
             off: {offload} setup --no-review-gate"
        );
    }
    if args.project {
        println!(
            "  - the hook paths are absolute to this machine: if .claude/settings.json is \
             committed, teammates run `offload setup --project` themselves"
        );
    }
    println!("  - check everything: {offload} doctor");
    println!(
        "  - undo: {offload} uninstall{}",
        if args.project { " --project" } else { "" }
    );
    Ok(0)
}

/// `--review-gate` / `--no-review-gate`: `guard.review_gate` in offload's config, `true` or
/// `false` (an object keeps its other fields, with `enabled`). The file is the user's: one that
/// cannot be read as a JSON object is reported and never written. What it did, in one line.
fn switch_review_gate(on: bool, dry_run: bool) -> Result<String, Error> {
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let file = &paths.config_file;
    let (text, mut doc) = crate::models::read_doc(file)?;
    let guard = crate::models::section(&mut doc, "guard", file)?;
    let before = guard.get("review_gate").cloned();
    let after = match &before {
        Some(Value::Object(fields)) => {
            let mut fields = fields.clone();
            // An object without `enabled` is on already.
            if !on || fields.contains_key("enabled") {
                fields.insert("enabled".into(), Value::Bool(on));
            }
            Value::Object(fields)
        }
        _ => Value::Bool(on),
    };
    let word = if on { "on" } else { "off" };
    let title = if dry_run {
        "offload setup --dry-run (nothing is written)"
    } else {
        "offload setup"
    };
    if before.as_ref() == Some(&after) {
        return Ok(format!(
            "{title}: the review gate is {word} already (guard.review_gate in {})",
            file.display()
        ));
    }
    guard.insert("review_gate".into(), after);
    if !dry_run {
        crate::models::write(file, &doc, text.as_deref())?;
    }
    Ok(format!(
        "{title}: the review gate {} {word} (guard.review_gate in {})",
        if dry_run { "would be" } else { "is now" },
        file.display()
    ))
}

/// Whether the review gate is on for the settings setup writes: the user config (with the
/// current folder's `.claude/offload.json` for `--project`). A dry run with a flag takes the
/// flag, since nothing was written.
fn review_gate_on(project: bool, flag: Option<bool>, dry_run: bool) -> bool {
    if let (Some(on), true) = (flag, dry_run) {
        return on;
    }
    let Ok(paths) = Paths::from_env() else {
        return flag.unwrap_or(false);
    };
    let cwd = if project {
        std::env::current_dir().ok()
    } else {
        None
    };
    shared::config::Config::load_for_project(&paths.config_file, cwd.as_deref())
        .config
        .guard
        .review_gate
        .enabled
}

/// offload's drop-in in the managed settings.
fn managed_file() -> PathBuf {
    shared::tamper::managed_dir()
        .join("managed-settings.d")
        .join("50-offload.json")
}

/// Whether `text` is a settings file offload wrote (it runs offload's hook).
fn ours(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
        v["hooks"].as_object().is_some_and(|h| {
            h.values()
                .flat_map(|g| g.as_array().into_iter().flatten())
                .any(|g| {
                    g["hooks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(settings::is_our_hook)
                })
        })
    })
}

/// `offload setup --managed`: offload's hooks as a drop-in of Claude Code's managed settings.
/// A file at that path that is not offload's is left alone (and setup refuses).
fn managed_setup(args: &SetupArgs, wiring: &Wiring) -> Result<u8, Error> {
    let path = managed_file();
    let merged = settings::merge(&serde_json::json!({}), wiring, None)
        .map_err(|e| Error::with_code(format!("cannot build the hooks: {e:?}"), 1))?;
    let mut value = serde_json::json!({"hooks": merged.settings["hooks"].clone()});
    if args.managed_only {
        value["allowManagedHooksOnly"] = serde_json::Value::Bool(true);
    }
    let text = settings::to_pretty(&value, None);
    let existing = shared::fsutil::read_regular_text(&path, 4 << 20);
    if let Some(old) = &existing
        && !ours(old)
    {
        return Err(Error::with_code(
            format!(
                "{} exists and is not offload's; left as it is. Move it away or merge offload's hooks into it by hand.",
                path.display()
            ),
            1,
        ));
    }
    if existing.as_deref() == Some(text.as_str()) {
        println!(
            "offload setup --managed: already set up in {}; nothing changed.",
            path.display()
        );
        return Ok(0);
    }
    if args.dry_run {
        println!(
            "offload setup --managed --dry-run: would write {}:\n{text}",
            path.display()
        );
        return Ok(0);
    }
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir)?;
        // Managed settings are read by every user's Claude Code: readable by all.
        let tmp = dir.join(".50-offload.json.tmp");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        Error::with_code(
            format!(
                "cannot write {} ({e}); managed settings need the rights to write there, usually root (sudo)",
                path.display()
            ),
            1,
        )
    })?;
    println!("offload setup --managed: wrote {}", path.display());
    println!(
        "  - Claude Code runs offload's hooks from here whatever a user or project setting says \
         (`disableAllHooks` included){}",
        if args.managed_only {
            "; allowManagedHooksOnly: user, project and plugin hooks no longer run"
        } else {
            ""
        }
    );
    println!("  - undo: offload uninstall --managed");
    Ok(0)
}

/// `offload uninstall --managed`: remove offload's drop-in (a file there that is not offload's
/// is left alone).
fn managed_uninstall(args: &SetupArgs) -> Result<u8, Error> {
    let path = managed_file();
    match shared::fsutil::read_regular_text(&path, 4 << 20) {
        None => {
            println!(
                "offload uninstall --managed: {} is not there; nothing to do.",
                path.display()
            );
            Ok(0)
        }
        Some(text) if !ours(&text) => Err(Error::with_code(
            format!("{} is not offload's; left as it is.", path.display()),
            1,
        )),
        Some(_) if args.dry_run => {
            println!(
                "offload uninstall --managed --dry-run: would remove {}",
                path.display()
            );
            Ok(0)
        }
        Some(_) => {
            fs::remove_file(&path).map_err(|e| {
                Error::with_code(
                    format!(
                        "cannot remove {} ({e}); usually root (sudo) can",
                        path.display()
                    ),
                    1,
                )
            })?;
            println!("offload uninstall --managed: removed {}", path.display());
            Ok(0)
        }
    }
}

pub fn uninstall(args: SetupArgs) -> Result<u8, Error> {
    if !args.dry_run
        && let Some(why) = shared::claude_marker::inside_claude_code()
    {
        return Err(Error::with_code(
            format!(
                "refusing to uninstall from inside Claude Code ({why}): that would switch the \
                 guard off for Claude. Run `offload uninstall` in your own terminal."
            ),
            1,
        ));
    }
    if args.managed {
        return managed_uninstall(&args);
    }
    let scope = Scope::resolve(args.project)?;
    let current = SettingsFile::read(&scope.settings)?;
    let state = StateFile::at_default()?;
    let mut records = state.load();
    let key = scope.key();
    let prev = records.settings.get(&key).cloned();

    let unmerged = match current.text {
        Some(_) => Some(
            settings::unmerge(&current.value, prev.as_ref().map(|p| &p.settings))
                .map_err(|e| shape_error(&scope.settings, &e, "uninstall"))?,
        ),
        None => None,
    };
    let settings_change = unmerged
        .as_ref()
        .is_some_and(|u| u.settings != current.value);
    let remove_file = unmerged.as_ref().is_some_and(|u| {
        prev.as_ref().is_some_and(|p| p.file_created)
            && u.settings.as_object().is_some_and(|o| o.is_empty())
    });
    let new_text = unmerged
        .as_ref()
        .map(|u| settings::to_pretty(&u.settings, current.text.as_deref()))
        .unwrap_or_default();
    let skill = plan_skill_removal(&scope.skill_dir, prev.as_ref());
    let title = format!("offload uninstall ({})", scope.label);

    if !settings_change && !remove_file && skill.iter().all(|s| !s.remove) {
        println!(
            "{title}: offload is not set up in {}; nothing to remove.",
            scope.settings.display()
        );
        for s in skill.iter().filter_map(|s| s.kept.as_deref()) {
            println!("  note: {s}");
        }
        if prev.is_some() && !args.dry_run {
            records.settings.remove(&key);
            let _ = state.save(&records);
        }
        return Ok(0);
    }

    if args.dry_run {
        println!("{title} --dry-run: nothing is written.");
        if remove_file {
            println!(
                "  would remove {} (setup created it; nothing else is left in it)",
                scope.settings.display()
            );
        } else if settings_change {
            println!();
            print!(
                "{}",
                unified_diff(
                    &current.pretty,
                    &new_text,
                    &format!("{} (now)", scope.settings.display()),
                    &format!("{} (after uninstall)", scope.settings.display()),
                )
            );
            println!();
        }
        for s in &skill {
            if s.remove {
                println!("  would remove {}", s.path.display());
            }
            if let Some(kept) = &s.kept {
                println!("  note: {kept}");
            }
        }
        return Ok(0);
    }

    println!("{title}: {}", scope.settings.display());
    if settings_change || remove_file {
        // A file setup created and that holds nothing else now needs no backup.
        if !remove_file && let Some(backup) = current.backup()? {
            println!("  backup: {}", backup.display());
        }
        if remove_file {
            fs::remove_file(&current.write_to)
                .map_err(|e| io_error("remove", &current.write_to, &e))?;
        } else {
            current.replace(&new_text)?;
        }
        for change in unmerged.iter().flat_map(|u| &u.changes) {
            println!("  {change}");
        }
        if remove_file {
            println!(
                "  removed {} (setup had created it, and nothing else is left in it)",
                scope.settings.display()
            );
        }
    }
    for note in unmerged.iter().flat_map(|u| &u.notes) {
        println!("  note: {note}");
    }
    remove_skill(&skill)?;
    remove_empty_dirs(prev.as_ref().map(|p| p.created_dirs.as_slice()), &scope);
    if prev.is_some() {
        records.settings.remove(&key);
        if let Err(e) = state.save(&records) {
            eprintln!(
                "offload: warning: cannot update {} ({e})",
                state.path.display()
            );
        }
    }
    if let Some(p) = enabled_plugin(&scope, &current.value) {
        println!(
            "  note: {p} still runs offload's guard in new sessions; to take it out too: \
             claude plugin disable offload@offload (or claude plugin uninstall offload@offload)"
        );
    }
    let kept = kept_after_uninstall(&scope.settings, state.path.parent());
    if !kept.is_empty() {
        println!("\nKept (nothing of yours is deleted):");
        for k in kept {
            println!("  {k}");
        }
    }
    println!(
        "\nStart a new Claude Code session for it to take effect. The binaries stay where they \
         are (other projects' settings may still run them); ./install.sh --uninstall explains \
         how to delete them."
    );
    Ok(0)
}

/// What uninstall leaves in place, each with the command that removes it: the backups setup
/// and uninstall wrote beside `settings`, and offload's state folder (the ledger, run folders,
/// what the guard undid).
fn kept_after_uninstall(settings: &Path, state_dir: Option<&Path>) -> Vec<String> {
    let mut kept = Vec::new();
    if let (Some(dir), Some(name)) = (settings.parent(), settings.file_name()) {
        let prefix = format!("{}.offload-backup-", name.to_string_lossy());
        let backups = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .count()
            })
            .unwrap_or(0);
        if backups > 0 {
            let pattern = format!(
                "{}*",
                shared::shell::quote(&dir.join(&prefix).display().to_string())
            );
            kept.push(format!(
                "{backups} backup{} of {}: remove with `rm {pattern}`",
                if backups == 1 { "" } else { "s" },
                settings.display()
            ));
        }
    }
    if let Some(dir) = state_dir.filter(|d| d.is_dir()) {
        kept.push(format!(
            "offload's records (the ledger of attempts and denials, run folders, what the guard \
             undid), shared by every project: {} — remove with `rm -rf {}`",
            dir.display(),
            shared::shell::quote(&dir.display().to_string())
        ));
    }
    kept
}

/// Which settings file and skill folder a run works on.
struct Scope {
    /// `settings.json`, as addressed (the record key).
    settings: PathBuf,
    /// The `.claude` folder holding it.
    claude_dir: PathBuf,
    /// `.claude/skills/plan-and-execute`.
    skill_dir: PathBuf,
    label: &'static str,
}

impl Scope {
    fn resolve(project: bool) -> Result<Scope, Error> {
        let (base, label) = if project {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::with_code(format!("cannot read the current folder: {e}"), 1))?;
            (cwd, "project")
        } else {
            let home = directories::BaseDirs::new()
                .map(|b| b.home_dir().to_path_buf())
                .filter(|h| h.is_absolute())
                .ok_or_else(|| {
                    Error::with_code(
                        "cannot find your home folder (HOME is not set); set HOME, or use \
                         --project for the current folder",
                        1,
                    )
                })?;
            (home, "user")
        };
        let claude_dir = base.join(".claude");
        Ok(Scope {
            settings: claude_dir.join("settings.json"),
            skill_dir: claude_dir.join("skills").join(SKILL_DIR),
            claude_dir,
            label,
        })
    }

    fn key(&self) -> String {
        self.settings.display().to_string()
    }
}

/// `settings.json` as read.
struct SettingsFile {
    /// Where it is addressed.
    path: PathBuf,
    /// Where writes go: the file itself, or the target of a symlink (a dotfiles checkout keeps
    /// its link).
    write_to: PathBuf,
    /// `None`: the file does not exist.
    text: Option<String>,
    /// Its value (`{}` when absent or empty).
    value: Value,
    /// The value as our pretty printer writes it (for a readable diff).
    pretty: String,
    /// Its permission bits, kept on rewrite.
    mode: Option<u32>,
}

impl SettingsFile {
    fn read(path: &Path) -> Result<SettingsFile, Error> {
        let write_to = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
                Error::with_code(
                    format!(
                        "{} is a symbolic link that cannot be followed ({e}); fix the link, then run \
                         this again",
                        path.display()
                    ),
                    1,
                )
            })?,
            _ => path.to_path_buf(),
        };
        let text = match fs::read_to_string(&write_to) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("read", path, &e)),
        };
        let value = match text.as_deref() {
            None => Value::Object(Default::default()),
            Some(t) if t.trim().is_empty() => Value::Object(Default::default()),
            Some(t) => serde_json::from_str(t).map_err(|e| {
                Error::with_code(
                    format!(
                        "{} is not valid JSON: {e}.\n  Nothing was changed. Fix the file (Claude \
                         Code cannot read it either), or move it aside, then run this again.",
                        path.display()
                    ),
                    1,
                )
            })?,
        };
        let mode = fs::metadata(&write_to)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777);
        Ok(SettingsFile {
            path: path.to_path_buf(),
            pretty: settings::to_pretty(&value, text.as_deref()),
            write_to,
            text,
            value,
            mode,
        })
    }

    /// Copy the current file to `settings.json.offload-backup-<UTC time>` (0600), if it exists.
    fn backup(&self) -> Result<Option<PathBuf>, Error> {
        let Some(text) = &self.text else {
            return Ok(None);
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "settings.json".into());
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let dir = self.write_to.parent().unwrap_or(Path::new("."));
        let mut backup = dir.join(format!("{name}.offload-backup-{stamp}"));
        let mut n = 1;
        while backup.exists() {
            n += 1;
            backup = dir.join(format!("{name}.offload-backup-{stamp}-{n}"));
        }
        write_atomic(&backup, text.as_bytes()).map_err(|e| io_error("back up to", &backup, &e))?;
        Ok(Some(backup))
    }

    /// Replace the file atomically with `text`, keeping its permission bits.
    fn replace(&self, text: &str) -> Result<(), Error> {
        write_atomic(&self.write_to, text.as_bytes())
            .map_err(|e| io_error("write", &self.write_to, &e))?;
        if let Some(mode) = self.mode {
            let _ = fs::set_permissions(&self.write_to, fs::Permissions::from_mode(mode));
        }
        Ok(())
    }
}

/// `setup.json` in offload's state folder: what each setup did, by settings file.
struct StateFile {
    path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Records {
    #[serde(default = "one")]
    v: u32,
    #[serde(default)]
    settings: BTreeMap<String, Installed>,
    /// The installed hook and statusline as setup wired them (path → size, time, inode): the
    /// statusline and doctor flag a binary that changed since (see `shared::tamper`).
    #[serde(default)]
    binaries: BTreeMap<String, shared::tamper::BinSig>,
}

fn one() -> u32 {
    1
}

impl Default for Records {
    fn default() -> Records {
        Records {
            v: 1,
            settings: BTreeMap::new(),
            binaries: BTreeMap::new(),
        }
    }
}

/// What one setup of one settings file did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Installed {
    #[serde(flatten)]
    settings: Record,
    /// The settings file did not exist before setup.
    #[serde(default)]
    file_created: bool,
    /// Folders setup created (removed by uninstall when empty).
    #[serde(default)]
    created_dirs: Vec<PathBuf>,
    #[serde(default)]
    skill: Vec<SkillFile>,
    #[serde(default)]
    hook: String,
    #[serde(default)]
    statusline: String,
    #[serde(default)]
    at: String,
}

/// A skill file setup wrote: its content hash, and where a file it replaced was kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SkillFile {
    path: PathBuf,
    fnv: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backup: Option<PathBuf>,
}

impl StateFile {
    fn at_default() -> Result<StateFile, Error> {
        let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
        Ok(StateFile {
            path: paths.state_dir.join("setup.json"),
        })
    }

    fn load(&self) -> Records {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                eprintln!(
                    "offload: warning: ignoring {} ({e}); offload's entries are recognised by \
                     their paths instead",
                    self.path.display()
                );
                Records::default()
            }),
            Err(_) => Records::default(),
        }
    }

    fn save(&self, records: &Records) -> io::Result<()> {
        if records.settings.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        let mut text = serde_json::to_string_pretty(records).map_err(io::Error::other)?;
        text.push('\n');
        write_atomic(&self.path, text.as_bytes())
    }
}

/// One skill file to install.
struct SkillPlan {
    path: PathBuf,
    content: &'static str,
    mode: u32,
    /// It is missing or differs (content or mode).
    write: bool,
    /// A file that is not ours is there: keep it here first.
    backup: Option<PathBuf>,
    /// A backup an earlier setup made, still to restore on uninstall.
    prev_backup: Option<PathBuf>,
}

impl SkillPlan {
    fn describe(&self) -> String {
        if self.mode & 0o111 != 0 {
            format!("{} (executable)", self.path.display())
        } else {
            self.path.display().to_string()
        }
    }
}

fn plan_skill(dir: &Path, prev: Option<&Installed>) -> Vec<SkillPlan> {
    SKILL_FILES
        .iter()
        .map(|&(name, content, mode)| {
            let path = dir.join(name);
            let recorded = prev.and_then(|p| p.skill.iter().find(|s| s.path == path));
            let existing = fs::read(&path).ok();
            let mode_now = fs::metadata(&path)
                .ok()
                .map(|m| m.permissions().mode() & 0o777);
            let write = existing.as_deref() != Some(content.as_bytes()) || mode_now != Some(mode);
            let ours = |bytes: &[u8]| {
                bytes == content.as_bytes() || recorded.is_some_and(|r| r.fnv == fnv64(bytes))
            };
            let backup = match &existing {
                Some(bytes) if !ours(bytes) => Some(free_name(&path, "offload-backup")),
                _ => None,
            };
            SkillPlan {
                prev_backup: recorded.and_then(|r| r.backup.clone()),
                path,
                content,
                mode,
                write,
                backup,
            }
        })
        .collect()
}

/// One skill file uninstall looks at.
struct SkillRemoval {
    path: PathBuf,
    remove: bool,
    restore: Option<PathBuf>,
    /// Why a file is left in place.
    kept: Option<String>,
}

fn plan_skill_removal(dir: &Path, prev: Option<&Installed>) -> Vec<SkillRemoval> {
    let recorded: Vec<SkillFile> = match prev {
        Some(p) => p.skill.clone(),
        None => SKILL_FILES
            .iter()
            .map(|(name, content, _)| SkillFile {
                path: dir.join(name),
                fnv: fnv64(content.as_bytes()),
                backup: None,
            })
            .collect(),
    };
    recorded
        .into_iter()
        .filter_map(|f| {
            let bytes = fs::read(&f.path).ok()?;
            let ours = fnv64(&bytes) == f.fnv
                || SKILL_FILES
                    .iter()
                    .any(|(_, content, _)| bytes == content.as_bytes());
            Some(if ours {
                SkillRemoval {
                    restore: f.backup.filter(|b| b.exists()),
                    path: f.path,
                    remove: true,
                    kept: None,
                }
            } else {
                SkillRemoval {
                    kept: Some(format!(
                        "{} was changed since setup; left in place",
                        f.path.display()
                    )),
                    path: f.path,
                    remove: false,
                    restore: None,
                }
            })
        })
        .collect()
}

/// `path.<suffix>`, or `path.<suffix>-N` if taken.
fn free_name(path: &Path, suffix: &str) -> PathBuf {
    let base = format!("{}.{suffix}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = PathBuf::from(format!("{base}-{n}"));
    }
    candidate
}

/// Add to `created` the folders from `stop` (inclusive) down to `dir` that do not exist yet.
fn note_created_dirs(created: &mut Vec<PathBuf>, dir: &Path, stop: &Path) {
    let mut d = Some(dir);
    while let Some(p) = d {
        if !p.exists() && !created.iter().any(|c| c == p) {
            created.push(p.to_path_buf());
        }
        if p == stop {
            break;
        }
        d = p.parent();
    }
}

/// FNV-1a, 64 bits: enough to recognise a file setup wrote (not a security check).
fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `offload-hook` and `offload-statusline`, absolute, beside the running `offload` (or in
/// `OFFLOAD_BIN_DIR`). Missing ones are an error, or in a dry run a note.
fn binaries(dry_run: bool) -> Result<(PathBuf, PathBuf, Vec<String>), Error> {
    let dir = match env::var(env::OFFLOAD_BIN_DIR) {
        Some(d) => std::path::absolute(&d).unwrap_or_else(|_| PathBuf::from(d)),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .ok_or_else(|| {
                Error::with_code(
                    format!(
                        "cannot tell where the offload executable is; set {} to the folder \
                         holding offload-hook and offload-statusline",
                        env::OFFLOAD_BIN_DIR
                    ),
                    1,
                )
            })?,
    };
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for name in [settings::HOOK_BIN, settings::STATUSLINE_BIN] {
        let path = dir.join(name);
        let ok =
            fs::metadata(&path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !ok {
            missing.push(format!(
                "{} is not installed yet (it must sit beside offload: ./install.sh installs all three)",
                path.display()
            ));
        }
        found.push(path);
    }
    if !missing.is_empty() && !dry_run {
        return Err(Error::with_code(
            format!("{}. Nothing was changed.", missing.join("; ")),
            1,
        ));
    }
    let statusline = found.pop().unwrap_or_default();
    let hook = found.pop().unwrap_or_default();
    Ok((hook, statusline, missing))
}

/// What `claude --version` said.
enum Claude {
    Found(PathBuf, ClaudeVersion),
    /// Found, but its version could not be read: (path, why).
    Unknown(PathBuf, String),
    /// Not found: what was looked for.
    Missing(String),
}

impl Claude {
    fn version(&self) -> Option<ClaudeVersion> {
        match self {
            Claude::Found(_, v) => Some(*v),
            _ => None,
        }
    }
}

/// `OFFLOAD_CLAUDE_BIN` (a path or a name on `PATH`), else `claude` on `PATH`.
fn find_claude() -> Claude {
    let name = env::var(env::OFFLOAD_CLAUDE_BIN).unwrap_or_else(|| "claude".into());
    let path = shared::process::resolve_bin(&name).ok();
    let Some(path) = path else {
        return Claude::Missing(if env::var(env::OFFLOAD_CLAUDE_BIN).is_some() {
            format!("{name} ({})", env::OFFLOAD_CLAUDE_BIN)
        } else {
            "claude on PATH".into()
        });
    };
    match run_version(&path) {
        Ok(out) => match ClaudeVersion::parse(&out) {
            Some(v) => Claude::Found(path, v),
            None => Claude::Unknown(path, format!("`--version` printed {:?}", out.trim())),
        },
        Err(why) => Claude::Unknown(path, why),
    }
}

/// `<claude> --version`'s stdout, within [`VERSION_TIMEOUT`].
fn run_version(path: &Path) -> Result<String, String> {
    let mut cmd = Command::new(path);
    cmd.arg("--version");
    let ran = shared::process::run_bounded(cmd, None, VERSION_TIMEOUT)
        .map_err(|e| format!("cannot run it: {e}"))?;
    if ran.timed_out {
        Err(format!(
            "`--version` did not answer within {} s",
            VERSION_TIMEOUT.as_secs()
        ))
    } else if ran.code != Some(0) {
        Err(format!("`--version` failed ({})", ran.why()))
    } else {
        Ok(ran.stdout)
    }
}

fn print_claude_note(claude: &Claude) {
    let since = settings::ON_FAILURE_SINCE;
    let skill_since = settings::SKILL_SHELL_SINCE;
    match claude {
        Claude::Found(_, v) if v.has_skill_shell_hook() => println!(
            "  Claude Code {v}: the {} hook checks the shell commands skills run inline (!`cmd`).",
            settings::PRE_SKILL_SHELL_COMMAND
        ),
        Claude::Found(_, v) => println!(
            "  Claude Code {v} is older than {skill_since}: shell commands that skills run inline \
             (!`cmd`) fire no hook, so offload cannot check them. Add \
             \"disableSkillShellExecution\": true to your settings to stop them, or upgrade Claude \
             Code and run `offload setup` again."
        ),
        _ => println!(
            "  The {} hook (Claude Code {skill_since} and later) was not added: the version is \
             unknown (one already there is kept).",
            settings::PRE_SKILL_SHELL_COMMAND
        ),
    }
    match claude {
        Claude::Found(path, v) if v.supports_on_failure() => println!(
            "  Claude Code {v} ({}): hooks have \"onFailure\": \"block\", so a hook that crashes \
             or times out blocks the tool call instead of letting it through.",
            path.display()
        ),
        Claude::Found(path, v) => println!(
            "  Claude Code {v} ({}) is older than {since}: \"onFailure\" is left out (it would \
             reject the settings), so a crashing hook lets the tool call through. Upgrade Claude \
             Code and run `offload setup` again.",
            path.display()
        ),
        Claude::Unknown(path, why) => println!(
            "  Claude Code at {}: version unknown ({why}); \"onFailure\" was not added (an \
             existing one is kept). Run `offload setup` again once `claude --version` works.",
            path.display()
        ),
        Claude::Missing(what) => println!(
            "  Claude Code not found ({what}): \"onFailure\" was not added. Install Claude Code \
             ({since} or later) and run `offload setup` again, or set {} to its path.",
            env::OFFLOAD_CLAUDE_BIN
        ),
    }
}

/// Things about the merged settings the user should know.
fn setting_notes(settings: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    if settings["disableAllHooks"] == Value::Bool(true) {
        notes.push(
            "\"disableAllHooks\": true is set in this file, so Claude Code runs no hooks at all; \
             remove it for the guard to work"
                .to_string(),
        );
    }
    notes
}

/// The offload plugin enabled where this settings file applies: in the file itself, and for a
/// project also in its local settings and the user's. As `plugin NAME (enabled in FILE)`.
fn enabled_plugin(scope: &Scope, settings: &Value) -> Option<String> {
    let mut files = vec![(scope.settings.display().to_string(), settings.clone())];
    if scope.label == "project" {
        let local = scope.claude_dir.join("settings.local.json");
        let user = directories::BaseDirs::new().map(|b| b.home_dir().join(".claude/settings.json"));
        for f in std::iter::once(local).chain(user) {
            if let Ok(Some(bytes)) = shared::fsutil::read_regular(&f, 4 << 20)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                files.push((f.display().to_string(), v));
            }
        }
    }
    files.iter().find_map(|(shown, v)| {
        let name = offload_plugin(v)?;
        Some(format!("plugin {name} (enabled in {shown})"))
    })
}

/// The name (`offload@<marketplace>`) of the offload plugin if `settings` enables it.
pub fn offload_plugin(settings: &Value) -> Option<&str> {
    settings
        .get("enabledPlugins")?
        .as_object()?
        .iter()
        .find(|(k, on)| k.starts_with("offload@") && on.as_bool() == Some(true))
        .map(|(k, _)| k.as_str())
}

fn print_plugin_note(plugin: Option<&str>) {
    if let Some(p) = plugin {
        println!(
            "  note: {p} runs offload's hooks and brings the skill; setup adds only what a plugin \
             cannot: the statusline, and the PreSkillShellCommand hook on Claude Code 2.1.332 or later"
        );
    }
}

/// Remove the skill files `removal` says are setup's, restoring what they had replaced.
fn remove_skill(removal: &[SkillRemoval]) -> Result<(), Error> {
    for s in removal {
        if s.remove {
            fs::remove_file(&s.path).map_err(|e| io_error("remove", &s.path, &e))?;
            println!("  skill: removed {}", s.path.display());
            if let Some(b) = &s.restore {
                fs::rename(b, &s.path).map_err(|e| io_error("restore", b, &e))?;
                println!(
                    "  skill: restored your {} from {}",
                    s.path.display(),
                    b.display()
                );
            }
        }
        if let Some(kept) = &s.kept {
            println!("  note: {kept}");
        }
    }
    Ok(())
}

/// Remove the folders setup created (deepest first) that are empty now: anything the user put
/// there stays.
fn remove_empty_dirs(created: Option<&[PathBuf]>, scope: &Scope) {
    let mut dirs: Vec<PathBuf> = created
        .map(<[PathBuf]>::to_vec)
        .unwrap_or_else(|| vec![scope.skill_dir.clone()]);
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        if fs::remove_dir(&d).is_ok() {
            println!("  removed the empty folder {}", d.display());
        }
    }
}

fn shape_error(path: &Path, e: &settings::ShapeError, what: &str) -> Error {
    Error::with_code(
        format!(
            "{}: {e}, so offload {what} cannot merge into it safely. Nothing was changed. Fix \
             that part of the file (see Claude Code's settings documentation), then run this \
             again.",
            path.display()
        ),
        1,
    )
}

fn io_error(what: &str, path: &Path, e: &io::Error) -> Error {
    Error::with_code(format!("cannot {what} {}: {e}", path.display()), 1)
}

/// A unified diff of two texts by lines (longest common subsequence), with 3 lines of context.
fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (tag, old index, new index, line).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.0 != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        let old_start = hunk[0].1 + usize::from(old_len > 0);
        let new_start = hunk[0].2 + usize::from(new_len > 0);
        out.push_str(&format!(
            "@@ -{old_start},{old_len} +{new_start},{new_len} @@\n"
        ));
        for (tag, _, _, line) in hunk {
            out.push(*tag);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = unified_diff(old, new, "x", "y");
        assert_eq!(
            d,
            "--- x\n+++ y\n@@ -2,8 +2,9 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n+j\n"
        );
        assert_eq!(
            unified_diff("", "{}\n", "x", "y"),
            "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+{}\n"
        );
        assert_eq!(unified_diff("same\n", "same\n", "x", "y"), "--- x\n+++ y\n");
    }

    #[test]
    fn created_dirs_stop_at_the_claude_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let claude = tmp.path().join("p/.claude");
        let mut created = Vec::new();
        note_created_dirs(&mut created, &claude.join("skills/x"), &claude);
        assert_eq!(
            created,
            [
                claude.join("skills/x"),
                claude.join("skills"),
                claude.clone()
            ]
        );
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv64(b""), "cbf29ce484222325");
        assert_eq!(fnv64(b"a"), "af63dc4c8601ec8c");
    }
}
