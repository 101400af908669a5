//! offload's JSON config: every field has its default here, in code, so a missing file, a
//! missing key or a key from a newer version all mean "use the default".
//!
//! Precedence: flag > environment (applied by [`Config::apply_env`]) > file > default.
//! A file that cannot be read or parsed never stops offload: it yields a [`Warning`] naming
//! the file and the defaults are used. An environment variable with an unusable value likewise
//! yields a warning and is ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env;

/// The whole config file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `offload run` settings.
    pub runner: RunnerConfig,
    /// The guard (`offload-hook`) settings; a project may override them in
    /// `.claude/offload.json` (see [`Config::load_for_project`]).
    pub guard: GuardConfig,
    /// `offload-statusline` settings.
    pub statusline: StatuslineConfig,
}

/// Settings of `offload-statusline`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatuslineConfig {
    /// The line, with placeholders: `{tokens}` (this session's Codex tokens), `{total}` (all
    /// sessions), `{sf}` (this session's successes/failures), `{rl}` (Codex 5-hour window:
    /// remaining %@reset), `{weekly}` (the weekly window), `{claude}` (Claude's own 5-hour limit,
    /// when Claude Code sends it), `{share}` (Codex's share of this session's tokens).
    pub format: String,
    /// Show the weekly Codex window (appended to the default format).
    pub weekly: bool,
    /// Show Claude's own rate limit when Claude Code sends one (appended).
    pub claude: bool,
    /// Show Codex's share of this session's tokens (appended).
    pub share: bool,
    /// ANSI colours (also off when `NO_COLOR` is set).
    pub color: bool,
    /// Remaining percent at or below which the limit shows red.
    pub low_remaining: f64,
    /// Remaining percent at or below which the limit shows yellow.
    pub warn_remaining: f64,
    /// How long `--wrap`'s command may take, in milliseconds.
    pub wrap_timeout_ms: u64,
}

impl Default for StatuslineConfig {
    fn default() -> Self {
        StatuslineConfig {
            format: "Offload C:{tokens} Σ:{total} | S/F C:{sf} | RL C:{rl}".into(),
            weekly: false,
            claude: false,
            share: false,
            color: true,
            low_remaining: 15.0,
            warn_remaining: 40.0,
            wrap_timeout_ms: 1000,
        }
    }
}

/// How the guard acts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny Codex-eligible work until a Codex attempt; fail closed after a failure.
    #[default]
    Enforce,
    /// Never block: tell Claude what would have been denied, and record it.
    Warn,
    /// Do nothing.
    Off,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" | "on" | "1" => Some(Mode::Enforce),
            "warn" => Some(Mode::Warn),
            "off" | "0" => Some(Mode::Off),
            _ => None,
        }
    }
}

