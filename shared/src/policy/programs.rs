//! What the Bash analyzer knows about each program, in one table: which of its arguments it
//! writes, whether it runs another command, whether it runs code offload cannot see into.
//!
//! Teaching the analyzer a program is one line here. A program that is not in the table is
//! [`Rule::Runs`]: the guard cannot tell what it writes, so while native edits are locked the
//! command is watched by its effect (see [`super::effect`]) instead of being trusted.
//!
//! The rules, from cheapest to most involved:
//! - [`Rule::Pure`]: writes no file of its own (only where a redirection says). `chmod` is here
//!   too: changing a file's mode is not authoring it (`rm`, which removes code, is a handler).
//! - [`Rule::Output`]: writes the value of these options (`sort -o F`, `iconv -o F`).
//! - [`Rule::Operands`]: writes every operand (`touch`, `truncate`), or only the last (`sponge`).
//! - [`Rule::Extracts`]: writes files it does not name (archives) into the folder an option names
//!   (`tar -C`, `unzip -d`), or the working folder.
//! - [`Rule::Wrapper`]: runs the rest of its arguments as a command, after its options (`nice`,
//!   `setsid`, `flock FILE`); `skip` operands come before the command.
//! - [`Rule::Handler`]: a program with a dedicated parser in [`super::bash`] (`sed`, `git`, `cp`).
//! - [`Rule::Runs`]: runs code offload cannot read (interpreters with a script, build tools that
//!   run project-defined steps, editors with scripts): checked by effect.
//! - [`Rule::Replays`]: rewrites code from content the repository or a formatter already defines
//!   (`git checkout`, `cargo fmt`): not authoring, never undone.

