//! Test support for offload: loopback mock model servers, an OTLP/HTTP receiver, and helpers to
//! drive the real clients.

pub mod claude;
pub mod codex;
mod http;
pub mod messages;
pub mod otlp;
pub mod responses;

/// The end of a mock server binary's `main`: serve until killed, or, when stdin is a pipe or a
/// socket, until it closes (so a parent that holds the pipe never leaves the server behind).
pub fn serve_until_stdin_closes() -> std::process::ExitCode {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let stdin = std::io::stdin();
    let pipe = stdin.as_fd().try_clone_to_owned().is_ok_and(|fd| {
        std::fs::File::from(fd)
            .metadata()
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
    });
    if pipe {
        let _ = stdin.lock().read_to_end(&mut Vec::new());
        return std::process::ExitCode::SUCCESS;
    }
    loop {
        std::thread::park();
    }
}