/// Settings of the guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardConfig {
    /// `enforce`, `warn` or `off` (`OFFLOAD_MODE` overrides).
    pub mode: Mode,
    /// `Agent`/`Task` subagent types that count as exploration to route to Codex.
    pub subagent_types: Vec<String>,
    /// Paths (relative to the project, `/`-separated, matched case-insensitively) that are code.
    ///
    /// The rule: *source a person authors that a machine runs, builds or renders*. That is every
    /// programming, shader, stylesheet, template and infrastructure language by extension, and the
    /// build and CI files known by name (`Makefile`, `CMakeLists.txt`, `Dockerfile*`,
    /// `Containerfile`, `Jenkinsfile`, `Justfile`, `Rakefile`, `BUILD`, `*.gradle*`, …). Not code:
    /// prose (`*.md`, `*.txt`, `*.rst`) and data or configuration (`*.json`, `*.yaml`, `*.toml`,
    /// `*.csv`, lock files), which Claude edits natively all day and Codex offers no saving on.
    /// A list rather than "everything but an exempt list": a newcomer's own data files never
    /// block, and a language offload does not know is one glob away in config.
    pub code_globs: Vec<String>,
    /// Paths never treated as code, even when a code glob matches.
    pub exempt_globs: Vec<String>,
    /// Words in a user's prompt that approve a native fallback (case-insensitive).
    pub approval_phrase: String,
    /// How long a Codex attempt unlocks native work: `turn`, `session`, or a duration (`30m`).
    pub attempt_scope: String,
    /// Deny edits that would remove offload's hooks from Claude Code's settings files.
    pub protect_settings: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            mode: Mode::Enforce,
            subagent_types: vec!["Explore".into(), "general-purpose".into()],
            code_globs: vec![
                "**/*.{rs,py,pyi,pyx,pxd,pyw,js,mjs,cjs,jsx,ts,mts,cts,tsx,go,java,kt,kts,scala,sc,groovy,gradle,clj,cljs,cljc,edn,c,h,cc,cpp,cxx,c++,hh,hpp,hxx,h++,ipp,inl,tpp,cu,cuh,m,mm,cs,csx,fs,fsi,fsx,vb,rb,rake,gemspec,php,phtml,swift,dart,lua,pl,pm,t,r,jl,ex,exs,erl,hrl,hs,lhs,ml,mli,elm,purs,nim,cr,d,v,sv,svh,vhd,vhdl,zig,odin,sol,move,cairo,proto,thrift,graphql,gql,sh,bash,zsh,fish,ksh,ps1,psm1,psd1,bat,cmd,awk,sed,sql,vue,svelte,astro,css,scss,sass,less,styl,pcss,html,htm,xhtml,jinja,j2,tmpl,ejs,hbs,mustache,twig,liquid,erb,haml,pug,slim,tf,tfvars,hcl,nix,bzl,bazel,star,cmake,mk,mak,ninja,asm,s,nasm,f,f90,f95,f03,f08,for,ada,adb,ads,pas,pp,lisp,el,scm,ss,rkt,fnl,wat,wasm,glsl,hlsl,wgsl,metal,frag,vert,ipynb,tcl,tk,vim,coffee,litcoffee,res,resi,gleam,pkl,dhall,nu,jsonnet,libsonnet,cue,rego,bicep,gotmpl,tpl,njk,jinja2,cshtml,razor,vbhtml,aspx,ascx,jsp,jspx,gsp,cfm,cfc,rhtml,jade,handlebars,eex,heex,leex,sface,mdx,marko,riot,lit,m4,ac,am,make,gn,gni,sky,bxl,buck,vbs,wsf,ahk,au3,applescript,scpt,osascript,rmd,sas,stata,ado,wl,nb,sci,sce,f77,ftn,cob,cbl,cpy,pli,rpg,abap,dpr,lpr,inc,bas,vba,cls,frm,lsp,cl,elc,sls,sld,janet,hy,cljx,bb,mll,mly,re,rei,fsscript,sml,hsc,idr,lidr,agda,lagda,coq,lean,thy,lfe,nims,di,vsh,vv,c3,hare,jai,mojo,masm,a51,wast,ll,geom,tesc,tese,comp,fx,cg,shader,usf,ush,vy,fc,tact,clar,scilla,avdl,capnp,fbs,prisma,smithy,nomad,pkr,sentinel,psql,plsql,pks,pkb,tsql,cql,cypher,sparql,gvy,ktm,sbt,jav,xaml,tcc,ino,pde,pxi,rpy,gyp,gypi,ru,podspec,jbuilder,php3,php4,php5,phps,pod,psgi,luau,moon,es6,jsm,csh,tcsh,ash,dash,command,tool,envrc,stylus,postcss,shtml}".into(),
                "**/Makefile".into(),
                "**/GNUmakefile".into(),
                "**/makefile".into(),
                "**/CMakeLists.txt".into(),
                "**/Dockerfile".into(),
                "**/Dockerfile.*".into(),
                "**/*.Dockerfile".into(),
                "**/*.dockerfile".into(),
                "**/Containerfile".into(),
                "**/Containerfile.*".into(),
                "**/Jenkinsfile".into(),
                "**/Justfile".into(),
                "**/justfile".into(),
                "**/.justfile".into(),
                "**/Rakefile".into(),
                "**/Gemfile".into(),
                "**/Podfile".into(),
                "**/Fastfile".into(),
                "**/Vagrantfile".into(),
                "**/Brewfile".into(),
                "**/Snakefile".into(),
                "**/Tiltfile".into(),
                "**/Earthfile".into(),
                "**/BUILD".into(),
                "**/BUILD.bazel".into(),
                "**/WORKSPACE".into(),
                "**/WORKSPACE.bazel".into(),
                "**/MODULE.bazel".into(),
                "**/SConstruct".into(),
                "**/SConscript".into(),
                "**/meson.build".into(),
                "**/build.gradle*".into(),
                "**/settings.gradle*".into(),
                "**/Procfile".into(),
                "**/*.containerfile".into(),
                "**/Dockerfile-*".into(),
                "**/Justfile.*".into(),
                "**/*.BUILD".into(),
                "**/Taskfile".into(),
                "**/Caddyfile".into(),
                "**/*.spec".into(),
                "**/*.eclass".into(),
                "**/*.ebuild".into(),
                "**/ebuild".into(),
                "**/APKBUILD".into(),
                "**/Kconfig".into(),
                "**/Kbuild".into(),
                "**/*.mk".into(),
                "**/Package.swift".into(),
                "**/Cartfile".into(),
                "**/Mintfile".into(),
                "**/Gymfile".into(),
                "**/Snapfile".into(),
                "**/Scanfile".into(),
                "**/Deliverfile".into(),
                "**/Pluginfile".into(),
                "**/Matchfile".into(),
                "**/Appfile".into(),
                "**/Dangerfile".into(),
                "**/Thorfile".into(),
                "**/Berksfile".into(),
                "**/Capfile".into(),
                "**/Guardfile".into(),
                "**/Cakefile".into(),
                "**/Pipfile".into(),
                "**/shell.nix".into(),
                "**/default.nix".into(),
                "**/flake.nix".into(),
                "**/build.zig.zon".into(),
                "**/build.zig".into(),
                "**/TARGETS".into(),
                "**/BUCK.v2".into(),
                "**/BUCK".into(),
                "**/PKGBUILD".into(),
                "**/configure".into(),
                "**/configure.ac".into(),
                "**/makefile.inc".into(),
                "**/Makefile.in".into(),
                "**/Makefile.am".into(),
                // git configuration and hooks run programs: they are code too.
                ".git/config".into(),
                ".git/hooks/**".into(),
                ".git/info/attributes".into(),
                "**/.gitattributes".into(),
                "**/.gitconfig".into(),
                "**/*.service".into(),
                "**/.bashrc".into(),
                "**/.zshrc".into(),
                "**/.profile".into(),
                "**/.envrc".into(),
            ],
            exempt_globs: vec![
                "docs/plans/**".into(),
                "**/*.md".into(),
                ".claude/**".into(),
                "**/CLAUDE.md".into(),
            ],
            approval_phrase: "approve fallback".into(),
            attempt_scope: "turn".into(),
            protect_settings: true,
        }
    }
}