/// How a program is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Pure,
    /// `(options that take a value, options whose value is written)`.
    Output(&'static str, &'static str),
    /// `(options that take a value, only the last operand)`.
    Operands(&'static str, bool),
    /// `(options that take a value, the option naming the destination folder)`.
    Extracts(&'static str, &'static str),
    /// `(options that take a value, operands before the command)`.
    Wrapper(&'static str, usize),
    Handler(Handler),
    /// Why it is opaque (for the reason shown to Claude).
    Runs(&'static str),
    Replays,
}

/// Programs parsed by dedicated code in [`super::bash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Tee,
    Sed,
    Perl,
    Ruby,
    Copy,
    Dd,
    Patch,
    Git,
    Shell,
    Eval,
    Su,
    Find,
    Ed,
    Awk,
    Sd,
    Curl,
    Wget,
    Node,
    Python,
    Env,
    Xargs,
    Timeout,
    Command,
    Xxd,
    Busybox,
    Cargo,
    Npm,
    Script,
    Watch,
    Mktemp,
    Remove,
    Trap,
    Mkdir,
    Touch,
    Uniq,
}

use self::Handler as H;
use self::Rule::*;

/// One entry per program (and per spelling of it). Sorted by name for a binary search.
#[rustfmt::skip]
static PROGRAMS: &[(&str, Rule)] = &[
    (".", Runs("a sourced script")),
    ("7z", Runs("an archiver")),
    (":", Pure),
    ("[", Pure),
    ("ack", Pure),
    ("ag", Pure),
    ("alias", Pure),
    ("ant", Runs("a build tool running project-defined steps")),
    ("ash", Handler(H::Shell)),
    ("at", Runs("a scheduler running commands later")),
    ("awk", Handler(H::Awk)),
    ("base64", Output("-w -o -i --wrap --output --input", "-o --output")),
    ("basename", Pure),
    ("bash", Handler(H::Shell)),
    ("bat", Pure),
    ("batch", Runs("a scheduler running commands later")),
    ("bazel", Runs("a build tool running project-defined steps")),
    ("bc", Pure),
    ("black", Replays),
    ("builtin", Wrapper("", 0)),
    ("bun", Handler(H::Node)),
    ("bunzip2", Runs("a decompressor naming its output after its input")),
    ("busybox", Handler(H::Busybox)),
    ("bzip2", Runs("a compressor that can decompress in place")),
    ("cal", Pure),
    ("cargo", Handler(H::Cargo)),
    ("cat", Pure),
    ("cd", Pure),
    ("chmod", Pure),
    ("chown", Pure),
    ("chronic", Wrapper("", 0)),
    ("chrt", Wrapper("-p", 1)),
    ("clang", Output("-o -I -L -D -U -x -MF -MT -MQ -include", "-o")),
    ("clang-format", Replays),
    ("cmake", Runs("a build tool running project-defined steps")),
    ("cmp", Pure),
    ("column", Pure),
    ("comm", Pure),
    ("command", Handler(H::Command)),
    ("coproc", Runs("a coprocess")),
    ("cp", Handler(H::Copy)),
    ("cpio", Extracts( "-D -E -F -H -I -O -R --directory --file --format", "-D --directory")),
    ("csplit", Runs("a file splitter")),
    ("curl", Handler(H::Curl)),
    ("cut", Pure),
    ("daemonize", Runs("a daemon launcher")),
    ("dash", Handler(H::Shell)),
    ("date", Pure),
    ("dd", Handler(H::Dd)),
    ("declare", Pure),
    ("deno", Handler(H::Node)),
    ("df", Pure),
    ("diff", Pure),
    ("dirname", Pure),
    ("disown", Pure),
    ("doas", Wrapper("-u -C", 0)),
    ("docker", Runs("containers that can mount the project")),
    ("dotnet", Runs("a build tool running project-defined steps")),
    ("du", Pure),
    ("echo", Pure),
    ("ed", Handler(H::Ed)),
    ("egrep", Pure),
    ("emacs", Runs("an editor running a script")),
    ("env", Handler(H::Env)),
    ("eslint", Replays),
    ("eval", Handler(H::Eval)),
    ("ex", Handler(H::Ed)),
    ("exec", Wrapper("-a", 0)),
    ("exit", Pure),
    ("export", Pure),
    ("expr", Pure),
    ("fakeroot", Wrapper("-l --lib --faked -s -i", 0)),
    ("false", Pure),
    ("fd", Pure),
    ("fdfind", Pure),
    ("fgrep", Pure),
    ("file", Pure),
    ("find", Handler(H::Find)),
    ("fish", Handler(H::Shell)),
    ("flock", Wrapper("-w --timeout -E --conflict-exit-code", 1)),
    ("fmt", Pure),
    ("fold", Pure),
    ("free", Pure),
    ("g++", Output("-o -I -L -D -U -x -MF -MT -MQ -include", "-o")),
    ("gawk", Handler(H::Awk)),
    ("gcc", Output("-o -I -L -D -U -x -MF -MT -MQ -include", "-o")),
    ("gdb", Runs("a debugger running a program")),
    ("getopts", Pure),
    ("gh", Runs("a client that can download into the project")),
    ("ginstall", Handler(H::Copy)),
    ("git", Handler(H::Git)),
    ("go", Runs("a build tool running project-defined steps")),
    ("gofmt", Replays),
    ("gpatch", Handler(H::Patch)),
    ("gradle", Runs("a build tool running project-defined steps")),
    ("grep", Pure),
    ("gsed", Handler(H::Sed)),
    ("gunzip", Runs("a decompressor naming its output after its input")),
    ("gzip", Runs("a compressor that can decompress in place")),
    ("hash", Pure),
    ("head", Pure),
    ("hexdump", Pure),
    ("hostname", Pure),
    ("iconv", Output("-f -t -o --from-code --to-code --output", "-o --output")),
    ("id", Pure),
    ("install", Handler(H::Copy)),
    ("ionice", Wrapper("-c -n -p -u", 0)),
    ("isort", Replays),
    ("java", Runs("a program")),
    ("jobs", Pure),
    ("jq", Pure),
    ("just", Runs("a build tool running project-defined steps")),
    ("kill", Pure),
    ("ksh", Handler(H::Shell)),
    ("less", Pure),
    ("let", Pure),
    ("ln", Handler(H::Copy)),
    ("local", Pure),
    ("ls", Pure),
    ("lsof", Pure),
    ("ltrace", Wrapper("-o -e -p -s -n -a -A -D -F -l -u -w -x", 0)),
    ("lua", Runs("an interpreter")),
    ("make", Runs("a build tool running project-defined steps")),
    ("mapfile", Pure),
    ("md5sum", Pure),
    ("mkdir", Handler(H::Mkdir)),
    ("mkfifo", Operands("-m --mode -Z --context", false)),
    ("mknod", Operands("-m --mode -Z --context", false)),
    ("mksh", Handler(H::Shell)),
    ("mktemp", Handler(H::Mktemp)),
    ("more", Pure),
    ("mv", Handler(H::Copy)),
    ("mvn", Runs("a build tool running project-defined steps")),
    ("nano", Runs("an editor")),
    ("nice", Wrapper("-n --adjustment", 0)),
    ("ninja", Runs("a build tool running project-defined steps")),
    ("nl", Pure),
    ("node", Handler(H::Node)),
    ("nodejs", Handler(H::Node)),
    ("nohup", Wrapper("", 0)),
    ("npm", Handler(H::Npm)),
    ("npx", Runs("a package runner")),
    ("numfmt", Pure),
    ("nvim", Runs("an editor running a script")),
    ("od", Pure),
    ("offload", Pure),
    ("openssl", Output( "-in -out -pass -passin -passout -K -iv -md -key -inkey -keyform -config -name -subj -days -newkey -signkey -CA -CAkey -cipher", "-out")),
    ("parallel", Runs("a job runner")),
    ("paste", Pure),
    ("patch", Handler(H::Patch)),
    ("perl", Handler(H::Perl)),
    ("php", Runs("an interpreter")),
    ("pip", Runs("a package installer running build steps")),
    ("pip3", Runs("a package installer running build steps")),
    ("pnpm", Handler(H::Npm)),
    ("popd", Pure),
    ("prettier", Replays),
    ("printenv", Pure),
    ("printf", Pure),
    ("prlimit", Wrapper( "--pid -p --as --core --cpu --data --fsize --nofile --nproc --stack", 0)),
    ("ps", Pure),
    ("pushd", Pure),
    ("pwd", Pure),
    ("pytest", Runs("a test runner running project code")),
    ("python", Handler(H::Python)),
    ("rake", Runs("a build tool running project-defined steps")),
    ("read", Pure),
    ("readlink", Pure),
    ("readonly", Pure),
    ("realpath", Pure),
    ("return", Pure),
    ("rev", Pure),
    ("rg", Pure),
    ("rm", Handler(H::Remove)),
    ("rmdir", Pure),
    ("rsync", Handler(H::Copy)),
    ("ruby", Handler(H::Ruby)),
    ("ruff", Replays),
    ("runuser", Runs("a command as another user")),
    ("rustc", Output( "-o --out-dir --edition --crate-name --crate-type --emit -L -C --cfg --target --cap-lints -l -A -W -D -F", "-o --out-dir")),
    ("rustfmt", Replays),
    ("screen", Runs("a terminal multiplexer running commands")),
    ("script", Handler(H::Script)),
    ("sd", Handler(H::Sd)),
    ("sed", Handler(H::Sed)),
    ("seq", Pure),
    ("set", Pure),
    ("setsid", Wrapper("", 0)),
    ("sg", Runs("a command as another group")),
    ("sh", Handler(H::Shell)),
    ("sha1sum", Pure),
    ("sha256sum", Pure),
    ("sha512sum", Pure),
    ("shellcheck", Pure),
    ("shift", Pure),
    ("shopt", Pure),
    ("shred", Handler(H::Remove)),
    ("shuf", Output("-n -o -e -i --head-count --output --input-range --random-source", "-o --output")),
    ("sleep", Pure),
    ("sort", Output( "-k -t -S -T --key --field-separator --buffer-size --temporary-directory --parallel --batch-size --files0-from --compress-program --random-source --sort -o --output", "-o --output")),
    ("source", Runs("a sourced script")),
    ("split", Runs("a file splitter")),
    ("sponge", Operands("", true)),
    ("sqlite3", Runs("a database shell that can write files")),
    ("stat", Pure),
    ("stdbuf", Wrapper("-i -o -e --input --output --error", 0)),
    ("strace", Wrapper("-o -e -p -s -a -b -E -I -O -P -S -u -X --output --trace --signal --status", 0)),
    ("strings", Pure),
    ("su", Handler(H::Su)),
    ("sudo", Wrapper( "-u -g -h -p -C -D -r -t -T -U --user --group --host --prompt --close-from --chdir --role --type --command-timeout --other-user", 0)),
    ("systemd-run", Runs("a command run by systemd")),
    ("tac", Pure),
    ("tail", Pure),
    ("tar", Extracts( "-f -C -T -X -b -g -H -I -K -L -N -V --file --directory --files-from --exclude-from --exclude --blocking-factor --listed-incremental --format --use-compress-program --starting-file --tape-length --newer --label --transform --xform", "-C --directory")),
    ("taskset", Wrapper("", 1)),
    ("tclsh", Runs("an interpreter")),
    ("tee", Handler(H::Tee)),
    ("test", Pure),
    ("time", Wrapper("-f -o --format --output", 0)),
    ("timeout", Handler(H::Timeout)),
    ("tmux", Runs("a terminal multiplexer running commands")),
    ("top", Pure),
    ("touch", Handler(H::Touch)),
    ("tr", Pure),
    ("trap", Handler(H::Trap)),
    ("tree", Pure),
    ("true", Pure),
    ("truncate", Operands("-s --size -r --reference", false)),
    ("tsc", Runs("a compiler that can emit into the project")),
    ("type", Pure),
    ("typeset", Pure),
    ("ulimit", Pure),
    ("umask", Pure),
    ("uname", Pure),
    ("unbuffer", Wrapper("", 0)),
    ("uniq", Handler(H::Uniq)),
    ("unix2dos", Runs("an in-place converter")),
    ("unlink", Handler(H::Remove)),
    ("unset", Pure),
    ("unshare", Runs("a command in new namespaces")),
    ("unxz", Runs("a decompressor naming its output after its input")),
    ("unzip", Extracts("-d -x -P", "-d")),
    ("uptime", Pure),
    ("valgrind", Runs("a program under a tool")),
    ("vi", Runs("an editor running a script")),
    ("vim", Runs("an editor running a script")),
    ("wait", Pure),
    ("watch", Handler(H::Watch)),
    ("wc", Pure),
    ("wget", Handler(H::Wget)),
    ("which", Pure),
    ("whoami", Pure),
    ("xargs", Handler(H::Xargs)),
    ("xxd", Handler(H::Xxd)),
    ("xz", Runs("a compressor that can decompress in place")),
    ("yarn", Handler(H::Npm)),
    ("yes", Pure),
    ("yq", Pure),
    ("zcat", Pure),
    ("zip", Pure),
    ("zsh", Handler(H::Shell)),
];

/// The rule for a program (its basename: `/usr/bin/sed` → `sed`). Versioned interpreter names
/// (`python3.12`, `pypy3`, `perl5.36`, `node20`) read as their family.
pub fn rule(name: &str) -> Option<Rule> {
    if let Ok(i) = PROGRAMS.binary_search_by(|(n, _)| n.cmp(&name)) {
        return Some(PROGRAMS[i].1);
    }
    let family = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    if family.starts_with("python") || family.starts_with("pypy") {
        return Some(Handler(H::Python));
    }
    match family {
        "perl" => Some(Handler(H::Perl)),
        "ruby" => Some(Handler(H::Ruby)),
        "node" => Some(Handler(H::Node)),
        "lua" | "luajit" | "php" | "tclsh" | "wish" => Some(Runs("an interpreter")),
        _ if family != name && !family.is_empty() => rule(family),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        for pair in PROGRAMS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(rule("ls"), Some(Pure));
        assert_eq!(rule("sed"), Some(Handler(H::Sed)));
        assert_eq!(rule("python3.12"), Some(Handler(H::Python)));
        assert_eq!(rule("pypy3"), Some(Handler(H::Python)));
        assert_eq!(rule("perl5.36"), Some(Handler(H::Perl)));
        assert_eq!(rule("lua5.4"), Some(Runs("an interpreter")));
        assert_eq!(rule("no-such-tool"), None);
        assert_eq!(rule("sponge"), Some(Operands("", true)));
    }
}
