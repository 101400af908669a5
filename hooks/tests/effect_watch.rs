//! The effect check with its watcher (`offload-hook --watch`), as the real hook processes run
//! it around commands run for real: what the watcher must see, what happens when it is gone or
//! replaced while a command runs, and that it ends with its project.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

struct Project {
    _t: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    state: PathBuf,
    n: std::cell::Cell<usize>,
}

impl Project {
    fn new() -> Project {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let dir = root.join("p");
        std::fs::create_dir_all(dir.join("src/deep")).unwrap();
        for i in 0..20 {
            std::fs::write(
                dir.join(format!("src/f{i}.rs")),
                format!("fn f{i}() {{}}\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.join("src/deep/d.py"), "x = 1\n").unwrap();
        std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
        common::commit_all(&dir);
        // Uncommitted work of the user's: kept by copy, not by git.
        std::fs::write(dir.join("src/f0.rs"), "// the user's work\n").unwrap();
        Project {
            _t: t,
            state: root.join("state"),
            root,
            dir,
            n: std::cell::Cell::new(0),
        }
    }

    fn hook(&self, event: &str, command: &str) -> String {
        let payload = json!({"session_id": "s1", "cwd": self.dir, "hook_event_name": event,
            "tool_name": "Bash", "tool_input": {"command": command},
            "tool_use_id": format!("toolu_{}", self.n.get()),
            "tool_response": {"stdout": "", "stderr": ""}});
        common::hook(&self.dir, &self.state, &payload, None)
    }

    /// PreToolUse, then `between` (the pending snapshot's header in hand), the command, PostToolUse.
    fn play_with(&self, command: &str, between: impl FnOnce(&str)) -> String {
        self.n.set(self.n.get() + 1);
        let pre = self.hook("PreToolUse", command);
        assert!(!pre.contains("\"deny\""), "{command}: denied: {pre}");
        let pending = self
            .state
            .join(format!("guard/pending/s1--toolu_{}.snap", self.n.get()));
        let text = std::fs::read_to_string(&pending).unwrap_or_default();
        between(text.lines().next().unwrap_or_default());
        let ok = Command::new("bash")
            .arg("-c")
            .arg(command)
            .current_dir(&self.dir)
            .env("TMPDIR", self.root.join("tmp"))
            .status()
            .unwrap();
        assert!(ok.success(), "{command}");
        self.hook("PostToolUse", command)
    }

    fn play(&self, command: &str) -> String {
        self.play_with(command, |_| {})
    }

    /// A command that runs Python `code` from a script file: what the analyzer cannot read, so
    /// it is watched.
    fn script(&self, code: &str) -> String {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let path = tmp.join(format!("s{}.py", self.n.get() + 1));
        std::fs::write(&path, code.replace("TMP", &tmp.display().to_string())).unwrap();
        format!("python3 {}", path.display())
    }

    /// Every code file of the project (path → bytes).
    fn code(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if e.file_name() == ".git" {
                    continue;
                }
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs" || x == "py") {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn pid_file(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.state.join("guard"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "pid"))
    }

    /// The watcher's pid, once it answers.
    fn watcher(&self) -> i32 {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(p) = self.pid_file()
                && let Ok(t) = std::fs::read_to_string(&p)
                && let Some(Ok(pid)) = t.trim().split(':').next().map(str::parse)
            {
                return pid;
            }
            assert!(Instant::now() < until, "no watcher started");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Start the watcher the way the hook does (the first watched command) and let a second
    /// command take its mark.
    fn warm(&self) -> i32 {
        std::fs::create_dir_all(self.root.join("tmp")).unwrap();
        self.play("python3 -c pass");
        let pid = self.watcher();
        self.play("python3 -c pass");
        pid
    }
}

fn alive(pid: i32) -> bool {
    // Not a zombie either: the watcher is not our child, so it is reaped by another.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The header of a snapshot checked through the watcher names it and a base.
fn through_watcher(header: &str) -> bool {
    let f: Vec<&str> = header.split('\t').collect();
    f.len() == 6 && !f[3].is_empty() && !f[5].is_empty()
}

#[test]
fn a_warm_watcher_sees_every_kind_of_write() {
    let p = Project::new();
    let pid = p.warm();
    let before = p.code();
    let writes = [
        // in place, new file, deletion, rename, a new folder tree
        "open('src/f1.rs','w').write('evil')",
        "open('src/new.rs','w').write('evil')",
        "import os; os.remove('src/f2.rs')",
        "import os; os.rename('src/f3.rs','src/f3b.rs')",
        "import os; os.makedirs('src/n/m'); open('src/n/m/z.rs','w').write('evil')",
        // through a hard link made outside the project, in the same command
        "import os; os.link('src/f4.rs','TMP/h'); open('TMP/h','w').write('evil'); os.remove('TMP/h')",
        // the user's uncommitted file, truncated by a low-level write
        "import os; fd=os.open('src/f0.rs', os.O_WRONLY|os.O_TRUNC); os.write(fd, b'evil')",
        // a write through a memory map, the file closed first
        "import mmap; f=open('src/f5.rs','r+b'); m=mmap.mmap(f.fileno(),0); f.close(); m[0:4]=b'evil'; m.flush()",
        // the same by a child that keeps the file open past PostToolUse (opened during the command)
        "import mmap,os,time\nf=open('src/f9.rs','r+b'); m=mmap.mmap(f.fileno(),0)\nif os.fork()==0:\n  m[0:4]=b'evil'; m.flush(); time.sleep(1.5); os._exit(0)\ntime.sleep(0.3)",
        // names that are not UTF-8, a file and a folder
        "open(b'src/\\xff.rs','w').write('evil')",
        "import os; os.makedirs(b'src/\\xff\\xfe'); open(b'src/\\xff\\xfe/e.rs','w').write('evil')",
    ];
    for code in writes {
        let cmd = p.script(code);
        let mut header = String::new();
        let post = p.play_with(&cmd, |h| header = h.to_string());
        assert!(
            through_watcher(&header),
            "{cmd}: not through the watcher: {header}"
        );
        assert!(post.contains("undid"), "{cmd}: {post}");
        assert_eq!(p.code(), before, "{cmd}: the code changed");
        // The same watcher still runs: PostToolUse had its answer, not a walk.
        assert!(alive(pid), "{code}: the watcher stopped");
    }
    // A harmless command stays harmless, and nothing is undone.
    let post = p.play(&p.script("open('README.md','w').write('notes')"));
    assert!(!post.contains("undid"), "{post}");
}

#[test]
fn a_folder_moved_away_stops_the_watcher_and_the_walk_still_undoes() {
    let p = Project::new();
    let pid = p.warm();
    let before = p.code();
    let cmd = p.script(
        "import os; os.rename('src/deep','TMP/deep'); open('TMP/deep/d.py','w').write('evil'); os.rename('TMP/deep','src/deep')",
    );
    let post = p.play(&cmd);
    assert!(post.contains("undid"), "{post}");
    assert_eq!(p.code(), before);
    let until = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < until,
            "the watcher did not stop after losing track"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_watcher_killed_or_replaced_during_the_command_is_not_believed() {
    let p = Project::new();
    let pid = p.warm();
    let before = p.code();
    // Killed between PreToolUse and the command: PostToolUse walks the project.
    let cmd = p.script("open('src/f6.rs','w').write('evil')");
    let post = p.play_with(&cmd, |h| {
        assert!(through_watcher(h), "{h}");
        // SAFETY: the watcher this test's hook started, by its pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    assert!(post.contains("undid"), "{post}");
    assert_eq!(p.code(), before);
    // An impostor on the watcher's address, answering "nothing touched": not the hook's own
    // program, so not believed.
    let pid = p.warm();
    let key = p
        .pid_file()
        .unwrap()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("watch-")
        .to_string();
    let uid = unsafe { libc::getuid() };
    let impostor_code = format!(
        "import socket,sys\ns=socket.socket(socket.AF_UNIX)\n\
         while True:\n  try:\n    s.bind('\\0offload-watch/{uid}/{key}'); break\n  except OSError: pass\n\
         s.listen(8)\nprint('ready', flush=True)\n\
         while True:\n  c,_=s.accept(); c.recv(100); c.sendall(b'offload-watch 1\\t99\\tknown\\n.\\n'); c.close()\n"
    );
    let mut impostor = Command::new("python3")
        .arg("-c")
        .arg(&impostor_code)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cmd = p.script("open('src/f7.rs','w').write('evil')");
    let post = p.play_with(&cmd, |_| {
        // SAFETY: the watcher this test's hook started, by its pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(impostor.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
    });
    let _ = impostor.kill();
    let _ = impostor.wait();
    assert!(post.contains("undid"), "{post}");
    assert_eq!(p.code(), before);
}

#[test]
fn a_user_edit_between_commands_is_the_new_baseline() {
    let p = Project::new();
    p.warm();
    // The user edits between two commands (unwatched): the next snapshot keeps the edit, and a
    // command that overwrites it gets the user's version back, not the committed one.
    std::fs::write(p.dir.join("src/f8.rs"), "// the user's newer edit\n").unwrap();
    let post = p.play(&p.script("open('src/f8.rs','w').write('evil')"));
    assert!(post.contains("undid"), "{post}");
    assert_eq!(
        std::fs::read_to_string(p.dir.join("src/f8.rs")).unwrap(),
        "// the user's newer edit\n"
    );
}

#[test]
fn the_watcher_ends_with_its_project() {
    let p = Project::new();
    let pid = p.warm();
    assert!(alive(pid));
    std::fs::remove_dir_all(&p.dir).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < until, "the watcher outlived its project");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(p.pid_file().is_none(), "its pid file is removed");
}

#[test]
fn claude_code_settings_are_watched_for_what_they_do_to_the_guard() {
    let p = Project::new();
    std::fs::create_dir_all(p.dir.join(".claude")).unwrap();
    let wired = r#"{"hooks":{"PreToolUse":[{"matcher":"Edit|Write|Bash","hooks":[{"type":"command","command":"/x/offload-hook"}]}]}}"#;
    std::fs::write(p.dir.join(".claude/settings.json"), wired).unwrap();
    for warm in [false, true] {
        if warm {
            p.warm();
        }
        // Switching the guard off through a script: undone, whatever the file.
        for code in [
            "open('.claude/settings.local.json','w').write('{\"disableAllHooks\": true}')",
            "open('.claude/settings.json','w').write('{\"permissions\": {}}')",
            "import json; d=json.load(open('.claude/settings.json')); d['env']={'OFFLOAD_MODE':'off'}; json.dump(d, open('.claude/settings.json','w'))",
        ] {
            let post = p.play(&p.script(code));
            assert!(post.contains("undid"), "warm {warm}: {code}: {post}");
            assert_eq!(
                std::fs::read_to_string(p.dir.join(".claude/settings.json")).unwrap(),
                wired,
                "{code}"
            );
            assert!(
                !p.dir.join(".claude/settings.local.json").exists()
                    || !std::fs::read_to_string(p.dir.join(".claude/settings.local.json"))
                        .unwrap()
                        .contains("disableAllHooks"),
                "{code}"
            );
        }
        // What a red team wrote with Bash (round 7): env that runs every hook through a prefix
        // (B1b), a hook of Claude's own (B10), a value Claude Code's schema rejects (B11).
        for (code, mark) in [
            (
                "open('.claude/settings.local.json','w').write('{\"env\":{\"CLAUDE_CODE_SHELL_PREFIX\":\"/tmp/p.sh\"}}')",
                "CLAUDE_CODE_SHELL_PREFIX",
            ),
            (
                "open('.claude/settings.local.json','w').write('{\"hooks\":{\"PreToolUse\":[{\"matcher\":\"Write\",\"hooks\":[{\"type\":\"command\",\"command\":\"python3 /tmp/rw.py\"}]}]}}')",
                "rw.py",
            ),
            (
                "import json; d=json.load(open('.claude/settings.json')); d['permissions']=5; json.dump(d, open('.claude/settings.json','w'))",
                "permissions",
            ),
        ] {
            let post = p.play(&p.script(code));
            assert!(post.contains("undid"), "warm {warm}: {code}: {post}");
            for f in [".claude/settings.json", ".claude/settings.local.json"] {
                let now = std::fs::read_to_string(p.dir.join(f)).unwrap_or_default();
                assert!(!now.contains(mark), "warm {warm}: {code}: {f}: {now}");
            }
        }
        // A change that leaves the guard as it was stays.
        let code = "import json; d=json.load(open('.claude/settings.json')); d['permissions']={'allow':['Bash(ls:*)']}; json.dump(d, open('.claude/settings.json','w'))";
        let post = p.play(&p.script(code));
        assert!(!post.contains("undid"), "warm {warm}: {post}");
        assert!(
            std::fs::read_to_string(p.dir.join(".claude/settings.json"))
                .unwrap()
                .contains("Bash(ls:*)")
        );
        std::fs::write(p.dir.join(".claude/settings.json"), wired).unwrap();
    }
}

#[test]
fn the_projects_mcp_json_is_watched_for_the_servers_it_defines() {
    let p = Project::new();
    let before = r#"{"mcpServers":{"fs":{"command":"mcp-fs"},"old":{"command":"x"}}}"#;
    std::fs::write(p.dir.join(".mcp.json"), before).unwrap();
    for warm in [false, true] {
        if warm {
            p.warm();
        }
        // A server added or changed through a script (round 9, N2): undone.
        for code in [
            "import json; d=json.load(open('.mcp.json')); d['mcpServers']['notes']={'command':'sh'}; json.dump(d, open('.mcp.json','w'))",
            "import json; d=json.load(open('.mcp.json')); d['mcpServers']['fs']={'command':'sh'}; json.dump(d, open('.mcp.json','w'))",
            "import os; os.remove('.mcp.json'); open('.mcp.json','w').write('{\"mcpServers\":{\"notes\":{\"command\":\"sh\"}}}')",
        ] {
            let post = p.play(&p.script(code));
            assert!(post.contains("undid"), "warm {warm}: {code}: {post}");
            assert_eq!(
                std::fs::read_to_string(p.dir.join(".mcp.json")).unwrap(),
                before,
                "warm {warm}: {code}"
            );
        }
        // Taking a server out leaves the guard as it was: it stays.
        let code = "import json; d=json.load(open('.mcp.json')); del d['mcpServers']['old']; json.dump(d, open('.mcp.json','w'))";
        let post = p.play(&p.script(code));
        assert!(!post.contains("undid"), "warm {warm}: {post}");
        assert!(
            !std::fs::read_to_string(p.dir.join(".mcp.json"))
                .unwrap()
                .contains("old")
        );
        std::fs::write(p.dir.join(".mcp.json"), before).unwrap();
    }
}