/// Settings of `offload run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunnerConfig {
    /// Model when no `--model` and no `--work-type` is given (`CODEX_MODEL`).
    pub model: String,
    /// Model for code, explore and review work (`CODEX_MODEL_CODE`).
    pub model_code: String,
    /// Model for analysis work (`CODEX_MODEL_LOGIC`).
    pub model_logic: String,
    /// Reasoning effort (`CODEX_EFFORT`).
    pub effort: String,
    /// Wall-clock limit per attempt: seconds or humantime (`CODEX_TIMEOUT`).
    pub timeout: String,
    /// Every non-success exits 20 when true (`CODEX_FAIL_CLOSED`).
    pub fail_closed: bool,
    /// The codex executable, a path or a name on `PATH` (`CODEX_BIN`).
    pub codex_bin: String,
    /// Grace between SIGTERM and SIGKILL when ending codex (`OFFLOAD_KILL_GRACE`).
    pub kill_grace: String,
    /// Per-run folders kept under `runs/` (`OFFLOAD_RUNS_KEEP`).
    pub runs_keep: usize,
    /// Sandbox for `--dual` when none is given.
    pub dual_sandbox: String,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            model: "gpt-5.4".into(),
            model_code: "gpt-5.3-codex".into(),
            model_logic: "gpt-5.4".into(),
            effort: "xhigh".into(),
            timeout: "600".into(),
            fail_closed: true,
            codex_bin: "codex".into(),
            kill_grace: "3s".into(),
            runs_keep: 50,
            dual_sandbox: "read-only".into(),
        }
    }
}

