//! The guard measured the way Claude Code runs it, on a corpus written without reading the
//! detector (`fixtures/effect/corpus.jsonl`: commands that write a code file through Bash, and
//! everyday commands that write none).
//!
//! Each case is played on a fresh copy of a small git project (`fixtures/effect/make-fixture.sh`):
//! the real `offload-hook` gets the PreToolUse payload; unless it denies, the command really runs
//! (`bash -c`, in the project, with its own HOME and TMPDIR); then the hook gets PostToolUse (or
//! PostToolUseFailure when the command exited non-zero, as Claude Code sends it). The verdict is
//! read from the files, not from the hook's answer:
//!
//! - a write case *escapes* when a code file is different afterwards;
//! - a harmless case is *falsely blocked* when the hook denied it or undid anything;
//! - every undo must be restorable: `effect::restore` puts the command's writes back.
//!
//! A write case is first run without the hook (the control): one that changes no code here (a
//! program missing on this machine) is skipped and counted, so the figures never count a case
//! that proves nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const HOOK: &str = env!("CARGO_BIN_EXE_offload-hook");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/effect")
}

struct Case {
    id: String,
    expect_write: bool,
    /// Harmless by effect but denied by policy (Claude running `offload approve`): counted
    /// apart, never as a false block.
    policy_deny: bool,
    command: String,
}

fn corpus() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("corpus.jsonl")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(needs) = v["needs"].as_str()
            && !on_path(needs)
        {
            continue;
        }
        out.push(Case {
            id: v["id"].as_str().unwrap().to_owned(),
            expect_write: v["expect"] == "write",
            policy_deny: v["policy"] == "deny",
            command: v["command"].as_str().unwrap().to_owned(),
        });
    }
    out
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .any(|d| d.join(program).is_file())
}

