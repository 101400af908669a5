//! The `codex exec` command line offload runs, built in one place.
//!
//! `codex exec --json --skip-git-repo-check -m M -s S -C DIR -c model_reasoning_effort="E"
//! -c approval_policy="never" -o LAST -- PROMPT`
//!
//! Never `--full-auto`: Codex removed it (~0.147) and now exits 2 when given it; `-s` plus
//! `approval_policy="never"` is its equivalent. `--skip-git-repo-check` lets codex run outside a
//! git repository. The prompt goes after `--` so a prompt starting with `-` is not a flag.
//!
//! A prompt longer than [`MAX_ARG_PROMPT`] (or one holding a NUL, which no argument can, or `-`
//! itself) goes to codex on its stdin instead, with `-` in its place: Linux caps one argument at
//! 128 KiB (and all of them, with the environment, at `ARG_MAX`), so `git diff | offload run -`
//! would otherwise not start. codex 0.171.0 reads a `-` prompt from stdin as it is, for a new
//! thread and for `exec resume` alike. A short prompt stays an argument, as it always was.
//!
//! Continuing a thread is the same line with `resume THREAD_ID` before the `--`:
//! `codex exec … -o LAST resume THREAD_ID -- PROMPT`. The options stay in front of the
//! subcommand: `exec resume` itself rejects `-s` and `-C` (exit 2), while the same options
//! given to `exec` apply to the resumed thread (codex 0.171.0: the request carries the new
//! folder and sandbox, and `-m`, `-c` and `-o` work as for a new thread).

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Codex's sandbox modes (`-s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl Sandbox {
    pub const ALL: [Sandbox; 3] = [
        Sandbox::ReadOnly,
        Sandbox::WorkspaceWrite,
        Sandbox::DangerFullAccess,
    ];

    /// The name codex accepts for `-s`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sandbox::ReadOnly => "read-only",
            Sandbox::WorkspaceWrite => "workspace-write",
            Sandbox::DangerFullAccess => "danger-full-access",
        }
    }
}

impl FromStr for Sandbox {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Sandbox::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown sandbox {s:?}: use read-only, workspace-write or danger-full-access"
                )
            })
    }
}

impl std::fmt::Display for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest prompt given to codex as an argument, in bytes; a longer one goes on its stdin.
/// Well under Linux's 128 KiB for one argument, leaving room for the environment in `ARG_MAX`.
pub const MAX_ARG_PROMPT: usize = 32 << 10;

/// One `codex exec` invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecSpec {
    pub model: String,
    pub sandbox: Sandbox,
    pub dir: PathBuf,
    pub effort: String,
    /// Where codex writes its last message (`-o`).
    pub last_message: PathBuf,
    pub prompt: String,
    /// The thread to continue (`exec resume`), if any.
    pub resume: Option<String>,
}

impl ExecSpec {
    /// Whether codex reads the prompt from its stdin (the argument is then `-`): the runner must
    /// give it the prompt there. Also for the prompt `-` itself, which codex would take as
    /// "read stdin".
    pub fn prompt_on_stdin(&self) -> bool {
        self.prompt.len() > MAX_ARG_PROMPT || self.prompt.contains('\0') || self.prompt == "-"
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::with_capacity(20);
        let mut push = |s: &str| a.push(OsString::from(s));
        push("exec");
        push("--json");
        push("--skip-git-repo-check");
        push("-m");
        push(&self.model);
        push("-s");
        push(self.sandbox.as_str());
        push("-C");
        a.push(self.dir.clone().into_os_string());
        let mut push = |s: &str| a.push(OsString::from(s));
        push("-c");
        push(&format!(
            "model_reasoning_effort={}",
            toml_string(&self.effort)
        ));
        push("-c");
        push("approval_policy=\"never\"");
        push("-o");
        a.push(self.last_message.clone().into_os_string());
        if let Some(thread) = &self.resume {
            a.push(OsString::from("resume"));
            a.push(OsString::from(thread));
        }
        a.push(OsString::from("--"));
        if self.prompt_on_stdin() {
            a.push(OsString::from("-"));
        } else {
            a.push(OsString::from(&self.prompt));
        }
        a
    }
}

