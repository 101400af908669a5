//! offload's JSON config: every field has its default here, in code, so a missing file, a
//! missing key or a key from a newer version all mean "use the default".
//!
//! Precedence: flag > environment (applied by [`Config::apply_env`]) > file > default.
//! A file that cannot be read or parsed never stops offload: it yields a [`Warning`] naming
//! the file and the defaults are used. A number (or duration) out of its range (see [`limits`]),
//! or a model name or reasoning effort codex cannot take ([`check_model_name`],
//! [`check_effort`]), costs that setting only: a warning names the file, the field, the value and
//! what is allowed, and the default is used. An environment variable with an unusable value
//! likewise yields a warning and is ignored.

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
    /// OpenTelemetry export (see [`crate::telemetry`]); the user's config only: a project's
    /// `.claude/offload.json` cannot set it.
    pub telemetry: TelemetryConfig,
}

/// Settings of the OTLP export (`telemetry`). Off by default. The standard `OTEL_*` variables
/// override each field (see [`crate::telemetry::Settings::resolve`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// Export metrics (as `OTEL_METRICS_EXPORTER=otlp` does).
    pub metrics: bool,
    /// Export a span per attempt (as `OTEL_TRACES_EXPORTER=otlp` does).
    pub traces: bool,
    /// The collector's OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`), e.g.
    /// `http://collector:4318`; `/v1/metrics` and `/v1/traces` are appended.
    pub endpoint: Option<String>,
    /// `http/protobuf` (default) or `http/json` (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: Option<String>,
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key.
    pub headers: std::collections::BTreeMap<String, String>,
    /// How long one export request may take, in milliseconds (1 to 60 000; default 10 000).
    pub timeout_ms: Option<u64>,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), e.g. `{"team": "payments"}`.
    pub resource_attributes: std::collections::BTreeMap<String, String>,
    /// Also take the `OTEL_*` variables from Claude Code's settings `env` (managed, user,
    /// project, local), where a team configures Claude Code's own telemetry, when they turn it
    /// on (`CLAUDE_CODE_ENABLE_TELEMETRY`). Claude Code does not pass `OTEL_*` on to its Bash
    /// commands and hooks, so this is how offload follows it.
    pub claude_settings: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            metrics: false,
            traces: false,
            endpoint: None,
            protocol: None,
            headers: Default::default(),
            timeout_ms: None,
            resource_attributes: Default::default(),
            claude_settings: true,
        }
    }
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
    /// Remaining percent at or below which the limit shows red (0 to 100).
    pub low_remaining: f64,
    /// Remaining percent at or below which the limit shows yellow (0 to 100).
    pub warn_remaining: f64,
    /// How long `--wrap`'s command may take, in milliseconds (1 to 10 000).
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
    /// How long a Codex attempt unlocks native work: `turn`, `session`, or a duration (`30m`) of
    /// 1 s to 30 days.
    pub attempt_scope: String,
    /// Deny edits that would remove offload's hooks from Claude Code's settings files.
    pub protect_settings: bool,
    /// The review gate: Codex reviews a turn's code changes when Claude stops (`false`, `true`,
    /// or an object of [`ReviewGate`] fields). Off by default; `offload setup --review-gate`
    /// turns it on and registers the Stop hook it needs.
    pub review_gate: ReviewGate,
}

/// Settings of the review gate (`guard.review_gate`). In the config file it is `false`, `true`
/// (on, with these defaults) or an object of the fields below, where `enabled` is `true` unless
/// it says otherwise (`{"rounds": 2}` turns the gate on).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewGate {
    pub enabled: bool,
    /// How many times per turn the gate may block Claude's stop with findings (1 to 5).
    pub rounds: u32,
    /// How long one review may take: seconds or humantime, 10 s to 20 min.
    pub timeout: String,
    /// The largest diff reviewed, in KiB (1 to 100): a larger one is reported, not reviewed.
    pub max_diff_kb: u64,
}

impl Default for ReviewGate {
    fn default() -> Self {
        ReviewGate {
            enabled: false,
            rounds: 1,
            timeout: "5m".into(),
            max_diff_kb: 64,
        }
    }
}

impl<'de> Deserialize<'de> for ReviewGate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(default)]
        struct Fields {
            enabled: bool,
            rounds: u32,
            timeout: String,
            max_diff_kb: u64,
        }
        impl Default for Fields {
            fn default() -> Self {
                let d = ReviewGate::default();
                Fields {
                    enabled: true,
                    rounds: d.rounds,
                    timeout: d.timeout,
                    max_diff_kb: d.max_diff_kb,
                }
            }
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Switch(bool),
            Fields(Fields),
        }
        Ok(
            match Raw::deserialize(d).map_err(|_| {
                serde::de::Error::custom(
                    "expected true, false, or an object of enabled, rounds, timeout, max_diff_kb",
                )
            })? {
                Raw::Switch(enabled) => ReviewGate {
                    enabled,
                    ..ReviewGate::default()
                },
                Raw::Fields(f) => ReviewGate {
                    enabled: f.enabled,
                    rounds: f.rounds,
                    timeout: f.timeout,
                    max_diff_kb: f.max_diff_kb,
                },
            },
        )
    }
}

impl ReviewGate {
    /// The review's time limit (the default when the setting is out of range).
    pub fn timeout(&self) -> Duration {
        limits::REVIEW_TIMEOUT
            .parse(&self.timeout)
            .unwrap_or(limits::REVIEW_TIMEOUT_DEFAULT)
    }

    /// Rounds per turn, within their range.
    pub fn rounds(&self) -> u32 {
        let r = &limits::REVIEW_ROUNDS;
        u64::from(self.rounds).clamp(*r.start(), *r.end()) as u32
    }