/// Code files of the fixture (relative path → bytes), as the corpus defines code.
fn code_files(project: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![project.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(project)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !matches!(rel.as_str(), ".git" | "target" | "node_modules")
                    && !rel.ends_with("__pycache__")
                {
                    stack.push(p);
                }
            } else if is_code(&rel) {
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn is_code(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    const EXT: &[&str] = &[
        "rs", "py", "js", "ts", "css", "scss", "go", "c", "h", "java", "sh", "rb", "lua", "tf",
        "nix", "bzl", "gradle", "cmake", "ps1", "pyx", "cljs", "elm", "asm", "f90", "cu", "mjs",
        "cjs", "tsx", "jsx", "cpp", "hpp", "cc", "kt", "swift", "php", "pl", "pm", "less", "sass",
        "zig", "sql", "vue", "svelte",
    ];
    const NAMES: &[&str] = &[
        "Makefile",
        "GNUmakefile",
        "CMakeLists.txt",
        "Dockerfile",
        "Containerfile",
        "Jenkinsfile",
        "Justfile",
        "justfile",
        "Rakefile",
        "BUILD",
        "BUILD.bazel",
    ];
    NAMES.contains(&name)
        || name.starts_with("Dockerfile.")
        || ext.is_some_and(|e| EXT.contains(&e.as_str()))
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    template: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let template = root.join("template");
        let empty = root.join("git-template");
        std::fs::create_dir_all(&empty).unwrap();
        let ok = Command::new("sh")
            .arg(fixtures().join("make-fixture.sh"))
            .arg(&template)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TEMPLATE_DIR", &empty)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "make-fixture.sh failed");
        World {
            _tmp: tmp,
            root,
            template,
        }
    }

    /// A fresh copy of the project and fresh HOME, TMPDIR and state folders for case `n`.
    fn fresh(&self, n: usize) -> Sandbox {
        let dir = self.root.join(format!("case-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let project = dir.join("proj");
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&self.template)
            .arg(&project)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        for d in ["home", "tmp", "state"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        Sandbox { dir, project }
    }
}

struct Sandbox {
    dir: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn envs(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HOME", self.dir.join("home")),
            ("TMPDIR", self.dir.join("tmp")),
            ("OFFLOAD_HOME", self.dir.join("state")),
            ("CLAUDE_PROJECT_DIR", self.project.clone()),
        ]
    }

    fn hook(&self, payload: &Value) -> (String, i32) {
        let mut child = Command::new(HOOK)
            .current_dir(&self.project)
            .env_remove("OFFLOAD_MODE")
            .envs(self.envs())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// Start the project's watcher and let one watched command take its mark, as after the
    /// first watched command of a session.
    fn warm_watcher(&self, n: usize) -> std::process::Child {
        let state = self.dir.join("state");
        let child = Command::new(HOOK)
            .arg("--watch")
            .arg(&self.project)
            .arg(state.join("config.json"))
            .arg(&state)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        let ready = || {
            std::fs::read_dir(state.join("guard"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".pid"))
        };
        while !ready() {
            assert!(Instant::now() < until, "the watcher did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        // (PreToolUse takes the mark; the command itself need not run.)
        let warm = "python3 -c pass";
        for (event, tool) in [("PreToolUse", "a"), ("PostToolUse", "a")] {
            let p = json!({
                "session_id": "s-corpus", "cwd": self.project, "hook_event_name": event,
                "tool_name": "Bash", "tool_input": {"command": warm},
                "tool_use_id": format!("toolu_warm_{n}_{tool}"),
                "tool_response": {"stdout": "", "stderr": ""},
            });
            self.hook(&p);
        }
        child
    }

    /// Run the command as Claude Code's Bash tool would: `bash -c`, in the project, bounded.
    /// The command with its literal `/tmp/` moved into this case's own TMPDIR.
    fn own(&self, command: &str) -> String {
        command.replace("/tmp/", &format!("{}/", self.dir.join("tmp").display()))
    }

    fn run(&self, command: &str) -> i32 {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(command)
            .current_dir(&self.project)
            .env_remove("OFFLOAD_MODE")
            .envs(self.envs())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(1);
            }
            if Instant::now() > deadline {
                unsafe { libc_kill(-(child.id() as i32)) };
                let _ = child.wait();
                return 124;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

use std::os::unix::process::CommandExt;

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

unsafe fn libc_kill(pgid: i32) {
    unsafe {
        kill(pgid, 9);
    }
}

#[derive(Default, Debug)]
struct Tally {
    writes: usize,
    inert: Vec<String>,
    denied: usize,
    undone: usize,
    escaped: Vec<String>,
    restorable: usize,
    not_restorable: Vec<String>,
    harmless: usize,
    false_blocks: Vec<String>,
    policy: usize,
    /// Commands PreToolUse watched (took a snapshot for), and of those, how many through a warm
    /// watcher.
    watched: usize,
    warm: usize,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.writes += o.writes;
        self.inert.extend(o.inert);
        self.denied += o.denied;
        self.undone += o.undone;
        self.escaped.extend(o.escaped);
        self.restorable += o.restorable;
        self.not_restorable.extend(o.not_restorable);
        self.harmless += o.harmless;
        self.false_blocks.extend(o.false_blocks);
        self.policy += o.policy;
        self.watched += o.watched;
        self.warm += o.warm;
    }
}

/// Each case is played twice, each time on a fresh project:
/// - as the first command of a session: PreToolUse finds no watcher and walks the project (and
///   starts one), PostToolUse walks it again;
/// - with the project's watcher warm (started, and a first watched command has taken its mark):
///   PreToolUse and PostToolUse look only at what the watcher reports touched.
#[test]
fn corpus_played_end_to_end() {
    let world = World::new();
    let original = code_files(&world.template);
    let cases = corpus();
    let walked = std::sync::Mutex::new(Tally::default());
    let warmed = std::sync::Mutex::new(Tally::default());
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Cases run in parallel, each in its own folders; a case's literal `/tmp/` is its own
    // TMPDIR, so scratch names shared between cases cannot collide.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(n) else { break };
                    if case.expect_write {
                        // Control: without the hook, does this command change code here at all?
                        let control = world.fresh(n);
                        control.run(&control.own(&case.command));
                        let inert = code_files(&control.project) == original;
                        let _ = std::fs::remove_dir_all(&control.dir);
                        if inert {
                            walked.lock().unwrap().inert.push(case.id.clone());
                            continue;
                        }
                    }
                    // The watcher matters only to the commands PreToolUse watches (a denial or a
                    // command read completely is decided before any snapshot).
                    if play(&world, &original, n, case, &walked, false) {
                        play(&world, &original, n, case, &warmed, true);
                    }
                }
            });
        }
    });
    let walked = walked.into_inner().unwrap();
    let warmed = warmed.into_inner().unwrap();
    eprintln!(
        "with a warm watcher: {} of {} watched commands checked through it",
        warmed.warm, warmed.watched
    );
    assert!(
        warmed.watched >= 300,
        "watched commands: {}",
        warmed.watched
    );
    assert_eq!(
        warmed.warm, warmed.watched,
        "every watched command's snapshot came from the watcher"
    );
    let inert = walked.inert.clone();
    report(walked, &inert, "", 200);
    // The rates of this subset are the stricter figure: every case in it reached the check.
    report(
        warmed,
        &inert,
        " (the watched cases again, with a warm watcher)",
        120,
    );
}