/// Something the user should fix, reported without stopping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning(pub String);

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of loading: the config to use, and what was wrong on the way.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
    /// The file the config came from, if one was read successfully.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Load `path` (absent is fine), then apply the environment.
    pub fn load(path: &Path) -> Loaded {
        let mut loaded = Config::load_file(path);
        let mut env_warnings = loaded.config.apply_env();
        loaded.warnings.append(&mut env_warnings);
        loaded
    }

    /// Load the user config, then merge the project's `.claude/offload.json` over it (objects
    /// merge key by key; any other value replaces). Either file broken → a warning naming it,
    /// and that file is ignored. The environment is not applied (see [`Config::apply_env`]).
    pub fn load_for_project(path: &Path, project: Option<&Path>) -> Loaded {
        let mut warnings = Vec::new();
        let mut value = read_value(path, &mut warnings).unwrap_or(serde_json::Value::Null);
        let mut source = (!value.is_null()).then(|| path.to_path_buf());
        if let Some(project) = project {
            let over_path = project.join(".claude").join("offload.json");
            if let Some(over) = read_value(&over_path, &mut warnings) {
                merge(&mut value, over);
                source = Some(over_path);
            }
        }
        if value.is_null() {
            return Loaded {
                warnings,
                ..Loaded::default()
            };
        }
        match serde_json::from_value::<Config>(value) {
            Ok(config) => Loaded {
                config,
                warnings,
                source,
            },
            Err(e) => {
                warnings.push(Warning(format!(
                    "config {} (with the project override) is not valid ({e}); using defaults",
                    path.display()
                )));
                Loaded {
                    warnings,
                    ..Loaded::default()
                }
            }
        }
    }

    /// Load `path` only: absent → defaults, silently; unreadable or invalid → defaults and a warning.
    pub fn load_file(path: &Path) -> Loaded {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::default(),
            Err(e) => {
                return Loaded {
                    warnings: vec![Warning(format!(
                        "cannot read config {}: {e}; using defaults",
                        path.display()
                    ))],
                    ..Loaded::default()
                };
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Loaded::default();
        }
        match serde_json::from_slice::<Config>(&bytes) {
            Ok(config) => Loaded {
                config,
                warnings: vec![],
                source: Some(path.to_path_buf()),
            },
            Err(e) => Loaded {
                warnings: vec![Warning(format!(
                    "config {} is not valid ({e}); using defaults until it is fixed (`offload doctor` checks it)",
                    path.display()
                ))],
                ..Loaded::default()
            },
        }
    }

    /// Override fields from the environment; unusable values are ignored with a warning.
    pub fn apply_env(&mut self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let r = &mut self.runner;
        for (name, field) in [
            (env::CODEX_MODEL, &mut r.model),
            (env::CODEX_MODEL_CODE, &mut r.model_code),
            (env::CODEX_MODEL_LOGIC, &mut r.model_logic),
            (env::CODEX_EFFORT, &mut r.effort),
            (env::CODEX_BIN, &mut r.codex_bin),
        ] {
            if let Some(v) = env::var(name) {
                *field = v.trim().to_string();
            }
        }
        for (name, field) in [
            (env::CODEX_TIMEOUT, &mut r.timeout),
            (env::OFFLOAD_KILL_GRACE, &mut r.kill_grace),
        ] {
            if let Some(v) = env::var(name) {
                match parse_duration(&v) {
                    Ok(_) => *field = v.trim().to_string(),
                    Err(e) => warnings.push(Warning(format!("{name}={v:?} ignored: {e}"))),
                }
            }
        }
        if let Some(v) = env::var(env::CODEX_FAIL_CLOSED) {
            match parse_bool(&v) {
                Some(b) => r.fail_closed = b,
                None => warnings.push(Warning(format!(
                    "{}={v:?} ignored: use 1 or 0",
                    env::CODEX_FAIL_CLOSED
                ))),
            }
        }
        if let Some(v) = env::var(env::OFFLOAD_RUNS_KEEP) {
            match v.trim().parse() {
                Ok(n) => r.runs_keep = n,
                Err(_) => warnings.push(Warning(format!(
                    "{}={v:?} ignored: use a whole number",
                    env::OFFLOAD_RUNS_KEEP
                ))),
            }
        }
        warnings
    }
}