    /// The largest diff reviewed, in bytes, within its range.
    pub fn max_diff_bytes(&self) -> usize {
        let r = &limits::REVIEW_MAX_DIFF_KB;
        (self.max_diff_kb.clamp(*r.start(), *r.end()) as usize) * 1024
    }
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
            review_gate: ReviewGate::default(),
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
    /// Wall-clock limit per attempt: seconds or humantime, 100 ms to 24 h (`CODEX_TIMEOUT`).
    pub timeout: String,
    /// Every non-success exits 20 when true (`CODEX_FAIL_CLOSED`).
    pub fail_closed: bool,
    /// The codex executable, a path or a name on `PATH` (`CODEX_BIN`).
    pub codex_bin: String,
    /// Grace between SIGTERM and SIGKILL when ending codex, 0 to 60 s (`OFFLOAD_KILL_GRACE`).
    pub kill_grace: String,
    /// Per-run folders kept under `runs/`, 0 to 1 000 000 (`OFFLOAD_RUNS_KEEP`).
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
        let mut value = read_value(path, false, &mut warnings).unwrap_or(serde_json::Value::Null);
        let mut source = (!value.is_null()).then(|| path.to_path_buf());
        if let Some(project) = project {
            let over_path = project.join(".claude").join("offload.json");
            if let Some(mut over) = read_value(&over_path, true, &mut warnings) {
                // Where offload's records are sent is the user's choice, never a repository's.
                if let Some(o) = over.as_object_mut() {
                    o.remove("telemetry");
                }
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
        let bytes = match read_config_bytes(path) {
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
        let invalid = |e: serde_json::Error| Loaded {
            warnings: vec![Warning(format!(
                "config {} is not valid ({e}); using defaults until it is fixed (`offload doctor` checks it)",
                path.display()
            ))],
            ..Loaded::default()
        };
        let mut value = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => v,
            Err(e) => return invalid(e),
        };
        // A number out of range, or a name codex cannot take, costs that setting only (its
        // default, with a warning).
        let mut warnings = check_values(&mut value, path, false);
        // So does any other field of the wrong type (`"format": 5`).
        if serde_json::from_value::<Config>(value.clone()).is_err() {
            warnings.extend(drop_bad_fields(&mut value, path));
        }
        match serde_json::from_value::<Config>(value) {
            Ok(config) => Loaded {
                config,
                warnings,
                source: Some(path.to_path_buf()),
            },
            Err(e) => invalid(e),
        }
    }

    /// Override fields from the environment; unusable values are ignored with a warning.
    pub fn apply_env(&mut self) -> Vec<Warning> {
        self.apply_env_from(env::var)
    }

    /// [`Config::apply_env`] with the variables read by `var` (unset, empty and non-UTF-8 as
    /// `None`, like [`env::var`]).
    pub fn apply_env_from(&mut self, var: impl Fn(&str) -> Option<String>) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let r = &mut self.runner;
        if let Some(v) = var(env::CODEX_BIN) {
            r.codex_bin = v.trim().to_string();
        }
        type Check = fn(&str) -> Result<String, String>;
        for (name, field, check) in [
            (env::CODEX_MODEL, &mut r.model, check_model_name as Check),
            (env::CODEX_MODEL_CODE, &mut r.model_code, check_model_name),
            (env::CODEX_MODEL_LOGIC, &mut r.model_logic, check_model_name),
            (env::CODEX_EFFORT, &mut r.effort, check_effort),
        ] {
            if let Some(v) = var(name) {
                match check(&v) {
                    Ok(v) => *field = v,
                    Err(e) => warnings.push(Warning(format!(
                        "{name}: {e}; ignored, using {:?}",
                        field.as_str()
                    ))),
                }
            }
        }
        for (name, field, range) in [
            (env::CODEX_TIMEOUT, &mut r.timeout, limits::TIMEOUT),
            (
                env::OFFLOAD_KILL_GRACE,
                &mut r.kill_grace,
                limits::KILL_GRACE,
            ),
        ] {
            if let Some(v) = var(name) {
                match range.parse(&v) {
                    Ok(_) => *field = v.trim().to_string(),
                    Err(e) => warnings.push(Warning(format!(
                        "{name}: {e}; ignored, using {:?}",
                        field.as_str()
                    ))),
                }
            }
        }
        if let Some(v) = var(env::CODEX_FAIL_CLOSED) {
            match parse_bool(&v) {
                Some(b) => r.fail_closed = b,
                None => warnings.push(Warning(format!(
                    "{}={v:?} ignored: use 1 or 0",
                    env::CODEX_FAIL_CLOSED
                ))),
            }
        }
        if let Some(v) = var(env::OFFLOAD_RUNS_KEEP) {
            let range = limits::RUNS_KEEP;
            match v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .and_then(|n| usize::try_from(n).ok())
            {
                Some(n) => r.runs_keep = n,
                None => warnings.push(Warning(format!(
                    "{}: {:?} is not a whole number of {} to {}; ignored, using {}",
                    env::OFFLOAD_RUNS_KEEP,
                    v.trim(),
                    range.start(),
                    range.end(),
                    r.runs_keep
                ))),
            }
        }
        warnings
    }
}

/// Remove each field the config cannot take (tried one at a time against the defaults), with a
/// warning naming the file, the field and why: the rest of the file still applies.
fn drop_bad_fields(value: &mut serde_json::Value, path: &Path) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let Some(sections) = value.as_object_mut() else {
        return warnings;
    };
    for (section, fields) in sections.iter_mut() {
        let Some(fields) = fields.as_object_mut() else {
            continue;
        };
        let keys: Vec<String> = fields.keys().cloned().collect();
        for key in keys {
            let probe =
                serde_json::json!({ section.as_str(): { key.as_str(): fields[&key].clone() } });
            if let Err(e) = serde_json::from_value::<Config>(probe) {
                let bad = fields.remove(&key).unwrap_or_default();
                let shown: String = bad.to_string().chars().take(60).collect();
                warnings.push(Warning(format!(
                    "config {}: {section}.{key} = {shown} is not valid ({e}); using its default",
                    path.display()
                )));
            }
        }
    }
    warnings
}

/// A config file's bytes: never blocking (a FIFO, a device or a link to one is refused, not
/// opened for reading), at most 4 MiB (a config is a few hundred bytes; more is refused).
fn read_config_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    const MAX: u64 = 4 << 20;
    match crate::fsutil::read_regular(path, MAX + 1)? {
        Some(b) if b.len() as u64 > MAX => Err(std::io::Error::other("larger than 4 MiB")),
        Some(b) => Ok(b),
        None => Err(std::io::Error::other("not a regular file")),
    }
}