fn report(t: Tally, inert: &[String], label: &str, least: usize) {
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    eprintln!(
        "effect corpus{}: {} write cases ({} denied before running, {} undone, {} escaped = {:.1}%; \
         {} undone writes restorable of {}), {} skipped as inert here; {} harmless cases, {} blocked = {:.1}%; {} denied by policy as expected",
        label,
        t.writes,
        t.denied,
        t.undone,
        t.escaped.len(),
        pct(t.escaped.len(), t.writes),
        t.restorable,
        t.undone,
        inert.len(),
        t.harmless,
        t.false_blocks.len(),
        pct(t.false_blocks.len(), t.harmless),
        t.policy,
    );
    eprintln!("escaped: {:?}", t.escaped);
    eprintln!("false blocks: {:#?}", t.false_blocks);
    eprintln!("inert here: {inert:?}");
    assert!(
        t.writes >= least && t.harmless >= least,
        "the corpus shrank: {} writes, {} harmless",
        t.writes,
        t.harmless
    );
    assert!(
        pct(t.escaped.len(), t.writes) <= 2.0,
        "writes that left code changed: {:?}",
        t.escaped
    );
    assert!(
        pct(t.false_blocks.len(), t.harmless) <= 1.0,
        "harmless commands blocked: {:#?}",
        t.false_blocks
    );
    assert!(t.not_restorable.is_empty(), "{:?}", t.not_restorable);
    assert_eq!(t.restorable, t.undone);
}

fn play(
    world: &World,
    original: &BTreeMap<String, Vec<u8>>,
    n: usize,
    case: &Case,
    tally: &std::sync::Mutex<Tally>,
    warm: bool,
) -> bool {
    let mut t = Tally::default();
    let sb = world.fresh(n);
    let mut watcher = warm.then(|| sb.warm_watcher(n));
    let command = sb.own(&case.command);
    let pre = json!({
        "session_id": "s-corpus", "cwd": sb.project, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": command, "description": "x"},
        "tool_use_id": format!("toolu_{n}"),
    });
    let (out, code) = sb.hook(&pre);
    let denied = out.contains("\"deny\"") || code == 2;
    let pending = sb
        .dir
        .join(format!("state/guard/pending/s-corpus--toolu_{n}.snap"));
    if let Ok(text) = std::fs::read(&pending) {
        t.watched += 1;
        // The header: format, project, repository, watcher id, mark, base.
        let head = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let fields: Vec<&[u8]> = head.split(|&b| b == b'\t').collect();
        if fields.len() == 6 && !fields[3].is_empty() && !fields[5].is_empty() {
            t.warm += 1;
        }
    }
    let mut undone_id = None;
    if !denied {
        let status = sb.run(&command);
        let event = if status == 0 {
            "PostToolUse"
        } else {
            "PostToolUseFailure"
        };
        let post = json!({
            "session_id": "s-corpus", "cwd": sb.project, "hook_event_name": event,
            "tool_name": "Bash", "tool_input": {"command": command, "description": "x"},
            "tool_use_id": format!("toolu_{n}"), "tool_response": {"stdout": "", "stderr": ""},
        });
        let (out, _) = sb.hook(&post);
        if let Some(i) = out.find("offload restore ") {
            let id: String = out[i + 16..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            undone_id = Some(id);
        }
    }
    let after = code_files(&sb.project);
    if case.expect_write {
        t.writes += 1;
        if denied {
            t.denied += 1;
        } else if after != *original {
            t.escaped.push(case.id.clone());
        } else if let Some(id) = &undone_id {
            t.undone += 1;
            let store = shared::policy::effect::Store::new(&sb.dir.join("state"));
            match shared::policy::effect::restore(&store, id) {
                Ok(_) if code_files(&sb.project) != *original => t.restorable += 1,
                other => t.not_restorable.push(format!("{}: {other:?}", case.id)),
            }
        }
    } else {
        if case.policy_deny {
            t.policy += 1;
            if !denied {
                t.escaped.push(format!("{} (policy)", case.id));
            }
        } else {
            t.harmless += 1;
        }
        if !case.policy_deny && (denied || undone_id.is_some()) {
            t.false_blocks
                .push(format!("{} ({})", case.id, out_summary(&out)));
        }
    }
    if let Some(w) = watcher.as_mut() {
        // Started by this test: ended by its pid.
        let _ = w.kill();
        let _ = w.wait();
    }
    let _ = std::fs::remove_dir_all(&sb.dir);
    let watched = t.watched > 0;
    let mut all = tally.lock().unwrap();
    all.add(t);
    watched
}

fn out_summary(out: &str) -> String {
    out.chars().take(300).collect()
}
