use std::time::Duration;
use offload_testkit::codex::*;
use offload_testkit::responses::*;
use serde_json::json;

fn show(name: &str, mock: &MockResponses, home: &CodexHome, out: &ExecOutput) {
    eprintln!("===== {name}: code={:?} sig={:?} elapsed={:?} timed_out={}", out.code, out.signal, out.elapsed, out.timed_out);
    eprintln!("--- stdout\n{}--- stderr\n{}", out.stdout, out.stderr);
    for r in mock.requests() { eprintln!("req {} {} input_len={}", r.method, r.path, r.body["input"].as_array().map(|a| a.len()).unwrap_or(0)); }
    for r in home.rollouts() { eprintln!("rollout {}", r.display()); for l in std::fs::read_to_string(&r).unwrap().lines() { if l.contains("token_count") || l.contains("task_complete") || l.contains("\"error\"") { eprintln!("  {}", &l[..l.len().min(1500)]); } } }
}

#[test]
fn explore() {
    let codex = real_codex().unwrap();
    let which = std::env::var("X").unwrap_or_default();
    let t = Duration::from_secs(20);
    let reset = 1_795_600_000i64;
    let script = match which.as_str() {
        "tool" => vec![Reply::tool_call("exec_command", "call_1", json!({"cmd": "echo offload-tool-ok"})), Reply::message("done")],
        "429" => vec![Reply::usage_limit(reset)],
        "429h" => vec![Reply::usage_limit(reset).rate_limits(RateHeaders{primary_used: 100.0, primary_window_minutes: 300, primary_reset_at: reset, secondary_used: 40.0, secondary_window_minutes: 10080, secondary_reset_at: reset + 86400})],
        "401" => vec![Reply::status(401, json!({"error": {"message": "Incorrect API key provided: dummy.", "type": "invalid_request_error", "code": "invalid_api_key"}}))],
        "500" => vec![Reply::status(500, json!({"error": {"message": "boom", "type": "server_error"}}))],
        "inc" => vec![Reply::incomplete("partial")],
        _ => vec![Reply::message("hi")],
    };
    let mock = MockResponses::with_script(script).unwrap();
    let home = CodexHome::new(&mock.base_url());
    let out = home.exec(&codex, "say hi", t);
    show(&which, &mock, &home, &out);
    if which == "tool" {
        let reqs = mock.responses_requests();
        eprintln!("{}", serde_json::to_string_pretty(&reqs[1].body["input"].as_array().unwrap().iter().rev().take(2).collect::<Vec<_>>()).unwrap());
    }
}
