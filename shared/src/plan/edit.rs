//! The one edit offload makes to a plan: a task's `Status` line becomes `done`. Everything
//! else in the file stays byte for byte, line endings included.

use super::{Key, parse};

/// `text` with task `id`'s `- Status:` value set to `done`.
pub fn mark_done(text: &str, id: &str) -> Result<String, String> {
    let plan = parse(text).plan;
    let task = plan
        .task(id)
        .ok_or_else(|| format!("the plan has no task {id}"))?;
    let line = task
        .line_of(Key::Status)
        .ok_or_else(|| format!("task {id} has no `- Status:` line"))?;
    let mut out = String::with_capacity(text.len() + 4);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 != line {
            out.push_str(l);
            continue;
        }
        let body = l.trim_end_matches(['\n', '\r']);
        let ending = &l[body.len()..];
        let colon = body
            .find(':')
            .ok_or_else(|| format!("line {line} is not a `- Status:` line"))?;
        out.push_str(&body[..=colon]);
        out.push_str(" done");
        out.push_str(ending);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_that_line() {
        let text = "# Plan: x\r\n\r\n## Tasks\r\n### T1: a\r\n- Status:  todo\r\n### T2: b\r\n- status: todo";
        let out = mark_done(text, "T2").unwrap();
        assert_eq!(
            out,
            "# Plan: x\r\n\r\n## Tasks\r\n### T1: a\r\n- Status:  todo\r\n### T2: b\r\n- status: done"
        );
        let out = mark_done(&out, "T1").unwrap();
        assert!(out.contains("- Status: done\r\n### T2"), "{out}");
        assert!(mark_done(text, "T9").is_err());
    }
}