/// A JSON object from `path`: `None` when absent, or (with a warning) unreadable or not an object.
fn read_value(path: &Path, over: bool, warnings: &mut Vec<Warning>) -> Option<serde_json::Value> {
    let bytes = match read_config_bytes(path) {
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
        Ok(mut v) if v.is_object() => {
            warnings.extend(check_values(&mut v, path, over));
            // A field of the wrong type costs that field only, as in [`Config::load_file`].
            if serde_json::from_value::<Config>(v.clone()).is_err() {
                warnings.extend(drop_bad_fields(&mut v, path));
            }
            Some(v)
        }
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

/// How a number, duration or name of the config file is checked.
#[derive(Clone, Copy)]
enum Rule {
    /// A duration: a string of seconds or humantime, or a JSON number of seconds; the words
    /// listed are allowed as they are.
    Duration(DurationRange, &'static [&'static str]),
    /// A whole number, from..=to.
    Whole(u64, u64),
    /// A number, from..=to.
    Real(f64, f64),
    /// A model name ([`check_model_name`]).
    Model,
    /// A reasoning effort ([`check_effort`]).
    Effort,
}

/// Every number, duration and name of the config file: section, key (a dotted path inside the
/// section), and its check.
const CHECKED_FIELDS: [(&str, &str, Rule); 15] = [
    ("runner", "model", Rule::Model),
    ("runner", "model_code", Rule::Model),
    ("runner", "model_logic", Rule::Model),
    ("runner", "effort", Rule::Effort),
    ("runner", "timeout", Rule::Duration(limits::TIMEOUT, &[])),
    (
        "runner",
        "kill_grace",
        Rule::Duration(limits::KILL_GRACE, &[]),
    ),
    (
        "runner",
        "runs_keep",
        Rule::Whole(*limits::RUNS_KEEP.start(), *limits::RUNS_KEEP.end()),
    ),
    (
        "guard",
        "attempt_scope",
        Rule::Duration(limits::ATTEMPT_SCOPE, &["turn", "session", ""]),
    ),
    (
        "guard",
        "review_gate.rounds",
        Rule::Whole(*limits::REVIEW_ROUNDS.start(), *limits::REVIEW_ROUNDS.end()),
    ),
    (
        "guard",
        "review_gate.timeout",
        Rule::Duration(limits::REVIEW_TIMEOUT, &[]),
    ),
    (
        "guard",
        "review_gate.max_diff_kb",
        Rule::Whole(
            *limits::REVIEW_MAX_DIFF_KB.start(),
            *limits::REVIEW_MAX_DIFF_KB.end(),
        ),
    ),
    (
        "telemetry",
        "timeout_ms",
        Rule::Whole(
            *limits::TELEMETRY_TIMEOUT_MS.start(),
            *limits::TELEMETRY_TIMEOUT_MS.end(),
        ),
    ),
    (
        "statusline",
        "wrap_timeout_ms",
        Rule::Whole(
            *limits::WRAP_TIMEOUT_MS.start(),
            *limits::WRAP_TIMEOUT_MS.end(),
        ),
    ),
    (
        "statusline",
        "low_remaining",
        Rule::Real(
            *limits::REMAINING_PERCENT.start(),
            *limits::REMAINING_PERCENT.end(),
        ),
    ),
    (
        "statusline",
        "warn_remaining",
        Rule::Real(
            *limits::REMAINING_PERCENT.start(),
            *limits::REMAINING_PERCENT.end(),
        ),
    ),
];

impl Rule {
    /// `Ok(None)`: fine as it is; `Ok(Some(v))`: fine, read as `v` (a duration given as a JSON
    /// number becomes its string, a name loses the spaces around it); `Err`: what is wrong,
    /// with what is allowed.
    fn check(self, v: &serde_json::Value) -> Result<Option<serde_json::Value>, String> {
        use serde_json::Value;
        let name = |s: &str, checked: Result<String, String>| {
            checked.map(|t| (t != s).then_some(Value::String(t)))
        };
        match (self, v) {
            (Rule::Model, Value::String(s)) => name(s, check_model_name(s)),
            (Rule::Model, v) => Err(format!("{v} is not a model name ({MODEL_NAME_RULE})")),
            (Rule::Effort, Value::String(s)) => name(s, check_effort(s)),
            (Rule::Effort, v) => Err(format!(
                "{v} is not a reasoning effort (allowed: {})",
                EFFORTS.join(", ")
            )),
            (Rule::Duration(_, words), Value::String(s)) if words.contains(&s.trim()) => Ok(None),
            (Rule::Duration(range, _), Value::String(s)) => range.parse(s).map(|_| None),
            (Rule::Duration(range, _), Value::Number(n)) => {
                let text = n.to_string();
                match range.parse(&text) {
                    Ok(_) => Ok(Some(Value::String(text))),
                    // Shown as written: a number, not a string.
                    Err(e) => Err(e.replacen(&format!("{text:?}"), &text, 1)),
                }
            }
            (Rule::Duration(range, _), v) => {
                Err(format!("{v} is not a duration (allowed: {})", range.text))
            }
            (Rule::Whole(from, to), v) => {
                let allowed = format!("(allowed: a whole number, {from} to {to})");
                let n = match v {
                    Value::Number(n) => n,
                    v => return Err(format!("{v} is not a number {allowed}")),
                };
                let whole = n.as_u64().or_else(|| {
                    // 1000.0 reads as 1000; a fraction, a negative or a huge number does not.
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= to as f64)
                        .map(|f| f as u64)
                });
                match whole {
                    Some(w) if (from..=to).contains(&w) => {
                        Ok((!n.is_u64()).then(|| Value::from(w)))
                    }
                    _ => Err(format!("{n} is out of range {allowed}")),
                }
            }
            (Rule::Real(from, to), v) => {
                let allowed = format!("(allowed: {from} to {to})");
                match v.as_f64() {
                    Some(f) if (from..=to).contains(&f) => Ok(None),
                    Some(_) => Err(format!("{v} is out of range {allowed}")),
                    None => Err(format!("{v} is not a number {allowed}")),
                }
            }
        }
    }
}