/// A TOML basic string literal for `-c key=value`.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prompt: &str) -> ExecSpec {
        ExecSpec {
            model: "gpt-5.3-codex".into(),
            sandbox: Sandbox::WorkspaceWrite,
            dir: PathBuf::from("/w"),
            effort: "xhigh".into(),
            last_message: PathBuf::from("/r/last.txt"),
            prompt: prompt.into(),
            resume: None,
        }
    }

    fn line(spec: &ExecSpec) -> Vec<String> {
        spec.args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn exact_command_line() {
        let args: Vec<String> = spec("fix it")
            .args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args.join(" "),
            "exec --json --skip-git-repo-check -m gpt-5.3-codex -s workspace-write -C /w \
             -c model_reasoning_effort=\"xhigh\" -c approval_policy=\"never\" -o /r/last.txt -- fix it"
        );
        assert!(!args.iter().any(|a| a == "--full-auto"));
    }

    #[test]
    fn resume_keeps_the_options_in_front_of_the_subcommand() {
        let spec = ExecSpec {
            resume: Some("01a22949-b252-7403-8c20-d445b026120d".into()),
            ..spec("now fix the failing test")
        };
        assert_eq!(
            line(&spec),
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "-m",
                "gpt-5.3-codex",
                "-s",
                "workspace-write",
                "-C",
                "/w",
                "-c",
                "model_reasoning_effort=\"xhigh\"",
                "-c",
                "approval_policy=\"never\"",
                "-o",
                "/r/last.txt",
                "resume",
                "01a22949-b252-7403-8c20-d445b026120d",
                "--",
                "now fix the failing test",
            ]
        );
    }

    #[test]
    fn a_resumed_prompt_is_one_argument_however_it_reads() {
        for prompt in ["--last", "-", "two words; $(rm -rf /) 'q' \"dq\"\nline"] {
            let args = line(&ExecSpec {
                resume: Some("t".into()),
                effort: "a\"b".into(),
                ..spec(prompt)
            });
            let n = args.len();
            assert_eq!(args[n - 4..n - 1], ["resume", "t", "--"], "{prompt:?}");
            assert_eq!(args[n - 1], prompt);
            assert!(args.contains(&"model_reasoning_effort=\"a\\\"b\"".to_string()));
        }
    }

    #[test]
    fn a_long_prompt_goes_on_stdin_and_a_short_one_stays_an_argument() {
        let fits = "p".repeat(MAX_ARG_PROMPT);
        for prompt in [fits.clone(), "fix it".into()] {
            let s = spec(&prompt);
            assert!(!s.prompt_on_stdin());
            assert_eq!(line(&s).last().unwrap(), &prompt);
        }
        let long = format!("{fits}!");
        for s in [
            spec(&long),
            spec("a NUL \0 no argument can hold"),
            spec("-"),
            ExecSpec {
                resume: Some("t".into()),
                ..spec(&long)
            },
        ] {
            assert!(s.prompt_on_stdin());
            let args = line(&s);
            assert_eq!(args[args.len() - 2..], ["--", "-"]);
            assert!(args.iter().all(|a| a.len() < 1024), "no argument holds it");
        }
    }

    #[test]
    fn dash_prompt_is_not_a_flag() {
        let args = spec("--help me").args();
        let n = args.len();
        assert_eq!(args[n - 2], "--");
        assert_eq!(args[n - 1], "--help me");
    }

    #[test]
    fn effort_is_quoted_as_toml() {
        assert_eq!(toml_string("x\"y"), "\"x\\\"y\"");
    }

    #[test]
    fn sandbox_names() {
        for s in Sandbox::ALL {
            assert_eq!(s.as_str().parse::<Sandbox>().unwrap(), s);
        }
        assert!("full".parse::<Sandbox>().is_err());
    }
}
