//! Writers killed with SIGKILL in the middle of their appends leave a ledger that still reads,
//! whose torn line is skipped and counted, and whose summaries rebuild to the same numbers.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use shared::ledger::Ledger;
use shared::paths::Paths;

#[test]
fn sigkilled_writers_leave_a_readable_ledger_that_rebuilds() {
    let home = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(Paths::in_folder(home.path().to_path_buf()));
    let spawn = |count: u64, session: &str| {
        Command::new(env!("CARGO_BIN_EXE_ledger-writer"))
            .args([count.to_string(), session.to_string()])
            .env("OFFLOAD_HOME", home.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut killed = 0;
    for round in 0..6u64 {
        let mut writers: Vec<_> = (0..4).map(|w| spawn(1_000_000, &format!("s{w}"))).collect();
        std::thread::sleep(Duration::from_millis(40 + 25 * round));
        for w in &mut writers {
            // SAFETY: SIGKILL to a child this test spawned, by its pid.
            unsafe {
                libc::kill(w.id() as i32, libc::SIGKILL);
            }
        }
        for mut w in writers {
            let status = w.wait().unwrap();
            if status.code().is_none() {
                killed += 1;
            }
        }
        // Readers read at any point in between.
        let read = ledger.read_log().unwrap();
        assert!(!read.events.is_empty());
    }
    assert!(killed >= 20, "writers were killed mid-run ({killed})");

    // A kill inside write(2) is what tears a line; make one for certain, as a killed writer would
    // leave it: half an event, no newline.
    let events = ledger.paths().events();
    let whole = std::fs::read(&events).unwrap();
    let last_line = whole[..whole.len() - 1]
        .rsplit(|b| *b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    f.write_all(&last_line[..last_line.len() / 2]).unwrap();
    drop(f);

    let read = ledger.read_log().unwrap();
    assert!(read.torn_tail, "the torn line is seen");
    let events_before = read.events.len();

    // The next writer terminates the torn line, folds what the killed writers never summarised,
    // and appends cleanly after it.
    let status = spawn(2, "after").wait().unwrap();
    assert!(status.success());
    let read = ledger.read_log().unwrap();
    assert!(!read.torn_tail);
    assert_eq!(read.events.len(), events_before + 2);
    assert!(read.skipped >= 1, "the torn line is skipped and counted");
    let totals = ledger.totals().unwrap();
    assert_eq!(totals.skipped_lines, read.skipped);
    assert_eq!(totals.lines, read.lines);

    let (folded, on_disk) = ledger.verify().unwrap();
    assert_eq!(folded, on_disk, "summaries equal a rebuild");
    let report = ledger.rebuild().unwrap();
    assert!(!report.changed, "{report:?}");
    assert_eq!(report.events as usize, read.events.len());
}