/// Check every number, duration and name of a config document read from `path`: one out of
/// range or unusable is removed (so its default, or the user config under a project override,
/// applies) with a warning naming the file, the field, the value and what is allowed.
/// `over`: `path` is a project override, under which the user config's value applies.
pub fn check_values(value: &mut serde_json::Value, path: &Path, over: bool) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for (section, dotted, rule) in CHECKED_FIELDS {
        let (parents, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
        let mut fields = value.get_mut(section);
        for parent in parents.split('.').filter(|p| !p.is_empty()) {
            fields = fields.and_then(|f| f.get_mut(parent));
        }
        let Some(fields) = fields.and_then(|s| s.as_object_mut()) else {
            continue;
        };
        let Some(v) = fields.get(key) else {
            continue;
        };
        match rule.check(v) {
            Ok(None) => {}
            Ok(Some(read)) => {
                fields.insert(key.to_owned(), read);
            }
            Err(why) => {
                fields.remove(key);
                let default = serde_json::to_value(Config::default())
                    .ok()
                    .and_then(|d| {
                        dotted
                            .split('.')
                            .try_fold(d.get(section)?, |v, k| v.get(k))
                            .cloned()
                    })
                    .unwrap_or_default();
                let instead = if over {
                    format!("using the user config's value, else the default {default}")
                } else {
                    format!("using the default {default}")
                };
                warnings.push(Warning(format!(
                    "config {}: {section}.{dotted}: {why}; {instead}",
                    path.display()
                )));
            }
        }
    }
    warnings
}

/// The longest model name offload takes (codex's slugs are about 15 characters; a custom
/// provider's deployment names may be longer).
pub const MAX_MODEL_NAME: usize = 128;

/// What a model name may be, in words.
const MODEL_NAME_RULE: &str = "a model name is like gpt-6.2-sol: letters, digits and . _ - : / @ +, \
     starting with a letter or digit, at most 128 characters";

/// The reasoning efforts offload passes to codex (`-c model_reasoning_effort=…`), as codex
/// 0.171.0 names them: a model's catalog entry lists the ones it supports
/// (`supported_reasoning_levels`, `low` to `ultra`), and codex sends `none` and `minimal` as
/// they are. codex sends any other word on to the model unchecked, so offload checks it.
pub const EFFORTS: [&str; 8] = [
    "none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra",
];

/// A reasoning effort as given (`--effort`, `CODEX_EFFORT`, `runner.effort`), trimmed, or why
/// it is not one of [`EFFORTS`] (case matters: codex sends the word as it is).
pub fn check_effort(s: &str) -> Result<String, String> {
    let t = s.trim();
    if EFFORTS.contains(&t) {
        return Ok(t.to_owned());
    }
    let shown: String = t.chars().take(40).collect();
    Err(format!(
        "{shown:?} is not a reasoning effort (allowed: {})",
        EFFORTS.join(", ")
    ))
}

/// A model name as given (`offload setup --code-model`), trimmed, or why it cannot be one: it
/// must start with a letter or digit and hold only letters, digits and `. _ - : / @ +`
/// (a plan names it between spaces, and a printed `offload run -m M` must stay one word).
pub fn check_model_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    let shown: String = t.chars().take(40).collect();
    let rule = MODEL_NAME_RULE;
    if t.is_empty() {
        return Err(format!("the model name is empty ({rule})"));
    }
    if t.chars().count() > MAX_MODEL_NAME {
        return Err(format!("{shown:?}… is too long ({rule})"));
    }
    if !t.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{shown:?} is not a model name ({rule})"));
    }
    if let Some(bad) = t
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-:/@+".contains(*c)))
    {
        return Err(format!(
            "{shown:?} is not a model name: {bad:?} is not allowed ({rule})"
        ));
    }
    Ok(t.to_owned())
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
/// Zero is refused: a zero limit would end every attempt before it starts. Never panics; a
/// setting should use its [`DurationRange`] instead, which also bounds it.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_any_duration(s)?;
    if d.is_zero() {
        return Err(format!("{:?} is zero", s.trim()));
    }
    Ok(d)
}

/// A duration as plain seconds or humantime, zero included; any text (`1e20`, `NaN`, `-1`, a
/// number of seconds past `u64`) is an error, never a panic.
fn parse_any_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("\"\" is empty".into());
    }
    match s.parse::<f64>() {
        Ok(secs) if secs.is_nan() => Err(format!("{s:?} is not a number")),
        Ok(secs) if secs < 0.0 => Err(format!("{s:?} is negative")),
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too large")),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is neither seconds nor a duration like 10m ({e})")),
    }
}

/// The values a duration setting allows, and how a message shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    /// The range in words, e.g. `100ms to 24h`.
    pub text: &'static str,
}

impl DurationRange {
    /// Parse `s` (seconds or humantime) and check it is in range. The error names the value,
    /// what is wrong with it and the range; the caller adds where it came from.
    pub fn parse(&self, s: &str) -> Result<Duration, String> {
        let d = parse_any_duration(s).map_err(|e| self.explain(e))?;
        if d < self.min {
            return Err(self.explain(format!("{:?} is too short", s.trim())));
        }
        if d > self.max {
            return Err(self.explain(format!("{:?} is too long", s.trim())));
        }
        Ok(d)
    }

    /// `d` brought into range: for arithmetic on a value that did not come through
    /// [`DurationRange::parse`].
    pub fn clamp(&self, d: Duration) -> Duration {
        d.clamp(self.min, self.max)
    }

    fn explain(&self, why: String) -> String {
        format!("{why} (allowed: {})", self.text)
    }
}