/// A JSON object from `path`: `None` when absent, or (with a warning) unreadable or not an object.
fn read_value(path: &Path, warnings: &mut Vec<Warning>) -> Option<serde_json::Value> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warnings.push(Warning(format!(
                "cannot read config {}: {e}",
                path.display()
            )));
            return None;
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.is_object() => Some(v),
        Ok(_) => {
            warnings.push(Warning(format!(
                "config {} is not a JSON object; ignoring it",
                path.display()
            )));
            None
        }
        Err(e) => {
            warnings.push(Warning(format!(
                "config {} is not valid ({e}); ignoring it until it is fixed",
                path.display()
            )));
            None
        }
    }
}

/// Merge `over` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// `1/true/yes/on` and `0/false/no/off`, any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A duration as plain seconds (`600`, `2.5`) or humantime (`10m`, `1h 30m`, `500ms`).
/// Zero is refused: a zero limit would end every attempt before it starts.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("{s:?} is not a positive number of seconds"));
        }
        Duration::from_secs_f64(secs)
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is neither seconds nor a duration like 10m ({e})"))?
    };
    if d.is_zero() {
        return Err(format!("{s:?} is zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(
            parse_duration(" 500ms ").unwrap(),
            Duration::from_millis(500)
        );
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-3").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn missing_file_is_defaults_without_warning() {
        let dir = tempfile::tempdir().unwrap();
        let l = Config::load_file(&dir.path().join("none.json"));
        assert_eq!(l.config, Config::default());
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn broken_file_warns_with_its_path_and_uses_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, "{\"runner\": {\"model\": ").unwrap();
        let l = Config::load_file(&p);
        assert_eq!(l.config, Config::default());
        assert_eq!(l.warnings.len(), 1);
        assert!(
            l.warnings[0].0.contains(&p.display().to_string()),
            "{}",
            l.warnings[0]
        );
    }

    #[test]
    fn partial_file_keeps_other_defaults_and_ignores_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, r#"{"runner":{"model":"m1","future":1},"later":{}}"#).unwrap();
        let l = Config::load_file(&p);
        assert!(l.warnings.is_empty());
        assert_eq!(l.config.runner.model, "m1");
        assert_eq!(l.config.runner.effort, "xhigh");
        assert_eq!(l.source.as_deref(), Some(p.as_path()));
    }

    #[test]
    fn project_override_merges_over_user_config() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.json");
        std::fs::write(
            &user,
            r#"{"guard":{"mode":"warn","approval_phrase":"ok go"},"runner":{"model":"u"}}"#,
        )
        .unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"mode":"enforce","subagent_types":["Explore"]}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let g = &l.config.guard;
        assert_eq!(g.mode, Mode::Enforce);
        assert_eq!(g.subagent_types, vec!["Explore".to_string()]);
        assert_eq!(g.approval_phrase, "ok go");
        assert_eq!(l.config.runner.model, "u");
        // A broken override is ignored with a warning naming it; the user config still applies.
        std::fs::write(project.join(".claude/offload.json"), "{oops").unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config.guard.mode, Mode::Warn);
        assert!(
            l.warnings[0].0.contains(".claude/offload.json"),
            "{:?}",
            l.warnings
        );
        // A wrong type anywhere: defaults, with a warning.
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"mode":"sometimes"}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config, Config::default());
        assert_eq!(l.warnings.len(), 1);
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("Off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
