//! Benchmarks that print figures (never timed assertions).
//!
//!   offload-bench runner [--runs N] [--offload PATH] [--codex PATH]
//!
//! `runner`: what `offload run` adds on top of codex. Interleaved runs of
//!   A: `offload run "say hi" read-only <dir>` (CODEX_BIN = the real codex)
//!   B: the same `codex exec …` command line offload builds, run bare,
//! both against the loopback mock Responses server, median of N each (default 30). Codex's own
//! time varies by tens of milliseconds run to run, so the same comparison is repeated with a
//! stand-in codex that answers instantly (tests/fixtures/fake-codex.sh), where what remains is
//! offload's own cost.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use offload_testkit::codex::{CodexHome, real_codex, workspace_root};
use offload_testkit::responses::{MockResponses, Reply};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("runner") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(30usize);
            let offload = flag("--offload")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload"));
            let codex = flag("--codex").map(PathBuf::from).or_else(real_codex);
            runner(runs, &offload, codex.as_deref());
        }
        _ => {
            eprintln!("usage: offload-bench runner [--runs N] [--offload PATH] [--codex PATH]");
            std::process::exit(2);
        }
    }
}

fn runner(runs: usize, offload: &Path, codex: Option<&Path>) {
    if !offload.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload",
            offload.display()
        );
        std::process::exit(1);
    }
    println!(
        "offload run overhead: {runs} interleaved runs each, {}",
        offload.display()
    );
    let fake = workspace_root().join("tests/fixtures/fake-codex.sh");
    let mut rows = Vec::new();
    if let Some(codex) = codex {
        let mock = MockResponses::start().expect("start the mock Responses server");
        mock.set_default(Reply::message("hi"));
        let home = CodexHome::new(&mock.base_url());
        rows.push(compare(
            "real codex 0.169.0 + mock",
            runs,
            offload,
            codex,
            &home,
        ));
    } else {
        println!(
            "(real codex not installed: scripts/install-clients.sh codex; measuring the stand-in only)"
        );
    }
    let home = CodexHome::new("http://127.0.0.1:9/v1");
    rows.push(compare(
        "instant stand-in codex",
        runs,
        offload,
        &fake,
        &home,
    ));
    println!();
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>14}",
        "codex", "bare median", "offload med.", "added (med)", "added (paired)"
    );
    for r in &rows {
        println!(
            "{:<28} {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>12.1}ms",
            r.label,
            ms(r.bare),
            ms(r.wrapped),
            ms(r.wrapped) - ms(r.bare),
            r.paired
        );
    }
    println!("target: ≤ 5 ms added");
}

struct Row {
    label: &'static str,
    bare: Duration,
    wrapped: Duration,
    /// Median of per-pair differences, in ms.
    paired: f64,
}

fn compare(
    label: &'static str,
    runs: usize,
    offload: &Path,
    codex: &Path,
    home: &CodexHome,
) -> Row {
    let state = tempfile::tempdir().expect("temp state folder");
    let last = state.path().join("last.txt");
    let work = home.workdir();
    let bare = |codex: &Path| {
        let mut c = Command::new(codex);
        c.args([
            "exec",
            "--json",
            "--skip-git-repo-check",
            "-m",
            "gpt-5.4",
            "-s",
            "read-only",
            "-C",
        ])
        .arg(&work)
        .args([
            "-c",
            "model_reasoning_effort=\"xhigh\"",
            "-c",
            "approval_policy=\"never\"",
            "-o",
        ])
        .arg(&last)
        .args(["--", "say hi"]);
        c
    };
    let wrapped = || {
        let mut c = Command::new(offload);
        c.args(["run", "say hi", "read-only"])
            .arg(&work)
            .env("CODEX_BIN", codex)
            .env("OFFLOAD_HOME", state.path())
            .env("OFFLOAD_RUNS_KEEP", "5")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("OFFLOAD_SESSION_ID");
        c
    };
    // One warm-up of each (page cache, first rollout folder).
    time(bare(codex), home);
    time(wrapped(), home);
    let (mut a, mut b, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let (x, y) = if i % 2 == 0 {
            let y = time(bare(codex), home);
            (time(wrapped(), home), y)
        } else {
            let x = time(wrapped(), home);
            (x, time(bare(codex), home))
        };
        diffs.push(ms(x) - ms(y));
        a.push(x);
        b.push(y);
    }
    let row = Row {
        label,
        bare: median(&mut b),
        wrapped: median(&mut a),
        paired: {
            diffs.sort_by(f64::total_cmp);
            diffs[diffs.len() / 2]
        },
    };
    println!(
        "  {label}: bare {:.1}ms, offload {:.1}ms",
        ms(row.bare),
        ms(row.wrapped)
    );
    row
}

fn time(mut cmd: Command, home: &CodexHome) -> Duration {
    cmd.envs(home.envs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().expect("run the benchmark command");
    let took = start.elapsed();
    if !status.success() {
        eprintln!("offload-bench: a run failed ({status}): {cmd:?}");
        std::process::exit(1);
    }
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