/// The allowed range of every number offload reads from a flag, the environment or the config.
pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    use super::DurationRange;

    /// `runner.timeout`, `CODEX_TIMEOUT`, `offload run --timeout`: one Codex attempt.
    pub const TIMEOUT: DurationRange = DurationRange {
        min: Duration::from_millis(100),
        max: Duration::from_secs(24 * 3600),
        text: "100ms to 24h",
    };
    /// `offload wait --timeout`: how long one wait for a background job lasts.
    pub const WAIT: DurationRange = DurationRange {
        min: Duration::ZERO,
        max: Duration::from_secs(24 * 3600),
        text: "0s to 24h",
    };
    /// `runner.kill_grace`, `OFFLOAD_KILL_GRACE`: SIGTERM to SIGKILL.
    pub const KILL_GRACE: DurationRange = DurationRange {
        min: Duration::ZERO,
        max: Duration::from_secs(60),
        text: "0s to 60s",
    };
    /// `guard.attempt_scope` when it is a duration (it may also be `turn` or `session`).
    pub const ATTEMPT_SCOPE: DurationRange = DurationRange {
        min: Duration::from_secs(1),
        max: Duration::from_secs(30 * 24 * 3600),
        text: "turn, session, or a duration of 1s to 30d",
    };
    /// `guard.review_gate.timeout`: one review by the review gate. The Stop hook's own timeout
    /// in Claude Code's settings is this range's end plus a margin (`shared::settings`).
    pub const REVIEW_TIMEOUT: DurationRange = DurationRange {
        min: Duration::from_secs(10),
        max: Duration::from_secs(20 * 60),
        text: "10s to 20m",
    };
    /// `guard.review_gate.timeout`'s default.
    pub const REVIEW_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5 * 60);
    /// `guard.review_gate.rounds`: blocks per turn.
    pub const REVIEW_ROUNDS: RangeInclusive<u64> = 1..=5;
    /// `telemetry.timeout_ms`: one export request (as `OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub const TELEMETRY_TIMEOUT_MS: RangeInclusive<u64> = 1..=60_000;
    /// `guard.review_gate.max_diff_kb`: the most of a diff one review reads (the prompt carries
    /// it; a large prompt reaches codex on its stdin, see `codex::command`).
    pub const REVIEW_MAX_DIFF_KB: RangeInclusive<u64> = 1..=100;
    /// `statusline.wrap_timeout_ms`.
    pub const WRAP_TIMEOUT_MS: RangeInclusive<u64> = 1..=10_000;
    /// `OFFLOAD_MAX_OUTPUT_MB`: codex's output kept in a run folder, in MiB.
    pub const MAX_OUTPUT_MB: RangeInclusive<u64> = 1..=4096;
    /// `runner.runs_keep`, `OFFLOAD_RUNS_KEEP`.
    pub const RUNS_KEEP: RangeInclusive<u64> = 0..=1_000_000;
    /// `statusline.low_remaining`, `statusline.warn_remaining` (percent).
    pub const REMAINING_PERCENT: RangeInclusive<f64> = 0.0..=100.0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        // A wrong value in the override: that field only, with a warning; the user's stays.
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"mode":"sometimes"}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config.guard.mode, Mode::Warn);
        assert_eq!(l.config.runner.model, "u");
        assert_eq!(l.warnings.len(), 1);
    }

    /// Values no setting takes, and what the message says about them.
    const BAD: [(&str, &str); 10] = [
        ("1e20", "is too large"),
        ("1e15", "is too long"),
        ("-1", "is negative"),
        ("NaN", "is not a number"),
        ("inf", "is too large"),
        ("", "is empty"),
        ("18446744073709551615", "is too large"),
        ("99999999999999999999999999", "is too large"),
        (
            "99999999999999999999999999d",
            "neither seconds nor a duration",
        ),
        ("soon", "neither seconds nor a duration"),
    ];

    #[test]
    fn durations_in_range_or_a_message_with_the_range() {
        for range in [limits::TIMEOUT, limits::KILL_GRACE, limits::ATTEMPT_SCOPE] {
            for (bad, why) in BAD {
                let e = range.parse(bad).unwrap_err();
                assert!(e.contains(why), "{bad:?}: {e}");
                assert!(e.contains(&format!("{:?}", bad.trim())), "{bad:?}: {e}");
                assert!(e.contains(range.text), "{bad:?}: {e}");
            }
            assert_eq!(range.parse("1s").unwrap(), Duration::from_secs(1));
            assert_eq!(range.parse(" 60 ").unwrap(), Duration::from_secs(60));
            assert_eq!(range.clamp(Duration::MAX), range.max);
        }
        assert_eq!(limits::TIMEOUT.parse("24h").unwrap(), limits::TIMEOUT.max);
        assert_eq!(
            limits::TIMEOUT.parse("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert!(
            limits::TIMEOUT
                .parse("0")
                .unwrap_err()
                .contains("too short")
        );
        assert!(
            limits::TIMEOUT
                .parse("25h")
                .unwrap_err()
                .contains("too long")
        );
        assert_eq!(limits::KILL_GRACE.parse("0").unwrap(), Duration::ZERO);
        assert!(limits::KILL_GRACE.parse("61").is_err());
        assert!(limits::ATTEMPT_SCOPE.parse("0.5").is_err());
        assert_eq!(
            limits::ATTEMPT_SCOPE.parse("30d").unwrap(),
            limits::ATTEMPT_SCOPE.max
        );
        assert!(limits::ATTEMPT_SCOPE.parse("31d").is_err());
        // The unbounded parser never panics either (and takes what is merely long).
        for (bad, _) in BAD {
            assert_eq!(parse_duration(bad).is_ok(), bad == "1e15", "{bad}");
        }
    }

    fn load(text: &str) -> (tempfile::TempDir, PathBuf, Loaded) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, text).unwrap();
        let l = Config::load_file(&p);
        (dir, p, l)
    }

    #[test]
    fn a_number_out_of_range_costs_that_setting_only() {
        let d = Config::default();
        let cases: Vec<(&str, &str, serde_json::Value, &str)> = vec![
            ("runner", "timeout", "1e20".into(), "100ms to 24h"),
            ("runner", "timeout", (-1).into(), "100ms to 24h"),
            ("runner", "timeout", "".into(), "100ms to 24h"),
            ("runner", "timeout", "NaN".into(), "100ms to 24h"),
            ("runner", "timeout", 0.into(), "100ms to 24h"),
            ("runner", "timeout", u64::MAX.into(), "100ms to 24h"),
            ("runner", "timeout", serde_json::Value::Null, "100ms to 24h"),
            ("runner", "kill_grace", "1e20".into(), "0s to 60s"),
            ("runner", "kill_grace", serde_json::json!([1]), "0s to 60s"),
            ("runner", "runs_keep", (-1).into(), "0 to 1000000"),
            ("runner", "runs_keep", u64::MAX.into(), "0 to 1000000"),
            ("runner", "runs_keep", 1e20.into(), "0 to 1000000"),
            ("runner", "runs_keep", 2.5.into(), "0 to 1000000"),
            ("runner", "runs_keep", "7".into(), "0 to 1000000"),
            ("guard", "attempt_scope", "1e15".into(), "1s to 30d"),
            ("guard", "attempt_scope", "-1".into(), "1s to 30d"),
            ("guard", "attempt_scope", "0".into(), "1s to 30d"),
            ("guard", "attempt_scope", "forever".into(), "1s to 30d"),
            (
                "statusline",
                "wrap_timeout_ms",
                u64::MAX.into(),
                "1 to 10000",
            ),
            ("statusline", "wrap_timeout_ms", 0.into(), "1 to 10000"),
            ("statusline", "wrap_timeout_ms", (-1).into(), "1 to 10000"),
            ("statusline", "wrap_timeout_ms", 1e20.into(), "1 to 10000"),
            ("statusline", "wrap_timeout_ms", "NaN".into(), "1 to 10000"),
            ("statusline", "low_remaining", 1e300.into(), "0 to 100"),
            ("statusline", "warn_remaining", (-1).into(), "0 to 100"),
            ("statusline", "warn_remaining", "40".into(), "0 to 100"),
        ];
        for (section, key, value, range) in cases {
            let doc = serde_json::json!({
                section: {key: value},
                "runner": {"model": "kept"},
                "guard": {"approval_phrase": "kept"},
                "statusline": {"format": "kept"},
            });
            // The one setting under test, beside one other setting of each section.
            let mut doc = doc;
            doc[section][key] = value.clone();
            let (_dir, p, l) = load(&doc.to_string());
            assert_eq!(
                l.warnings.len(),
                1,
                "{section}.{key}={value}: {:?}",
                l.warnings
            );
            let w = &l.warnings[0].0;
            for part in [
                p.display().to_string(),
                format!("{section}.{key}"),
                range.to_string(),
                "using the default".to_string(),
            ] {
                assert!(w.contains(&part), "{part:?} missing from: {w}");
            }
            let shown = match &value {
                serde_json::Value::String(s) => format!("{s:?}"),
                v => v.to_string(),
            };
            assert!(w.contains(&shown), "{shown} missing from: {w}");
            let c = &l.config;
            assert_eq!(c.runner.model, "kept");
            assert_eq!(c.guard.approval_phrase, "kept");
            assert_eq!(c.statusline.format, "kept");
            assert_eq!(c.runner.timeout, d.runner.timeout);
            assert_eq!(c.runner.kill_grace, d.runner.kill_grace);
            assert_eq!(c.runner.runs_keep, d.runner.runs_keep);
            assert_eq!(c.guard.attempt_scope, d.guard.attempt_scope);
            assert_eq!(c.statusline.wrap_timeout_ms, d.statusline.wrap_timeout_ms);
            assert_eq!(c.statusline.low_remaining, d.statusline.low_remaining);
            assert_eq!(c.statusline.warn_remaining, d.statusline.warn_remaining);
        }
    }

    #[test]
    fn a_model_or_effort_codex_cannot_take_costs_that_setting_only() {
        let d = RunnerConfig::default();
        let efforts = "allowed: none, minimal, low, medium, high, xhigh, max, ultra";
        for (key, value, why) in [
            ("model_code", json!(""), "the model name is empty"),
            ("model_code", json!("  "), "the model name is empty"),
            ("model_logic", json!("gpt 5\n; rm"), "' ' is not allowed"),
            ("model", json!("-m"), "\"-m\" is not a model name"),
            ("model", json!(5), "5 is not a model name"),
            (
                "effort",
                json!("bogus"),
                "\"bogus\" is not a reasoning effort",
            ),
            (
                "effort",
                json!("XHIGH"),
                "\"XHIGH\" is not a reasoning effort",
            ),
            ("effort", json!(""), "\"\" is not a reasoning effort"),
            (
                "effort",
                json!(["high"]),
                "[\"high\"] is not a reasoning effort",
            ),
        ] {
            let mut doc = json!({"runner": {"timeout": "7s", "model": "kept"}});
            doc["runner"][key] = value.clone();
            let (_dir, p, l) = load(&doc.to_string());
            assert_eq!(l.warnings.len(), 1, "{key}={value}: {:?}", l.warnings);
            let w = &l.warnings[0].0;
            let allowed = if key == "effort" {
                efforts
            } else {
                "a model name is like gpt-6.2-sol"
            };
            for part in [
                p.display().to_string(),
                format!("runner.{key}: "),
                why.to_string(),
                allowed.to_string(),
                "; using the default \"".to_string(),
            ] {
                assert!(w.contains(&part), "{part:?} missing from: {w}");
            }
            assert!(!w.contains('\n'), "one line: {w}");
            let r = &l.config.runner;
            assert_eq!(r.timeout, "7s", "the rest of the file applies");
            let kept = if key == "model" { &d.model } else { "kept" };
            assert_eq!(r.model, kept);
            assert_eq!(
                (&r.model_code, &r.model_logic, &r.effort),
                (&d.model_code, &d.model_logic, &d.effort)
            );
        }
        // Spaces around a good name are dropped; every effort codex knows is taken as it is.
        let (_dir, _p, l) =
            load(r#"{"runner": {"model_code": " gpt-6.2-sol ", "effort": " low "}}"#);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(
            (
                l.config.runner.model_code.as_str(),
                l.config.runner.effort.as_str()
            ),
            ("gpt-6.2-sol", "low")
        );
        for e in EFFORTS {
            assert_eq!(check_effort(e).as_deref(), Ok(e));
        }
        // A project override's bad model leaves the user's.
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.json");
        std::fs::write(&user, r#"{"runner":{"model_code":"mine"}}"#).unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"runner":{"model_code":"a b"}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config.runner.model_code, "mine");
        assert!(
            l.warnings[0].0.contains("runner.model_code"),
            "{:?}",
            l.warnings
        );
        assert!(MODEL_NAME_RULE.contains(&format!("at most {MAX_MODEL_NAME} characters")));
    }

    #[test]
    fn environment_models_and_efforts_codex_cannot_take_are_ignored() {
        for (name, bad, why) in [
            ("CODEX_MODEL", "a b", "' ' is not allowed"),
            ("CODEX_MODEL_CODE", " ", "the model name is empty"),
            ("CODEX_MODEL_LOGIC", "gpt;rm", "';' is not allowed"),
            (
                "CODEX_EFFORT",
                "bogus",
                "is not a reasoning effort (allowed: none, minimal",
            ),
        ] {
            let mut c = Config::default();
            let w = c.apply_env_from(|k| (k == name).then(|| bad.to_string()));
            assert_eq!(c, Config::default(), "{name}={bad:?}");
            assert_eq!(w.len(), 1, "{name}={bad:?}: {w:?}");
            let w = &w[0].0;
            assert!(w.starts_with(&format!("{name}: ")), "{w}");
            assert!(w.contains(why) && w.contains("; ignored, using \""), "{w}");
        }
        let mut c = Config::default();
        let w = c.apply_env_from(|k| match k {
            "CODEX_MODEL_CODE" => Some(" gpt-6.2-sol ".into()),
            "CODEX_EFFORT" => Some("max".into()),
            _ => None,
        });
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            (c.runner.model_code.as_str(), c.runner.effort.as_str()),
            ("gpt-6.2-sol", "max")
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_costs_that_field_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"statusline": {"format": 5}, "runner": {"timeout": "7s"}, "guard": {"mode": "sometimes"}}"#,
        )
        .unwrap();
        let loaded = Config::load_file(&p);
        assert_eq!(loaded.config.runner.timeout, "7s", "{:?}", loaded.warnings);
        assert_eq!(
            loaded.config.statusline.format,
            Config::default().statusline.format
        );
        assert_eq!(loaded.config.guard.mode, Config::default().guard.mode);
        let w: Vec<&str> = loaded.warnings.iter().map(|w| w.0.as_str()).collect();
        assert!(w.iter().any(|w| w.contains("statusline.format")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("guard.mode")), "{w:?}");
    }

    /// The hook and doctor read the config with the project's override: a field of the wrong
    /// type there too costs that field only (the file's other settings apply, the guard's mode
    /// included), and the override's own bad field leaves the user's value.
    #[test]
    fn a_wrong_field_costs_only_itself_with_the_project_override_too() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("config.json");
        std::fs::write(
            &user,
            r#"{"runner":{"model_code":"gpt-6.2-sol","model":5},"guard":{"mode":"warn"}}"#,
        )
        .unwrap();
        let project = d.path().join("p");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(
            l.config.runner.model_code, "gpt-6.2-sol",
            "{:?}",
            l.warnings
        );
        assert_eq!(l.config.guard.mode, Mode::Warn);
        assert_eq!(l.config.runner.model, Config::default().runner.model);
        assert_eq!(l.source.as_deref(), Some(user.as_path()));
        let w: Vec<&str> = l.warnings.iter().map(|w| w.0.as_str()).collect();
        assert!(
            w.len() == 1 && w[0].contains("runner.model") && w[0].contains("5"),
            "{w:?}"
        );
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"mode":[1]},"runner":{"effort":"high"}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config.guard.mode, Mode::Warn, "the user's value stays");
        assert_eq!(l.config.runner.effort, "high");
        assert!(
            l.warnings
                .iter()
                .any(|w| w.0.contains("offload.json") && w.0.contains("guard.mode")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn numbers_in_range_are_kept_and_durations_may_be_json_numbers() {
        let (_dir, _p, l) = load(
            r#"{"runner": {"timeout": 90, "kill_grace": 0, "runs_keep": 7.0},
                "guard": {"attempt_scope": "30m"},
                "statusline": {"wrap_timeout_ms": 10000, "low_remaining": 0, "warn_remaining": 100}}"#,
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let c = l.config;
        assert_eq!(c.runner.timeout, "90");
        assert_eq!(c.runner.kill_grace, "0");
        assert_eq!(c.runner.runs_keep, 7);
        assert_eq!(c.guard.attempt_scope, "30m");
        assert_eq!(c.statusline.wrap_timeout_ms, 10000);
        assert_eq!(c.statusline.low_remaining, 0.0);
        for scope in ["turn", "session", " turn "] {
            let (_dir, _p, l) = load(&format!(r#"{{"guard": {{"attempt_scope": "{scope}"}}}}"#));
            assert!(l.warnings.is_empty(), "{scope}: {:?}", l.warnings);
        }
    }

    #[test]
    fn a_project_override_out_of_range_leaves_the_user_value() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.json");
        std::fs::write(&user, r#"{"guard":{"attempt_scope":"10m"}}"#).unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"attempt_scope":"1e15","mode":"warn"}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert_eq!(l.config.guard.attempt_scope, "10m");
        assert_eq!(l.config.guard.mode, Mode::Warn);
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        let w = &l.warnings[0].0;
        assert!(w.contains(".claude/offload.json"), "{w}");
        assert!(
            w.contains("guard.attempt_scope: \"1e15\" is too long"),
            "{w}"
        );
        assert!(w.contains("user config's value"), "{w}");
        // The user file's own bad number falls back to the default.
        std::fs::write(&user, r#"{"runner":{"timeout":"1e20"}}"#).unwrap();
        let l = Config::load_for_project(&user, None);
        assert_eq!(l.config.runner.timeout, "600");
        assert!(
            l.warnings[0].0.contains("runner.timeout"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn environment_numbers_out_of_range_are_ignored_with_the_range() {
        let cases = [
            ("CODEX_TIMEOUT", "100ms to 24h"),
            ("OFFLOAD_KILL_GRACE", "0s to 60s"),
            ("OFFLOAD_RUNS_KEEP", "0 to 1000000"),
        ];
        for (name, range) in cases {
            for bad in [
                "1e20",
                "-1",
                "NaN",
                "",
                "18446744073709551615",
                "99999999999999999999999999",
                "soon",
            ] {
                let mut c = Config::default();
                let w = c.apply_env_from(|k| (k == name).then(|| bad.to_string()));
                assert_eq!(c, Config::default(), "{name}={bad}");
                assert_eq!(w.len(), 1, "{name}={bad}: {w:?}");
                let w = &w[0].0;
                assert!(w.starts_with(&format!("{name}: ")), "{w}");
                assert!(w.contains(range), "{w}");
                assert!(w.contains(&format!("{:?}", bad)), "{w}");
                assert!(w.contains("ignored, using"), "{w}");
            }
        }
        let mut c = Config::default();
        let w = c.apply_env_from(|k| (k == "CODEX_TIMEOUT").then(|| "0".to_string()));
        assert!(w[0].0.contains("too short"), "{w:?}");
        assert_eq!(c.runner.timeout, "600");
        let w = c.apply_env_from(|k| match k {
            "CODEX_TIMEOUT" => Some("10m".into()),
            "OFFLOAD_KILL_GRACE" => Some("0".into()),
            "OFFLOAD_RUNS_KEEP" => Some("0".into()),
            _ => None,
        });
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            (c.runner.timeout.as_str(), c.runner.kill_grace.as_str()),
            ("10m", "0")
        );
        assert_eq!(c.runner.runs_keep, 0);
    }

    #[test]
    fn review_gate_is_off_by_default_and_reads_a_switch_or_an_object() {
        assert!(!Config::default().guard.review_gate.enabled);
        let gate = |doc: &str| {
            let (_dir, _p, l) = load(doc);
            (l.config.guard.review_gate, l.warnings)
        };
        let (g, w) = gate(r#"{"guard": {"review_gate": true}}"#);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            g,
            ReviewGate {
                enabled: true,
                ..ReviewGate::default()
            }
        );
        assert_eq!(
            (g.rounds(), g.timeout(), g.max_diff_bytes()),
            (1, Duration::from_secs(300), 64 * 1024)
        );
        let (g, w) = gate(r#"{"guard": {"review_gate": {"rounds": 2, "timeout": 90}}}"#);
        assert!(w.is_empty(), "{w:?}");
        assert!(g.enabled, "an object turns the gate on");
        assert_eq!((g.rounds(), g.timeout()), (2, Duration::from_secs(90)));
        let (g, _) = gate(r#"{"guard": {"review_gate": {"enabled": false, "rounds": 3}}}"#);
        assert!(!g.enabled);
        assert_eq!(g.rounds, 3);
        let (g, _) = gate(r#"{"guard": {"review_gate": false}}"#);
        assert_eq!(g, ReviewGate::default());
    }

    #[test]
    fn review_gate_numbers_out_of_range_cost_that_number_only() {
        for (doc, field, range) in [
            (r#"{"rounds": 0, "timeout": "2m"}"#, "rounds", "1 to 5"),
            (r#"{"rounds": 6, "timeout": "2m"}"#, "rounds", "1 to 5"),
            (r#"{"timeout": "1s", "rounds": 2}"#, "timeout", "10s to 20m"),
            (r#"{"timeout": "1h", "rounds": 2}"#, "timeout", "10s to 20m"),
            (
                r#"{"max_diff_kb": 101, "rounds": 2}"#,
                "max_diff_kb",
                "1 to 100",
            ),
        ] {
            let (_dir, p, l) = load(&format!(r#"{{"guard": {{"review_gate": {doc}}}}}"#));
            assert_eq!(l.warnings.len(), 1, "{doc}: {:?}", l.warnings);
            let w = &l.warnings[0].0;
            for part in [
                p.display().to_string(),
                format!("guard.review_gate.{field}"),
                range.to_string(),
                "using the default".to_string(),
            ] {
                assert!(w.contains(&part), "{part:?} missing from: {w}");
            }
            let g = &l.config.guard.review_gate;
            assert!(g.enabled, "{doc}");
            let d = ReviewGate::default();
            match field {
                "rounds" => assert_eq!((g.rounds, g.timeout.as_str()), (d.rounds, "2m")),
                "timeout" => assert_eq!((g.timeout.as_str(), g.rounds), (d.timeout.as_str(), 2)),
                _ => assert_eq!((g.max_diff_kb, g.rounds), (d.max_diff_kb, 2)),
            }
        }
        // A value of the wrong kind costs the gate (off), with a warning naming it.
        let (_dir, _p, l) = load(r#"{"guard": {"review_gate": "yes", "mode": "warn"}}"#);
        assert_eq!(l.config.guard.review_gate, ReviewGate::default());
        assert_eq!(l.config.guard.mode, Mode::Warn);
        assert!(
            l.warnings.iter().any(|w| w.0.contains("guard.review_gate")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn a_project_override_merges_into_the_review_gate() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.json");
        std::fs::write(&user, r#"{"guard":{"review_gate":{"timeout":"2m"}}}"#).unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"review_gate":{"rounds":2}}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        let g = l.config.guard.review_gate;
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!((g.enabled, g.rounds, g.timeout.as_str()), (true, 2, "2m"));
        std::fs::write(
            project.join(".claude/offload.json"),
            r#"{"guard":{"review_gate":false}}"#,
        )
        .unwrap();
        let l = Config::load_for_project(&user, Some(&project));
        assert!(!l.config.guard.review_gate.enabled);
    }

    #[test]
    fn model_names() {
        for ok in [
            "gpt-6.2-sol",
            " gpt-5.4 ",
            "o3",
            "accounts/fw/models/llama-v3p1:beta",
            "a@b+c_d",
        ] {
            assert_eq!(check_model_name(ok).unwrap(), ok.trim(), "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("   ", "is empty"),
            ("gpt 6", "' ' is not allowed"),
            ("-m", "is not a model name"),
            ("gpt-6;rm -rf", "';' is not allowed"),
            ("`x`", "is not a model name"),
            ("gpt\n6", "'\\n' is not allowed"),
            ("ünï", "is not a model name"),
        ] {
            let e = check_model_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("like gpt-6.2-sol"), "{e}");
        }
        let long = "m".repeat(MAX_MODEL_NAME + 1);
        assert!(check_model_name(&long).unwrap_err().contains("too long"));
        assert!(check_model_name(&"m".repeat(MAX_MODEL_NAME)).is_ok());
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("Off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
