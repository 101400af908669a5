//! Which files a Bash command writes, read from the command text alone.
//!
//! The guard denies native edits of code until Codex has been tried; without this module Claude
//! could route around it with `cat > src/lib.rs <<'EOF'`, `sed -i`, `tee`, `cp` or `git apply`.
//! What each program writes is one entry in [`super::programs`]; this module is the tokenizer,
//! the target resolution, and the handlers of the programs too rich for a table row.
//! [`writes`] parses the command the way a POSIX shell would (quoting, escapes, `;` `&&` `||` `|`
//! `&`, newlines, `( … )`, `{ …; }`, redirections, here-documents, `$( … )` and backticks), follows
//! `cd`/`pushd` within the command, and names every file the command would create or change. It
//! reports all writes, code or not, inside the project or not: deciding what matters is the
//! policy's job (see [`super::scope`]).
//!
//! What it looks through: `sudo`, `doas`, `env`, `command`, `nohup`, `exec`, `time`, `nice`,
//! `timeout`, `stdbuf`, `xargs`, `find -exec`, `bash -c`/`sh -c`/`zsh -c`, `eval`, `su -c`, and a
//! shell reading a here-document (`bash <<EOF`). When a command edits files whose names only exist
//! at run time (`xargs sed -i`, `find … -exec sed -i … {} \;`, `patch < fix.patch` where the patch
//! cannot be read, `sed -i … "$f"` in a loop) it reports [`Target::Unknown`] with the folder.
//!
//! Beyond the files it names, [`analyze`] reports what it could not see into
//! ([`Analysis::opaque`]: interpreters with code that may write, scripts, programs not in
//! [`super::programs`], names computed at run time, git commands that run configured commands)
//! and writes that happen only under a run-time condition ([`Write::conditional`]). The guard
//! judges those by their effect instead ([`super::effect`]). Variables set earlier in the same
//! command (`f=src/a.rs; echo > $f`, `for f in …`, `t=$(mktemp -d)`), `$HOME`, `$PWD`, `$OLDPWD`
//! and `$TMPDIR` are followed; other variables make a name known only at run time.
//!
//! What it deliberately leaves alone, and why:
//! - Git commands that only move the work tree between states the repository already holds
//!   (`checkout`, `restore`, `reset`, `stash`, `merge`): undoing a branch switch would break the
//!   work tree. With git plumbing that makes new content in the same command they are watched.
//! - Formatters (`cargo fmt`, `prettier --write`, `black`): tools run over the code, not
//!   authoring.
//! - `offload run …`: the sanctioned way for Codex to write.
//! - Remote commands (`ssh`) and aliases defined outside the command.
//! - Paths are normalised lexically (no `CDPATH`); `cd` inside `( … )`, `$( … )` or a pipeline
//!   does not leak out, as in the shell.
//!
//! Work is bounded whatever the input: nesting of parentheses and substitutions is capped,
//! strings re-read as commands (`bash -c`, `eval`, `find -exec`) are followed at most four
//! levels deep, patch files are read up to a size and count limit, and the result
//! is capped. It never panics: an unterminated quote, substitution or here-document runs to the
//! end of the text.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::programs::{self, Handler, Rule};
use super::scope::normalize;
use std::rc::Rc;

/// A file the command writes, and which mechanism writes it (`"redirect"`, `"tee"`, `"sed -i"`,
/// `"cp"`, `"git apply"`, …) so that a denial can say what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Write {
    pub path: PathBuf,
    pub how: &'static str,
    /// Written only if a run-time condition holds (`test … && cp …`, inside `if`/`case`/`while`,
    /// a function body): judged by effect, not denied up front.
    pub conditional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    File(Write),
    /// A command that writes files it does not name on the command line (`patch`/`git apply`
    /// reading a patch from a pipe, `xargs sed -i`, `find … -exec sed -i … {} \;`) in this folder.
    Unknown {
        dir: PathBuf,
        how: &'static str,
    },
}

/// What the analyzer learned about one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Every file the command writes (or folder it writes unnamed files into).
    pub targets: Vec<Target>,
    /// Why the command may write files it does not name: it runs code offload cannot read (an
    /// interpreter with a script, a program not in [`super::programs`], a name computed at run
    /// time). Such a command is judged by its effect when native edits are locked.
    pub opaque: Vec<String>,
    /// The analysis hit one of its limits and stopped: what it saw is incomplete, so the guard
    /// must not trust it (it denies).
    pub limit: Option<&'static str>,
    /// The command runs `offload approve` (in any spelling the parser can see through).
    pub runs_approve: bool,
    /// The command runs `offload run … --parallel` (a second writing run beside one that works).
    pub runs_parallel: bool,
    /// Part of it goes on after the command returns (`cmd &`, `setsid -f`, `at`): what that
    /// part does comes after PostToolUse, where the effect check cannot see it.
    pub background: bool,
}

/// Every file `command` would write when run in `cwd`, with `~` meaning `home`. Paths are
/// absolute when `cwd` is, and lexically normalised. See the module docs for what is left out.
pub fn writes(command: &str, cwd: &Path, home: Option<&Path>) -> Vec<Target> {
    analyze(command, cwd, home, None, None).targets
}

/// Analyze `command` run in `cwd`: what it writes, whether it runs code offload cannot read, and
/// whether the analysis was complete. `tmpdir` is `$TMPDIR` (default `/tmp`); `deadline` stops
/// the analysis (as a [`Analysis::limit`]) when it passes.
pub fn analyze(
    command: &str,
    cwd: &Path,
    home: Option<&Path>,
    tmpdir: Option<&Path>,
    deadline: Option<std::time::Instant>,
) -> Analysis {
    let mut a = Analyzer {
        home,
        tmpdir: tmpdir
            .filter(|t| t.is_absolute())
            .map_or_else(|| PathBuf::from("/tmp"), normalize),
        out: Vec::new(),
        seen: HashSet::new(),
        opaque: Vec::new(),
        limit: None,
        runs_approve: false,
        runs_parallel: false,
        background: false,
        checked: Vec::new(),
        conditional: 0,
        made_dirs: HashSet::new(),
        git_replays: false,
        git_creates: false,
        work: 0,
        patch_reads: 0,
        deadline,
    };
    if command.len() > MAX_WORK {
        a.limit = Some("it is more than 16 MiB of command text to analyze");
    } else {
        let mut env = Env::at(normalize(cwd));
        a.script(command, &mut env, &Ctx::default());
    }
    if a.git_replays && a.git_creates {
        a.opaque("moves content made by git in the same command into the work tree".into());
    }
    Analysis {
        targets: a.out,
        opaque: a.opaque,
        limit: a.limit,
        runs_approve: a.runs_approve,
        runs_parallel: a.runs_parallel,
        background: a.background,
    }
}

/// How deep `( … )`, `$( … )` and backticks may nest before the rest is skipped as text.
const MAX_NEST: usize = 32;
/// How many times a string may be re-read as commands (`bash -c "sh -c '…'"`, `eval`,
/// `find -exec`).
const MAX_REPARSE: usize = 4;
/// At most this many targets are returned.
const MAX_TARGETS: usize = 256;
/// Bytes of paths built and text re-parsed before the analysis stops.
const MAX_WORK: usize = 16 << 20;
/// A patch file is read up to this size, and at most this many per command.
const MAX_PATCH_BYTES: u64 = 8 << 20;
const MAX_PATCH_READS: usize = 8;
/// `cd` into a longer path, or a deeper `pushd` stack, is ignored (no real path is that long).
const MAX_CWD_BYTES: usize = 4096;
const MAX_DIR_STACK: usize = 16;
/// Variables remembered per command.
const MAX_VARS: usize = 256;

// ---------------------------------------------------------------------------------------------
// Parsing: text → lists of simple commands, with redirections and here-document bodies.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Word {
    /// The text after quote removal; `$VAR`, `$( … )` and backticks are kept as written.
    text: String,
    /// Starts with an unquoted `~`.
    tilde: bool,
    /// Had quotes or backslashes (a quoted here-document delimiter keeps the body literal).
    quoted: bool,
}

impl Word {
    fn plain(text: &str) -> Word {
        Word {
            text: text.to_owned(),
            tilde: text.starts_with('~'),
            quoted: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `<`
    In,
    /// `>`, `>>`, `>|`, `<>`, `&>`, `&>>`: the target is opened for writing.
    Write,
    /// `>&WORD`: a file unless WORD is a descriptor number or `-`.
    DupOut,
    /// `<&`
    DupIn,
    /// `<<`, `<<-`
    HereDoc,
    /// `<<<`
    HereString,
}

#[derive(Debug)]
struct Redir {
    op: Op,
    target: Word,
    /// Index into [`Script::bodies`] for a here-document.
    body: Option<usize>,
}

#[derive(Debug, Default)]
struct Simple {
    words: Vec<Word>,
    redirs: Vec<Redir>,
    /// Command and process substitutions found in the words, each run in a subshell.
    subs: Vec<List>,
}

#[derive(Debug)]
enum Node {
    Simple(Simple),
    Subshell(List),
}

#[derive(Debug)]
struct Item {
    node: Node,
    /// Reads the previous item's output (`a | b`).
    piped: bool,
    /// Runs only if the previous item succeeded or failed (`a && b`, `a || b`).
    chained: bool,
    /// The chain is `&&`.
    and: bool,
    /// Run in the background (`cmd &`).
    background: bool,
}

#[derive(Debug, Default)]
struct List {
    items: Vec<Item>,
}

struct Script {
    list: List,
    bodies: Vec<String>,
    /// Nesting went deeper than [`MAX_NEST`]: the deepest part was skipped as text.
    truncated: bool,
}

struct Pending {
    delim: String,
    strip_tabs: bool,
    /// Unquoted delimiter: `$( … )` and backticks in the body run.
    expand: bool,
    depth: usize,
    idx: usize,
}

struct Parser {
    s: Vec<char>,
    pos: usize,
    bodies: Vec<String>,
    pending: Vec<Pending>,
    truncated: bool,
}

fn parse(src: &str) -> Script {
    let mut p = Parser {
        s: src.chars().collect(),
        pos: 0,
        bodies: Vec::new(),
        pending: Vec::new(),
        truncated: false,
    };
    let list = p.list(0, false);
    Script {
        list,
        bodies: p.bodies,
        truncated: p.truncated,
    }
}

/// Characters that end an unquoted word.
fn ends_word(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

/// Bash builtins: never looked up in `PATH`.
const BUILTINS: &[&str] = &[
    "echo",
    "printf",
    "test",
    "[",
    "true",
    "false",
    "pwd",
    "cd",
    "pushd",
    "popd",
    "read",
    "export",
    "local",
    "declare",
    "set",
    "unset",
    "shift",
    "exit",
    "return",
    "wait",
    "jobs",
    "kill",
    "type",
    "command",
    "builtin",
    "hash",
    "alias",
    "unalias",
    "eval",
    "exec",
    "source",
    ".",
    ":",
    "trap",
    "umask",
    "ulimit",
    "shopt",
    "mapfile",
    "readarray",
    "let",
    "getopts",
    "times",
    "disown",
    "suspend",
    "caller",
    "compgen",
    "complete",
    "dirs",
    "enable",
    "fc",
    "help",
    "history",
    "logout",
    "readonly",
    "typeset",
];

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac",
    "function",
];

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.pos + n).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                _ => break,
            }
        }
    }

    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.pos += 1;
        }
    }

    /// A command list, up to the end of the text or (when `in_parens`) the `)` that closes it.
    fn list(&mut self, depth: usize, in_parens: bool) -> List {
        let mut items = Vec::new();
        let mut piped = false;
        let mut chained = false;
        let mut and = false;
        while let Some(c) = {
            self.skip_blanks();
            self.peek()
        } {
            match c {
                '\n' => {
                    self.pos += 1;
                    chained = false;
                    // Substitutions in here-document bodies run with the line that opened them.
                    for sub in self.read_heredocs() {
                        items.push(Item {
                            node: Node::Subshell(sub),
                            piped: false,
                            chained: false,
                            and: false,
                            background: false,
                        });
                    }
                    piped = false;
                }
                '#' => self.skip_comment(),
                ';' => {
                    self.pos += 1;
                    while matches!(self.peek(), Some(';' | '&')) {
                        self.pos += 1;
                    }
                    piped = false;
                    chained = false;
                }
                '&' if self.peek_at(1) != Some('>') => {
                    self.pos += 1;
                    chained = self.eat('&');
                    and = chained;
                    piped = false;
                    if !chained && let Some(last) = items.last_mut() {
                        // `cmd &`: it goes on after the command line returns.
                        last.background = true;
                    }
                }
                '|' => {
                    self.pos += 1;
                    let or = self.eat('|');
                    piped = !or;
                    chained |= or;
                    and &= !or;
                    self.eat('&');
                }
                ')' => {
                    self.pos += 1;
                    if in_parens {
                        break;
                    }
                    piped = false;
                }
                '(' if self.peek_at(1) == Some('(') => {
                    // `(( arithmetic ))`: no commands inside.
                    self.skip_parens(0);
                }
                '(' => {
                    self.pos += 1;
                    let inner = self.nested(depth);
                    items.push(Item {
                        node: Node::Subshell(inner),
                        piped,
                        chained,
                        and,
                        background: false,
                    });
                    piped = false;
                }
                _ => {
                    let before = self.pos;
                    let simple = self.simple(depth);
                    if self.pos == before {
                        self.pos += 1;
                        continue;
                    }
                    items.push(Item {
                        node: Node::Simple(simple),
                        piped,
                        chained,
                        and,
                        background: false,
                    });
                    piped = false;
                }
            }
        }
        List { items }
    }

    /// The inside of `( … )` or `$( … )`, the `(` already read.
    fn nested(&mut self, depth: usize) -> List {
        if depth >= MAX_NEST {
            self.truncated = true;
            self.skip_parens(1);
            List::default()
        } else {
            self.list(depth + 1, true)
        }
    }

    /// Skip to the parenthesis that balances `open` already-open ones (0: the next char is `(`),
    /// as text: quotes are respected, nothing is parsed.
    fn skip_parens(&mut self, mut open: usize) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '(' => open += 1,
                ')' => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        return;
                    }
                }
                '\\' => self.pos = (self.pos + 1).min(self.s.len()),
                '\'' => {
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    self.eat('\'');
                }
                '"' => {
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        match c {
                            '\\' => self.pos = (self.pos + 1).min(self.s.len()),
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn skip_braces(&mut self) {
        let mut open = 0usize;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '{' => open += 1,
                '}' => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        return;
                    }
                }
                '\\' => self.pos = (self.pos + 1).min(self.s.len()),
                _ => {}
            }
        }
    }

    fn simple(&mut self, depth: usize) -> Simple {
        let mut sc = Simple::default();
        // Inside `[[ … ]]`, `<` and `>` compare strings.
        let mut dbracket = false;
        while let Some(c) = {
            self.skip_blanks();
            self.peek()
        } {
            match c {
                '\n' | ';' | '|' | ')' => break,
                '(' if !dbracket => break,
                '(' => {
                    self.pos += 1;
                    sc.words.push(Word::plain("("));
                }
                '&' if self.peek_at(1) == Some('>') => {
                    self.pos += 1;
                    self.redirect(depth, true, &mut sc);
                }
                '&' => break,
                '#' => {
                    self.skip_comment();
                    break;
                }
                '<' | '>' if self.peek_at(1) == Some('(') => {
                    // Process substitution: the command sees a pipe path.
                    self.pos += 2;
                    let inner = self.nested(depth);
                    sc.subs.push(inner);
                    sc.words.push(Word::plain("/dev/fd/63"));
                }
                '<' | '>' if dbracket => {
                    self.pos += 1;
                    sc.words.push(Word::plain(if c == '<' { "<" } else { ">" }));
                }
                '<' | '>' => self.redirect(depth, false, &mut sc),
                _ => {
                    let (w, digits) = self.word(depth, &mut sc.subs);
                    if digits && matches!(self.peek(), Some('<' | '>')) {
                        // `2>file`: the digits name the descriptor, which does not matter here.
                        self.redirect(depth, false, &mut sc);
                        continue;
                    }
                    match w.text.as_str() {
                        "[[" => dbracket = true,
                        "]]" => dbracket = false,
                        _ => {}
                    }
                    sc.words.push(w);
                }
            }
        }
        sc
    }

    /// A redirection; the position is at `<` or `>` (for `&>`, the `&` has been read).
    fn redirect(&mut self, depth: usize, both: bool, sc: &mut Simple) {
        let mut strip_tabs = false;
        let op = if both {
            self.pos += 1;
            self.eat('>');
            Op::Write
        } else if self.eat('>') {
            if self.eat('&') {
                Op::DupOut
            } else {
                let _ = self.eat('>') || self.eat('|');
                Op::Write
            }
        } else {
            self.eat('<');
            if self.eat('<') {
                if self.eat('<') {
                    Op::HereString
                } else {
                    strip_tabs = self.eat('-');
                    Op::HereDoc
                }
            } else if self.eat('>') {
                Op::Write
            } else if self.eat('&') {
                Op::DupIn
            } else {
                Op::In
            }
        };
        self.skip_blanks();
        let target = match self.peek() {
            Some(c) if !ends_word(c) => self.word(depth, &mut sc.subs).0,
            _ => Word::default(),
        };
        let body = (op == Op::HereDoc).then(|| {
            let idx = self.bodies.len();
            self.bodies.push(String::new());
            self.pending.push(Pending {
                delim: target.text.clone(),
                strip_tabs,
                expand: !target.quoted,
                depth,
                idx,
            });
            idx
        });
        sc.redirs.push(Redir { op, target, body });
    }

    /// One word; also says whether it was all unquoted digits (a descriptor before `<`/`>`).
    fn word(&mut self, depth: usize, subs: &mut Vec<List>) -> (Word, bool) {
        let start = self.pos;
        let mut w = Word {
            text: String::new(),
            tilde: self.peek() == Some('~'),
            quoted: false,
        };
        let mut digits = true;
        while let Some(c) = self.peek() {
            match c {
                '(' if self.pos > start => {
                    // `a=(1 2)`, `@(x|y)`, `f()`: kept as text.
                    let st = self.pos;
                    self.skip_parens(0);
                    w.text.extend(&self.s[st..self.pos]);
                    digits = false;
                }
                c if ends_word(c) => break,
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(n) => {
                            w.text.push(n);
                            self.pos += 1;
                        }
                        None => w.text.push('\\'),
                    }
                    digits = false;
                    w.quoted = true;
                }
                '\'' => {
                    w.quoted = true;
                    self.pos += 1;
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        w.text.push(c);
                    }
                    digits = false;
                }
                '"' => {
                    self.pos += 1;
                    self.dquote(depth, &mut w.text, subs);
                    digits = false;
                    w.quoted = true;
                }
                '$' => {
                    w.quoted |= matches!(self.peek_at(1), Some('\'' | '"'));
                    self.dollar(depth, &mut w.text, subs);
                    digits = false;
                }
                '`' => {
                    self.backtick(depth, &mut w.text, subs);
                    digits = false;
                }
                _ => {
                    digits &= c.is_ascii_digit();
                    w.text.push(c);
                    self.pos += 1;
                }
            }
        }
        let digits = digits && !w.text.is_empty();
        (w, digits)
    }

    /// The inside of `"…"`, the opening quote read.
    fn dquote(&mut self, depth: usize, out: &mut String, subs: &mut Vec<List>) {
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.pos += 1;
                    return;
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            out.push(n);
                            self.pos += 1;
                        }
                        Some('\n') => self.pos += 1,
                        _ => out.push('\\'),
                    }
                }
                '$' => self.dollar(depth, out, subs),
                '`' => self.backtick(depth, out, subs),
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$…` at the position: `$'…'`, `$"…"`, `$( … )`, `$(( … ))`, `${ … }`, or a plain `$`.
    fn dollar(&mut self, depth: usize, out: &mut String, subs: &mut Vec<List>) {
        let st = self.pos;
        match self.peek_at(1) {
            Some('\'') => {
                self.pos += 2;
                self.ansi_c(out);
            }
            Some('"') => {
                self.pos += 2;
                self.dquote(depth, out, subs);
            }
            Some('(') if self.peek_at(2) == Some('(') => {
                self.pos += 1;
                self.skip_parens(0);
                out.extend(&self.s[st..self.pos]);
            }
            Some('(') => {
                self.pos += 2;
                let inner = self.nested(depth);
                subs.push(inner);
                out.extend(&self.s[st..self.pos]);
            }
            Some('{') => {
                self.pos += 1;
                self.skip_braces();
                out.extend(&self.s[st..self.pos]);
            }
            _ => {
                out.push('$');
                self.pos += 1;
            }
        }
    }

    /// The inside of `$'…'`, the opening quote read.
    fn ansi_c(&mut self, out: &mut String) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\'' => return,
                '\\' => {
                    let Some(n) = self.peek() else {
                        out.push('\\');
                        return;
                    };
                    self.pos += 1;
                    match n {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'x' => {
                            let mut v = 0u32;
                            let mut k = 0;
                            while k < 2 && self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                                v = v * 16 + self.peek().and_then(|c| c.to_digit(16)).unwrap_or(0);
                                self.pos += 1;
                                k += 1;
                            }
                            out.push(char::from_u32(v).unwrap_or('?'));
                        }
                        '\\' | '\'' | '"' | '?' => out.push(n),
                        _ => {
                            out.push('\\');
                            out.push(n);
                        }
                    }
                }
                _ => out.push(c),
            }
        }
    }

    /// `` `…` `` at the position: the inside is unescaped and parsed as commands.
    fn backtick(&mut self, depth: usize, out: &mut String, subs: &mut Vec<List>) {
        let st = self.pos;
        self.pos += 1;
        let mut inner = Vec::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => match self.peek() {
                    Some(n @ ('`' | '\\' | '$')) => {
                        inner.push(n);
                        self.pos += 1;
                    }
                    _ => inner.push('\\'),
                },
                _ => inner.push(c),
            }
        }
        out.extend(&self.s[st..self.pos]);
        self.truncated |= depth >= MAX_NEST;
        if depth < MAX_NEST {
            let outer_s = std::mem::replace(&mut self.s, inner);
            let outer_pos = std::mem::replace(&mut self.pos, 0);
            let outer_pending = std::mem::take(&mut self.pending);
            let list = self.list(depth + 1, false);
            self.s = outer_s;
            self.pos = outer_pos;
            self.pending = outer_pending;
            subs.push(list);
        }
    }

    /// After a newline: the bodies of the here-documents opened on the line just ended. Returns
    /// the command substitutions found in bodies whose delimiter was not quoted.
    fn read_heredocs(&mut self) -> Vec<List> {
        let mut subs = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let delim: Vec<char> = p.delim.chars().collect();
            let mut body = String::new();
            while self.pos < self.s.len() {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let end = self.pos;
                self.eat('\n');
                let line = &self.s[start..end];
                let mut cmp = line;
                if p.strip_tabs {
                    while let ['\t', rest @ ..] = cmp {
                        cmp = rest;
                    }
                }
                if let [rest @ .., '\r'] = cmp {
                    cmp = rest;
                }
                if cmp == delim.as_slice() {
                    break;
                }
                body.extend(line);
                body.push('\n');
            }
            if p.expand {
                subs.extend(self.body_substitutions(&body, p.depth));
            }
            if let Some(slot) = self.bodies.get_mut(p.idx) {
                *slot = body;
            }
        }
        subs
    }

    /// The `$( … )` and backtick commands in an unquoted here-document body.
    fn body_substitutions(&mut self, body: &str, depth: usize) -> Vec<List> {
        let mut subs = Vec::new();
        self.truncated |= depth >= MAX_NEST && body.contains(['$', '`']);
        if depth >= MAX_NEST || !body.contains(['$', '`']) {
            return subs;
        }
        let outer_s = std::mem::replace(&mut self.s, body.chars().collect());
        let outer_pos = std::mem::replace(&mut self.pos, 0);
        let outer_pending = std::mem::take(&mut self.pending);
        let mut scratch = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\\' => self.pos = (self.pos + 2).min(self.s.len()),
                '$' if self.peek_at(1) == Some('(') => self.dollar(depth, &mut scratch, &mut subs),
                '`' => self.backtick(depth, &mut scratch, &mut subs),
                _ => self.pos += 1,
            }
            scratch.clear();
        }
        self.s = outer_s;
        self.pos = outer_pos;
        self.pending = outer_pending;
        subs
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis: commands → targets.

/// What a shell variable set earlier in the same command holds, as far as the analyzer knows.
#[derive(Clone, Debug)]
enum Val {
    /// Literal words (`f=src/a.rs`, or the items of `for f in a b c`).
    Words(Rc<[String]>),
    /// A fresh temporary path (`t=$(mktemp -d)`): outside the project.
    Temp,
    /// Set from something only known at run time.
    Unknown,
}

/// The shell state that changes paths (`cd`, `pushd`, `popd`) and the variables set so far.
#[derive(Clone)]
struct Env {
    cwd: Rc<Path>,
    oldpwd: Option<Rc<Path>>,
    stack: Vec<Rc<Path>>,
    vars: Rc<std::collections::HashMap<String, Val>>,
}

impl Env {
    fn at(dir: PathBuf) -> Env {
        Env {
            cwd: Rc::from(dir),
            oldpwd: None,
            stack: Vec::new(),
            vars: Rc::default(),
        }
    }

    /// The same variables, in another folder.
    fn moved(&self, dir: PathBuf) -> Env {
        Env {
            vars: self.vars.clone(),
            ..Env::at(dir)
        }
    }

    fn chdir(&mut self, to: PathBuf) {
        if to.as_os_str().len() <= MAX_CWD_BYTES {
            let old = std::mem::replace(&mut self.cwd, Rc::from(to));
            self.oldpwd = Some(old);
        }
    }

    fn set(&mut self, name: &str, v: Val) {
        if self.vars.len() < MAX_VARS || self.vars.contains_key(name) {
            Rc::make_mut(&mut self.vars).insert(name.to_owned(), v);
        }
    }
}

/// How the current command was reached.
#[derive(Clone, Default)]
struct Ctx {
    /// Under `find -exec` (`{}`) or `xargs -I R`: an operand holding the token is a name known only
    /// at run time, somewhere under these folders.
    placeholder: Option<(String, Vec<PathBuf>)>,
    /// Under `xargs` without `-I`: more operands come from stdin.
    stdin_args: bool,
    /// How many strings have been re-read as commands to get here.
    depth: usize,
}

impl Ctx {
    fn deeper(&self) -> Ctx {
        Ctx {
            depth: self.depth + 1,
            ..self.clone()
        }
    }
}

/// What a command reads on stdin, as far as it can be known.
enum Stdin<'a> {
    None,
    Text(&'a str),
    File(PathBuf),
    Opaque,
}

struct Analyzer<'h> {
    home: Option<&'h Path>,
    tmpdir: PathBuf,
    out: Vec<Target>,
    seen: HashSet<Target>,
    opaque: Vec<String>,
    limit: Option<&'static str>,
    runs_approve: bool,
    runs_parallel: bool,
    background: bool,
    /// Programs looked up in `PATH` already, and the verdict.
    checked: Vec<(String, Option<String>)>,
    /// The command being analyzed runs only under a run-time condition.
    conditional: usize,
    /// Folders `mkdir` creates earlier in the command.
    made_dirs: HashSet<PathBuf>,
    /// A git command moved the work tree between repository states / made new git content.
    git_replays: bool,
    git_creates: bool,
    work: usize,
    patch_reads: usize,
    deadline: Option<std::time::Instant>,
}

impl Analyzer<'_> {
    fn done(&mut self) -> bool {
        if self.limit.is_some() {
            return true;
        }
        if self.out.len() >= MAX_TARGETS {
            self.limit = Some("it writes more than 256 files");
        } else if self.work >= MAX_WORK {
            self.limit = Some("it is more than 16 MiB of command text to analyze");
        } else if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            self.limit = Some("analyzing it took longer than the guard's deadline");
        }
        self.limit.is_some()
    }

    fn push(&mut self, t: Target) {
        if self.done() {
            return;
        }
        let t = match t {
            Target::File(mut w) => {
                w.conditional |= self.conditional > 0;
                runtime_name(&w.path).map_or(Target::File(w.clone()), |dir| Target::Unknown {
                    dir,
                    how: w.how,
                })
            }
            t => t,
        };
        if self.seen.insert(t.clone()) {
            self.out.push(t);
        }
    }

    /// Why the program `name` resolves to cannot be trusted to be what its name says: the file
    /// `PATH` finds for it was created or changed in the last day (a fake `grep` dropped in
    /// `~/.local/bin` is; a system `grep` is not). Shell builtins are not looked up.
    fn untrusted_program(&mut self, name: &str) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        if BUILTINS.contains(&name) || name.contains('/') {
            return None;
        }
        if let Some(hit) = self.checked.iter().find(|(n, _)| n == name) {
            return hit.1.clone();
        }
        let verdict = (|| {
            let path = std::env::var_os("PATH")?;
            for dir in std::env::split_paths(&path).take(64) {
                let candidate = dir.join(name);
                let Ok(meta) = std::fs::metadata(&candidate) else {
                    continue;
                };
                if !meta.is_file() || meta.mode() & 0o111 == 0 {
                    continue;
                }
                if is_own_binary(name, &meta) {
                    // offload's own CLI beside this hook (installed today on the first day):
                    // the guard protects it, and setup's record of it is checked (tamper).
                    return None;
                }
                let link = std::fs::symlink_metadata(&candidate).ok();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let newest = meta.ctime().max(link.map_or(0, |l| l.ctime()));
                return (now - newest < 86_400).then(|| {
                    format!(
                        "runs `{name}` from {}, a file created or changed in the last day",
                        candidate.display()
                    )
                });
            }
            None
        })();
        if self.checked.len() < 64 {
            self.checked.push((name.to_owned(), verdict.clone()));
        }
        verdict
    }

    fn unknown(&mut self, dir: &Path, how: &'static str) {
        self.push(Target::Unknown {
            dir: dir.to_path_buf(),
            how,
        });
    }

    /// The command runs code offload cannot read; `why` says what.
    fn opaque(&mut self, why: String) {
        if self.opaque.len() < 16 && !self.opaque.contains(&why) {
            self.opaque.push(why);
        }
    }

    fn script(&mut self, src: &str, env: &mut Env, ctx: &Ctx) {
        if self.done() {
            return;
        }
        if ctx.depth > MAX_REPARSE {
            self.limit = Some("it re-reads command strings more than 4 levels deep");
            return;
        }
        self.work += src.len();
        let sc = parse(src);
        if sc.truncated {
            self.limit = Some("it nests substitutions or subshells more than 32 levels deep");
            return;
        }
        self.list(&sc.list, &sc.bodies, env, ctx);
    }

    fn list(&mut self, list: &List, bodies: &[String], env: &mut Env, ctx: &Ctx) {
        let items = &list.items;
        let outer = self.conditional;
        // `if`/`while`/`until`/`case` blocks and function bodies open a conditional region.
        let mut blocks: usize = 0;
        for (i, item) in items.iter().enumerate() {
            if self.done() {
                break;
            }
            let first = match &item.node {
                Node::Simple(sc) => sc.words.first().map(|w| w.text.as_str()),
                Node::Subshell(_) => None,
            };
            match first {
                Some("if" | "while" | "until" | "case" | "select" | "function") => blocks += 1,
                // `name() { …; }`: a body that runs only when called.
                Some(w) if w.ends_with("()") => blocks += 1,
                _ => {}
            }
            // `cd x && …` runs in practice; `true || …` never does.
            let chained = item.chained
                && !(item.and && i.checked_sub(1).is_some_and(|p| certain(&items[p].node)));
            self.conditional = outer + blocks + usize::from(chained);
            self.background |= item.background;
            match &item.node {
                Node::Subshell(inner) => self.list(inner, bodies, &mut env.clone(), ctx),
                Node::Simple(sc) => {
                    for sub in &sc.subs {
                        self.list(sub, bodies, &mut env.clone(), ctx);
                    }
                    let prev = match i.checked_sub(1).map(|p| &items[p].node) {
                        Some(Node::Simple(p)) if item.piped => Some(p),
                        _ => None,
                    };
                    let in_pipe = item.piped || items.get(i + 1).is_some_and(|n| n.piped);
                    self.simple(sc, bodies, env, ctx, in_pipe, item.piped, prev);
                    let last = sc.words.last().map(|w| w.text.as_str());
                    if matches!(first, Some("fi" | "done" | "esac" | "}"))
                        || matches!(last, Some("fi" | "done" | "esac" | "}"))
                    {
                        blocks = blocks.saturating_sub(1);
                    }
                }
            }
        }
        self.conditional = outer;
    }

    #[allow(clippy::too_many_arguments)]
    fn simple(
        &mut self,
        sc: &Simple,
        bodies: &[String],
        env: &mut Env,
        ctx: &Ctx,
        in_pipe: bool,
        piped: bool,
        prev: Option<&Simple>,
    ) {
        let mut stdin = if piped {
            prev.map_or(Stdin::Opaque, |p| self.pipe_source(p, bodies, env))
        } else {
            Stdin::None
        };
        for r in &sc.redirs {
            match r.op {
                Op::Write => self.file(&r.target, env, ctx, "redirect"),
                Op::DupOut if !is_fd(&r.target.text) => self.file(&r.target, env, ctx, "redirect"),
                Op::In => {
                    stdin = match self.expand_one(&r.target, env) {
                        Some(w) => Stdin::File(self.resolve(&w, &env.cwd)),
                        None => Stdin::Opaque,
                    }
                }
                Op::HereDoc => {
                    let body = r.body.and_then(|i| bodies.get(i));
                    stdin = Stdin::Text(body.map_or("", String::as_str));
                }
                Op::HereString => stdin = Stdin::Text(&r.target.text),
                Op::DupOut | Op::DupIn => {}
            }
        }
        self.command(&sc.words, env, ctx, &stdin, in_pipe);
    }

    /// What `prev | this` feeds this command: `cat FILE`, `cat <<EOF`, `echo …`, or opaque.
    fn pipe_source<'b>(&mut self, prev: &'b Simple, bodies: &'b [String], env: &Env) -> Stdin<'b> {
        let words = skip_prefix(&prev.words);
        let Some(first) = words.first() else {
            return Stdin::Opaque;
        };
        let args = &words[1..];
        match command_name(&first.text) {
            "cat" if args.is_empty() => {
                let body = prev.redirs.iter().rev().find_map(|r| match r.op {
                    Op::HereDoc => r.body.and_then(|i| bodies.get(i)).map(String::as_str),
                    Op::HereString => Some(r.target.text.as_str()),
                    _ => None,
                });
                body.map_or(Stdin::Opaque, Stdin::Text)
            }
            "cat" if args.len() == 1 && !args[0].text.starts_with('-') => {
                match self.expand_one(&args[0], env) {
                    Some(w) => Stdin::File(self.resolve(&w, &env.cwd)),
                    None => Stdin::Opaque,
                }
            }
            "echo" | "printf" if args.len() == 1 && !args[0].text.contains(['$', '`', '\\']) => {
                Stdin::Text(&args[0].text)
            }
            _ => Stdin::Opaque,
        }
    }

    /// Record `NAME=value` words (a command of assignments only, or `export`/`local`/…).
    fn assign(&mut self, words: &[Word], env: &mut Env) {
        for w in words {
            let Some((name, value)) = w.text.split_once('=') else {
                continue;
            };
            if !is_assignment(&w.text) {
                continue;
            }
            let name = name.trim_end_matches('+');
            if matches!(
                name,
                "PATH"
                    | "HOME"
                    | "BASH_ENV"
                    | "ENV"
                    | "IFS"
                    | "CDPATH"
                    | "LD_PRELOAD"
                    | "LD_LIBRARY_PATH"
                    | "PYTHONPATH"
                    | "PYTHONSTARTUP"
                    | "PYTHONUSERBASE"
                    | "NODE_OPTIONS"
                    | "NODE_PATH"
                    | "PERL5OPT"
                    | "PERL5LIB"
                    | "RUBYOPT"
                    | "GIT_DIR"
                    | "GIT_EXEC_PATH"
            ) || name.starts_with("GIT_CONFIG")
            {
                self.opaque(format!(
                    "changes ${name}, which decides what later commands run"
                ));
            }
            let v = if mktemp_value(value) {
                Val::Temp
            } else {
                match self.expand(&Word::plain(value), env) {
                    Some(ws) if ws.len() == 1 => Val::Words(Rc::from(vec![ws[0].text.clone()])),
                    _ => Val::Unknown,
                }
            };
            env.set(name, v);
        }
    }

    /// `$NAME`, `${NAME}` and `${NAME:-default}` replaced by what the command set them to
    /// (`~`, `$HOME`, `$PWD`, `$TMPDIR` included). `None` when a part is only known at run time.
    /// A variable holding several words (`for f in a b`) gives one word per value (at most 32).
    fn expand(&mut self, w: &Word, env: &Env) -> Option<Vec<Word>> {
        let t = &w.text;
        if !t.contains(['$', '`']) {
            return Some(vec![w.clone()]);
        }
        let mut outs: Vec<String> = vec![String::new()];
        let mut rest = t.as_str();
        while let Some(at) = rest.find(['$', '`']) {
            for o in &mut outs {
                o.push_str(&rest[..at]);
            }
            let after = &rest[at..];
            if after.starts_with('`') || after.starts_with("$(") {
                return None;
            }
            let (name, default, len) = var_ref(after)?;
            let values: Vec<String> = match (name, env.vars.get(name)) {
                (_, Some(Val::Words(ws))) => ws.to_vec(),
                (_, Some(Val::Temp)) => {
                    vec![self.tmpdir.join("offload-mktemp").display().to_string()]
                }
                (_, Some(Val::Unknown)) => return None,
                ("HOME", None) => vec![self.home?.display().to_string()],
                ("PWD", None) => vec![env.cwd.display().to_string()],
                ("OLDPWD", None) => vec![env.oldpwd.as_ref()?.display().to_string()],
                ("TMPDIR", None) => vec![self.tmpdir.display().to_string()],
                ("CLAUDE_PROJECT_DIR", None) => {
                    vec![
                        std::env::var("CLAUDE_PROJECT_DIR")
                            .ok()
                            .filter(|p| p.starts_with('/'))?,
                    ]
                }
                (_, None) => vec![default?.to_owned()],
            };
            let mut next = Vec::new();
            for o in &outs {
                for v in &values {
                    if next.len() < 32 {
                        next.push(format!("{o}{v}"));
                    }
                }
            }
            outs = next;
            rest = &after[len..];
        }
        for o in &mut outs {
            o.push_str(rest);
        }
        self.work += outs.iter().map(String::len).sum::<usize>();
        Some(
            outs.into_iter()
                .map(|text| Word {
                    text,
                    tilde: false,
                    quoted: w.quoted,
                })
                .collect(),
        )
    }

    /// [`Self::expand`] when it gives exactly one word.
    fn expand_one(&mut self, w: &Word, env: &Env) -> Option<Word> {
        self.expand(w, env)
            .filter(|ws| ws.len() == 1)
            .and_then(|mut ws| ws.pop())
    }

    /// A simple command's words, after its redirections were seen.
    fn command(&mut self, words: &[Word], env: &mut Env, ctx: &Ctx, stdin: &Stdin, in_pipe: bool) {
        // A function definition: its body's commands follow the `name()` header.
        let words = match words.first() {
            Some(w) if w.text.ends_with("()") && w.text.len() > 2 => &words[1..],
            Some(w) if w.text == "function" => words.get(2..).unwrap_or_default(),
            _ => words,
        };
        let prefixed = words.len() - skip_prefix(words).len();
        let mut args = skip_prefix(words);
        if args.is_empty() {
            // Only assignments: they stay set for the rest of the command.
            return self.assign(&words[..prefixed], env);
        }
        // `for NAME in WORDS`: NAME takes each word in turn.
        if args[0].text == "for" && args.get(2).is_some_and(|w| w.text == "in") {
            let mut items = Vec::new();
            let mut known = true;
            for w in &args[3..] {
                match self.expand(w, env) {
                    Some(ws) => items.extend(ws.into_iter().map(|w| w.text)),
                    None => known = false,
                }
            }
            let v = if known && !items.is_empty() {
                Val::Words(Rc::from(items))
            } else {
                Val::Unknown
            };
            return env.set(&args[1].text, v);
        }
        if matches!(
            args[0].text.as_str(),
            "export" | "local" | "declare" | "readonly" | "typeset"
        ) {
            if args
                .iter()
                .any(|w| w.text.starts_with('-') && w.text.contains('n'))
            {
                // `declare -n ref=name`: a reference, known only at run time.
                for w in &args[1..] {
                    if let Some((name, _)) = w.text.split_once('=') {
                        env.set(name, Val::Unknown);
                    }
                }
                return;
            }
            return self.assign(&args[1..], env);
        }
        if matches!(
            args[0].text.as_str(),
            "hash" | "alias" | "enable" | "shopt" | "unalias"
        ) && args.len() > 1
        {
            self.opaque(format!(
                "redefines what a command name runs (`{}`)",
                args[0].text
            ));
            return;
        }
        if matches!(args[0].text.as_str(), "read" | "mapfile" | "readarray") {
            for w in &args[1..] {
                if !w.text.starts_with('-') {
                    env.set(&w.text, Val::Unknown);
                }
            }
            return;
        }
        if words
            .iter()
            .any(|w| w.text.contains("${") && (w.text.contains("$(") || w.text.contains('`')))
        {
            self.opaque("runs a command inside a parameter expansion (`${x:-$(…)}`)".into());
        }
        // `GIT_EDITOR='…' git commit -e`: a command handed to a program in its environment.
        for w in &words[..prefixed] {
            if let Some((name, value)) = w.text.split_once('=')
                && [
                    "EDITOR",
                    "VISUAL",
                    "COMMAND",
                    "PAGER",
                    "DIFF",
                    "SSH",
                    "SHELL",
                    "PROMPT_COMMAND",
                    "BASH_ENV",
                    "ENV",
                    "PATH",
                    "HOME",
                    "LD_",
                    "PYTHON",
                    "NODE_",
                    "PERL",
                    "RUBY",
                    "GIT_CONFIG",
                    "GIT_DIR",
                    "GIT_EXEC",
                    "GIT_TEMPLATE",
                    "IFS",
                    "CDPATH",
                    "GLOBIGNORE",
                    "BASHOPTS",
                    "SHELLOPTS",
                ]
                .iter()
                .any(|k| name.contains(k))
                && !value.is_empty()
            {
                self.opaque(format!("hands a command to a program through ${name}"));
            }
        }
        let mut ctx = ctx.clone();
        let mut local: Option<Env> = None;
        let mut wrapped = false;
        let mut owned: Vec<Word>;
        // Wrappers that run the rest of the line as the command (a loop, not recursion: a long
        // chain of `sudo sudo …` must not grow the stack).
        let (name, rest) = loop {
            let Some(first) = args.first() else {
                return;
            };
            let Some(first_word) = self.expand_one(first, env) else {
                self.opaque(format!(
                    "runs a command whose name is only known at run time ({})",
                    first.text
                ));
                return;
            };
            let name = command_name(&first_word.text).to_owned();
            let rest = &args[1..];
            if matches!(name.as_str(), "setsid" | "nohup")
                && rest.iter().any(|w| w.text == "-f" || w.text == "--fork")
            {
                self.background = true;
            }
            if matches!(name.as_str(), "strace" | "ltrace" | "time") {
                // Wrappers that also write a file of their own (`strace -o F cmd`).
                let o = parse_opts(
                    rest,
                    "-o --output -e -p -s -a -b -E -I -O -P -S -u -X -f --format",
                    true,
                );
                for (flag, value) in &o.flags {
                    if let ("-o" | "--output", Some(v)) = (flag.as_str(), value) {
                        let e = local.clone().unwrap_or_else(|| env.clone());
                        self.file(v, &e, &ctx, "an output option");
                    }
                }
            }
            args = match programs::rule(&name) {
                Some(Rule::Wrapper(with_arg, skip)) => {
                    let after = skip_options(rest, with_arg);
                    let after = after.get(skip..).unwrap_or_default();
                    // `flock FILE -c CMD`, `sg GROUP -c CMD`
                    if let Some(c) = after
                        .first()
                        .filter(|w| w.text == "-c" || w.text == "--command")
                    {
                        let _ = c;
                        if let Some(cmd) = after.get(1) {
                            let mut e = local.clone().unwrap_or_else(|| env.clone());
                            self.script(&cmd.text, &mut e, &ctx.deeper());
                        }
                        return;
                    }
                    after
                }
                Some(Rule::Handler(Handler::Command)) => {
                    if rest.iter().any(|w| w.text == "-v" || w.text == "-V") {
                        return;
                    }
                    skip_options(rest, "")
                }
                Some(Rule::Handler(Handler::Timeout)) => {
                    let r = skip_options(rest, "-s -k --signal --kill-after");
                    r.get(1..).unwrap_or_default()
                }
                Some(Rule::Handler(Handler::Busybox)) => rest,
                Some(Rule::Handler(Handler::Watch)) => {
                    let r = skip_options(rest, "-n --interval -d --differences -q --equexit");
                    let line: Vec<&str> = r.iter().map(|w| w.text.as_str()).collect();
                    let mut e = local.clone().unwrap_or_else(|| env.clone());
                    self.script(&line.join(" "), &mut e, &ctx.deeper());
                    return;
                }
                Some(Rule::Handler(Handler::Env)) => {
                    let o = parse_opts(rest, "-u --unset -C --chdir -S --split-string", true);
                    for (flag, value) in &o.flags {
                        let Some(v) = value else { continue };
                        match flag.as_str() {
                            "-C" | "--chdir" => {
                                let base = local.as_ref().map_or(&env.cwd, |e| &e.cwd).clone();
                                let to = self.resolve(v, &base);
                                local = Some(env.moved(to));
                            }
                            "-S" | "--split-string" => {
                                let mut line = v.text.clone();
                                for w in o.rest {
                                    line.push(' ');
                                    line.push_str(&w.text);
                                }
                                let mut e = local.clone().unwrap_or_else(|| env.clone());
                                self.script(&line, &mut e, &ctx.deeper());
                                return;
                            }
                            _ => {}
                        }
                    }
                    skip_prefix(o.rest)
                }
                Some(Rule::Handler(Handler::Xargs)) => {
                    let o = parse_opts(rest, XARGS_ARGS, true);
                    let mut replace = None;
                    for (flag, value) in &o.flags {
                        match (flag.as_str(), value) {
                            ("-I", Some(v)) | ("--replace", Some(v)) => {
                                replace = Some(v.text.clone())
                            }
                            ("--replace", None) => replace = Some("{}".to_owned()),
                            _ => {}
                        }
                    }
                    // `-i[R]` (old spelling of `-I`): the cluster parser cannot see R.
                    let options = &rest[..rest.len() - o.rest.len()];
                    if let Some(i) = options.iter().find_map(|w| w.text.strip_prefix("-i")) {
                        replace = Some(if i.is_empty() { "{}" } else { i }.to_owned());
                    }
                    let base = local.as_ref().map_or(&env.cwd, |e| &e.cwd);
                    match replace {
                        Some(r) => ctx.placeholder = Some((r, vec![base.to_path_buf()])),
                        None => ctx.stdin_args = true,
                    }
                    if o.rest.is_empty() {
                        return; // `xargs` alone runs `echo`
                    }
                    o.rest
                }
                _ => {
                    owned = Vec::with_capacity(rest.len());
                    for w in rest {
                        let words = brace_alternatives(w).unwrap_or_else(|| vec![w.clone()]);
                        for w in &words {
                            match self.expand(w, env) {
                                Some(ws) => owned.extend(ws),
                                None => owned.push(w.clone()),
                            }
                        }
                    }
                    break (name, &owned[..]);
                }
            };
            args = skip_prefix(args);
            wrapped = true;
        };
        if self.done() {
            return;
        }
        let name = name.as_str();
        if !wrapped && !in_pipe {
            match name {
                "cd" => return self.cd(rest, env),
                "pushd" => return self.pushd(rest, env),
                "popd" => {
                    if let Some(d) = env.stack.pop() {
                        env.chdir(d.to_path_buf());
                    }
                    return;
                }
                _ => {}
            }
        }
        let env: &Env = local.as_ref().unwrap_or(env);
        if matches!(
            name,
            "at" | "batch" | "daemonize" | "disown" | "systemd-run" | "screen" | "tmux"
        ) || (name == "setsid" && rest.iter().any(|w| w.text == "-f" || w.text == "--fork"))
        {
            self.background = true;
        }
        if name == "offload"
            && rest
                .first()
                .is_some_and(|w| w.text == "approve" || w.text == "restore")
        {
            self.runs_approve = true;
        }
        if name == "offload"
            && rest.first().is_some_and(|w| w.text == "run")
            && rest
                .iter()
                .any(|w| w.text == "--parallel" || w.text.starts_with("--parallel="))
        {
            self.runs_parallel = true;
        }
        let runs_command_option = match name {
            "tar" => rest.iter().any(|w| {
                let t = w.text.as_str();
                t.contains("checkpoint-action")
                    || t.starts_with("--to-command")
                    || t.starts_with("--use-compress-program")
                    || t.starts_with("--info-script")
                    || t.starts_with("--new-volume-script")
                    || t == "-I"
                    || t == "-F"
            }),
            "zip" => rest
                .iter()
                .any(|w| w.text == "-TT" || w.text.starts_with("--unzip-command")),
            "rsync" => rest.iter().any(|w| {
                w.text == "-e" || w.text.starts_with("--rsh") || w.text.starts_with("--rsync-path")
            }),
            _ => false,
        };
        if runs_command_option {
            self.opaque(format!("runs a command through an option of `{name}`"));
        }
        if let Some(r) = programs::rule(name)
            && !matches!(r, Rule::Runs(_))
            && let Some(why) = self.untrusted_program(name)
        {
            // A program offload knows by name, but the file that name runs is new: judged by
            // its effect, not by what the name usually does.
            self.opaque(why);
        }
        let rule = match programs::rule(name) {
            Some(r) => r,
            None if name.is_empty() => return,
            None => {
                return self.opaque(format!("runs `{name}`, a program offload does not know"));
            }
        };
        match rule {
            Rule::Pure | Rule::Replays | Rule::Wrapper(..) => {}
            Rule::Runs(what) => self.opaque(format!("runs `{name}` ({what})")),
            Rule::Output(with_arg, outputs) => {
                // Whole-word options first (`openssl … -out F`, `-o F`), then GNU clusters.
                for (k, w) in rest.iter().enumerate() {
                    let (flag, attached) = match w.text.split_once('=') {
                        Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                        _ => (w.text.as_str(), None),
                    };
                    // GNU getopt takes any unambiguous abbreviation (`sort --outp=F`).
                    let hit = listed(outputs, flag)
                        || (flag.starts_with("--")
                            && flag.len() >= 5
                            && outputs.split_whitespace().any(|o| o.starts_with(flag)));
                    if !hit {
                        continue;
                    }
                    let value = match attached {
                        Some(v) => Some(Word::plain(v)),
                        None => rest.get(k + 1).cloned(),
                    };
                    if let Some(v) = value.filter(|v| v.text != "-") {
                        self.file(&v, env, &ctx, "an output option");
                    }
                }
                let o = parse_opts(rest, with_arg, false);
                for (flag, value) in &o.flags {
                    if let Some(v) = value
                        && listed(outputs, flag)
                        && v.text != "-"
                    {
                        self.file(v, env, &ctx, "an output option");
                    }
                }
            }
            Rule::Operands(with_arg, last_only) => {
                let o = parse_opts(rest, with_arg, false);
                let ops = if last_only {
                    o.operands.last().copied().into_iter().collect()
                } else {
                    o.operands
                };
                self.operands(&ops, env, &ctx, "operands");
            }
            Rule::Extracts(with_arg, dir_flag) => {
                let o = parse_opts(rest, with_arg, false);
                let list_only = o.flags.iter().any(|(f, _)| {
                    matches!(f.as_str(), "-t" | "--list" | "-l" | "-c" | "-p" | "-Z")
                }) && !o
                    .flags
                    .iter()
                    .any(|(f, _)| matches!(f.as_str(), "-x" | "--extract" | "--get"));
                let creates = o
                    .flags
                    .iter()
                    .any(|(f, _)| matches!(f.as_str(), "-c" | "--create" | "-o"));
                if name == "tar"
                    && (creates
                        || rest.first().is_some_and(|w| {
                            !w.text.starts_with('-') && w.text.contains(['c', 'r', 'u'])
                        }))
                {
                    // `tar -cf ARCHIVE …`: the archive is written.
                    if let Some(f) = o
                        .flags
                        .iter()
                        .find(|(f, _)| f == "-f" || f == "--file")
                        .and_then(|(_, v)| v.clone())
                    {
                        self.file(&f, env, &ctx, "tar -f");
                    }
                    return;
                }
                if list_only || (name == "tar" && !rest.iter().any(|w| w.text.contains('x'))) {
                    return;
                }
                let dir = o
                    .flags
                    .iter()
                    .find(|(f, _)| listed(dir_flag, f))
                    .and_then(|(_, v)| v.clone());
                let dir = match dir {
                    Some(d) => self.resolve(&d, &env.cwd),
                    None => env.cwd.to_path_buf(),
                };
                self.unknown(&dir, "an archive extracted");
            }
            Rule::Handler(h) => self.handler(h, name, rest, env, &ctx, stdin),
        }
    }

    fn handler(
        &mut self,
        h: Handler,
        name: &str,
        rest: &[Word],
        env: &Env,
        ctx: &Ctx,
        stdin: &Stdin,
    ) {
        match h {
            Handler::Tee => self.tee(rest, env, ctx),
            Handler::Sed => self.sed(rest, env, ctx),
            Handler::Perl => self.perl(rest, env, ctx, "perl -i"),
            Handler::Ruby => self.perl(rest, env, ctx, "ruby -i"),
            Handler::Copy => self.copy(name, rest, env, ctx),
            Handler::Dd => {
                for w in rest {
                    if let Some(of) = w.text.strip_prefix("of=") {
                        self.file(&Word::plain(of), env, ctx, "dd");
                    }
                }
            }
            Handler::Patch => self.patch(rest, env, ctx, stdin),
            Handler::Git => self.git(rest, env, ctx, stdin),
            Handler::Remove => self.remove(rest, env, ctx, "rm"),
            Handler::Shell => self.shell(name, rest, env, ctx, stdin),
            Handler::Mkdir => {
                // Folders made here count as folders for later copies (`cp x.rs dir`).
                for w in rest.iter().filter(|w| !w.text.starts_with('-')) {
                    let p = self.resolve(w, &env.cwd);
                    if self.made_dirs.len() < 64 {
                        self.made_dirs.insert(p);
                    }
                }
            }
            Handler::Uniq => {
                // `uniq INPUT OUTPUT`
                let o = parse_opts(
                    rest,
                    "-f -s -w --skip-fields --skip-chars --check-chars",
                    false,
                );
                if o.operands.len() >= 2 {
                    self.file(o.operands[1], env, ctx, "uniq");
                }
            }
            Handler::Touch => {
                // Touching an existing file changes only its times; a new one is created empty.
                let o = parse_opts(rest, "-d --date -t -r --reference", false);
                if o.operands.is_empty() && ctx.stdin_args {
                    self.unknown(&env.cwd, "touch");
                }
                for w in o.operands {
                    let p = self.resolve(w, &env.cwd);
                    if std::fs::symlink_metadata(&p).is_err() {
                        self.file(w, env, ctx, "touch");
                    }
                }
            }
            Handler::Trap => {
                if let Some(handler) = rest.first().filter(|w| !w.text.starts_with('-')) {
                    self.script(&handler.text, &mut env.clone(), &ctx.deeper());
                }
            }
            Handler::Eval => {
                let line: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
                let line = line.join(" ");
                if line.contains("$(") || line.contains('`') || line.contains('$') {
                    self.opaque("evaluates text only known at run time (`eval`)".into());
                }
                self.script(&line, &mut env.clone(), &ctx.deeper());
            }
            Handler::Su => {
                let o = parse_opts(rest, "-c --command -s --shell -g -G", false);
                for (flag, value) in &o.flags {
                    if let ("-c" | "--command", Some(v)) = (flag.as_str(), value) {
                        self.script(&v.text, &mut env.clone(), &ctx.deeper());
                    }
                }
            }
            Handler::Find => self.find(rest, env, ctx),
            Handler::Ed => self.ed(rest, env, ctx, stdin),
            Handler::Awk => self.awk(rest, env, ctx),
            Handler::Sd => {
                let o = parse_opts(rest, "-f --flags -n --max-replacements", false);
                if o.flags.iter().any(|(f, _)| f == "-p" || f == "--preview") {
                    return;
                }
                let files = o.operands.get(2..).unwrap_or_default();
                self.edited_all(files, env, ctx, "sd");
            }
            Handler::Curl => self.curl(rest, env, ctx),
            Handler::Wget => self.wget(rest, env, ctx),
            Handler::Node => self.node(rest, env, ctx, stdin),
            Handler::Python => self.python(rest, env, ctx, stdin),
            Handler::Xxd => {
                let o = parse_opts(
                    rest,
                    "-c -g -l -o -s -n --cols --groupsize --len --seek --name",
                    false,
                );
                let reverse = o.flags.iter().any(|(f, _)| f == "-r" || f == "--revert");
                if reverse && o.operands.len() >= 2 {
                    self.file(o.operands[1], env, ctx, "xxd -r");
                }
            }
            Handler::Cargo => {
                let sub = skip_options(rest, "--config -Z --color --manifest-path")
                    .first()
                    .map(|w| w.text.as_str());
                match sub {
                    None
                    | Some(
                        "fmt" | "tree" | "metadata" | "search" | "locate-project" | "pkgid"
                        | "verify-project" | "help" | "version",
                    ) => {}
                    Some(s) => self.opaque(format!(
                        "runs `cargo {s}` (builds and build scripts run project code)"
                    )),
                }
            }
            Handler::Npm => {
                let sub = skip_options(rest, "--prefix -C --cwd --dir -w --workspace --filter")
                    .first()
                    .map(|w| w.text.as_str());
                match sub {
                    None
                    | Some(
                        "ls" | "list" | "view" | "info" | "show" | "outdated" | "help" | "whoami"
                        | "root" | "prefix" | "bin" | "why" | "explain" | "audit" | "ping"
                        | "version",
                    ) => {}
                    Some(s) => self.opaque(format!(
                        "runs `{name} {s}` (package scripts run project code)"
                    )),
                }
            }
            Handler::Script => {
                let o = parse_opts(
                    rest,
                    "-c --command -E --echo -I --log-in -O --log-out -B --log-io -T --log-timing -m --logging-format",
                    false,
                );
                for (flag, value) in &o.flags {
                    match (flag.as_str(), value) {
                        ("-c" | "--command", Some(v)) => {
                            self.script(&v.text, &mut env.clone(), &ctx.deeper())
                        }
                        (
                            "-O" | "--log-out" | "-I" | "--log-in" | "-B" | "--log-io" | "-T"
                            | "--log-timing",
                            Some(v),
                        ) => self.file(v, env, ctx, "script"),
                        _ => {}
                    }
                }
                match o.operands.first() {
                    Some(f) => self.file(f, env, ctx, "script"),
                    None if !o
                        .flags
                        .iter()
                        .any(|(f, _)| f.starts_with("-O") || f == "--log-out") =>
                    {
                        self.file(&Word::plain("typescript"), env, ctx, "script")
                    }
                    None => {}
                }
            }
            // Handled as wrappers above, or with no files of their own.
            Handler::Env
            | Handler::Xargs
            | Handler::Timeout
            | Handler::Command
            | Handler::Busybox
            | Handler::Watch
            | Handler::Mktemp => {}
        }
    }

    // --- cd ------------------------------------------------------------------------------------

    fn cd(&mut self, rest: &[Word], env: &mut Env) {
        let ops = skip_options(rest, "");
        let to = match ops.first() {
            None => match self.home {
                Some(h) => normalize(h),
                None => return,
            },
            Some(w) if w.text == "-" => match env.oldpwd.clone() {
                Some(d) => d.to_path_buf(),
                None => return,
            },
            Some(w) => self.resolve(w, &env.cwd),
        };
        env.chdir(to);
    }

    fn pushd(&mut self, rest: &[Word], env: &mut Env) {
        let ops = skip_options(rest, "");
        let old = env.cwd.clone();
        match ops.first() {
            None => {
                if let Some(top) = env.stack.pop() {
                    env.chdir(top.to_path_buf());
                    env.stack.push(old);
                }
            }
            Some(w) if w.text.starts_with('+') || w.text.starts_with('-') => {}
            Some(w) => {
                let to = self.resolve(w, &env.cwd);
                if env.stack.len() >= MAX_DIR_STACK {
                    env.stack.remove(0);
                }
                env.stack.push(old);
                env.chdir(to);
            }
        }
    }

    // --- targets -------------------------------------------------------------------------------

    /// `w` names a file the command writes.
    fn file(&mut self, w: &Word, env: &Env, ctx: &Ctx, how: &'static str) {
        if let Some(alternatives) = brace_alternatives(w) {
            for a in &alternatives {
                self.file(a, env, ctx, how);
            }
            return;
        }
        if w.text.is_empty() || self.placeheld(w, env, ctx, how) {
            return;
        }
        let Some(words) = self.expand(w, env) else {
            let dir = self.literal_dir(w, env);
            return self.unknown(&dir, how);
        };
        for w in &words {
            let path = self.resolve(w, &env.cwd);
            if through_descriptor(&path) {
                self.opaque(format!(
                    "writes through a file descriptor ({})",
                    path.display()
                ));
            } else if !is_device(&path) {
                self.push(Target::File(Write {
                    path,
                    how,
                    conditional: false,
                }));
            }
        }
    }

    /// The folder named by the literal start of a word whose rest is only known at run time
    /// (`src/$x.rs` → `src`; `$x/a.rs` → the working folder).
    fn literal_dir(&mut self, w: &Word, env: &Env) -> PathBuf {
        let k = w.text.find(['$', '`']).unwrap_or(w.text.len());
        let known = &w.text[..k];
        match known.rfind('/') {
            Some(0) => PathBuf::from("/"),
            Some(j) => self.resolve(
                &Word {
                    text: known[..j].to_owned(),
                    ..w.clone()
                },
                &env.cwd,
            ),
            // `$X/a.rs`: `$X` may be any absolute folder.
            None if k == 0
                && var_ref(&w.text).is_some_and(|(_, _, len)| w.text[len..].starts_with('/')) =>
            {
                PathBuf::from("/")
            }
            None => env.cwd.to_path_buf(),
        }
    }

    /// `w` names a file an in-place editor rewrites. An operand whose name is a variable, a
    /// substitution or a glob with no extension (`"$f"`, `src/*`) could be any file in its folder.
    fn edited(&mut self, w: &Word, env: &Env, ctx: &Ctx, how: &'static str) {
        if let Some(alternatives) = brace_alternatives(w) {
            for a in &alternatives {
                self.edited(a, env, ctx, how);
            }
            return;
        }
        if w.text.is_empty() || self.placeheld(w, env, ctx, how) {
            return;
        }
        // `sed -i … $(git ls-files)`, `src/`x``, `"$f"`: names known at run time, in the folder
        // before them.
        let Some(words) = self.expand(w, env) else {
            let dir = self.literal_dir(w, env);
            return self.unknown(&dir, how);
        };
        for w in &words {
            let path = self.resolve(w, &env.cwd);
            if !is_device(&path) {
                self.push(Target::File(Write {
                    path,
                    how,
                    conditional: false,
                }));
            }
        }
    }

    fn operands(&mut self, ops: &[&Word], env: &Env, ctx: &Ctx, how: &'static str) {
        for w in ops {
            self.file(w, env, ctx, how);
        }
        if ops.is_empty() && ctx.stdin_args {
            self.unknown(&env.cwd, how);
        }
    }

    fn edited_all(&mut self, ops: &[&Word], env: &Env, ctx: &Ctx, how: &'static str) {
        for w in ops {
            self.edited(w, env, ctx, how);
        }
        if ops.is_empty() && ctx.stdin_args {
            self.unknown(&env.cwd, how);
        }
    }

    /// Under `find -exec`/`xargs -I`: an operand holding the placeholder is reported as unknown
    /// files in the folder before it (or the search roots). Returns whether it did.
    fn placeheld(&mut self, w: &Word, env: &Env, ctx: &Ctx, how: &'static str) -> bool {
        let Some((token, bases)) = &ctx.placeholder else {
            return false;
        };
        if token.is_empty() || !w.text.contains(token.as_str()) {
            return false;
        }
        if w.text.starts_with(token.as_str()) {
            for b in bases {
                self.unknown(b, how);
            }
        } else {
            let known: Vec<&str> = w
                .text
                .split('/')
                .take_while(|c| !c.contains(token.as_str()))
                .collect();
            let dir = Word {
                text: known.join("/"),
                tilde: w.tilde,
                quoted: false,
            };
            let dir = if dir.text.is_empty() {
                PathBuf::from("/")
            } else {
                self.resolve(&dir, &env.cwd)
            };
            self.unknown(&dir, how);
        }
        true
    }

    /// The absolute, normalised path `w` names from `cwd`: `~`, `$HOME` and `$PWD` expanded,
    /// other variables left as written.
    fn resolve(&mut self, w: &Word, cwd: &Path) -> PathBuf {
        let t = w.text.as_str();
        let joined = match (self.home, strip_var(t, "HOME")) {
            (Some(h), _) if w.tilde && (t == "~" || t.starts_with("~/")) => {
                h.join(t[1..].trim_start_matches('/'))
            }
            (Some(h), Some(rest)) => h.join(rest),
            _ => match strip_var(t, "PWD") {
                Some(rest) => cwd.join(rest),
                None => cwd.join(t),
            },
        };
        self.work += joined.as_os_str().len();
        normalize(&joined)
    }

    // --- writers -------------------------------------------------------------------------------

    fn tee(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        let o = parse_opts(rest, "", false);
        let files: Vec<&Word> = o.operands.into_iter().filter(|w| w.text != "-").collect();
        self.operands(&files, env, ctx, "tee");
    }

    fn sed(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        let mut inplace = false;
        let mut script_given = false;
        // Scripts given with `-e`/`--expression` (a `-f` file stays unread: `scripts` empty).
        let mut scripts: Vec<String> = Vec::new();
        let mut ops: Vec<&Word> = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let t = rest[i].text.as_str();
            if t == "--" {
                ops.extend(&rest[i + 1..]);
                break;
            } else if t.len() >= 5 && "--in-place".starts_with(t.split('=').next().unwrap_or(t)) {
                // GNU getopt takes any unambiguous abbreviation (`--in-pl`).
                inplace = true;
            } else if t == "--expression" || t == "--file" {
                script_given = true;
                if t == "--expression" {
                    scripts.extend(rest.get(i + 1).map(|w| w.text.clone()));
                } else {
                    self.opaque("runs a sed script from a file".into());
                }
                i += 1;
            } else if let Some(e) = t.strip_prefix("--expression=") {
                script_given = true;
                scripts.push(e.to_owned());
            } else if t.starts_with("--file=") {
                script_given = true;
                self.opaque("runs a sed script from a file".into());
            } else if t == "--line-length" {
                i += 1;
            } else if t.starts_with("--") {
            } else if t.len() > 1 && t.starts_with('-') {
                let cluster: Vec<char> = t[1..].chars().collect();
                for (k, c) in cluster.iter().enumerate() {
                    let attached = k + 1 < cluster.len();
                    match c {
                        'i' => {
                            inplace = true;
                            // BSD `sed -i '' …` / `sed -i .bak …`: the next word is the suffix.
                            if !attached
                                && rest.get(i + 1).is_some_and(|n| {
                                    n.text.is_empty()
                                        || (n.text.starts_with('.')
                                            && n.text.len() <= 12
                                            && !n.text.contains(['/', ' ']))
                                })
                            {
                                i += 1;
                            }
                            break;
                        }
                        'e' | 'f' | 'l' => {
                            script_given |= *c != 'l';
                            let value: String = if attached {
                                cluster[k + 1..].iter().collect()
                            } else {
                                rest.get(i + 1).map(|w| w.text.clone()).unwrap_or_default()
                            };
                            match c {
                                'e' => scripts.push(value),
                                'f' => self.opaque("runs a sed script from a file".into()),
                                _ => {}
                            }
                            if !attached {
                                i += 1;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            } else {
                ops.push(&rest[i]);
            }
            i += 1;
        }
        let script_text: Vec<&str> = if script_given {
            scripts.iter().map(String::as_str).collect()
        } else {
            ops.first().map(|w| w.text.as_str()).into_iter().collect()
        };
        if script_text.iter().any(|t| sed_script_writes(t)) {
            self.opaque(
                "runs a sed script that writes files or runs commands (`w`, `e`, `-f`)".into(),
            );
        }
        if !inplace {
            return;
        }
        let files = if script_given {
            &ops[..]
        } else {
            ops.get(1..).unwrap_or_default()
        };
        self.edited_all(files, env, ctx, "sed -i");
    }

    /// `perl -i` and `ruby -i`: the same options as far as finding the files goes.
    fn perl(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, how: &'static str) {
        let ruby = how.starts_with("ruby");
        let mut inplace = false;
        let mut code_given = false;
        let mut code: Vec<String> = Vec::new();
        let mut ops: Vec<&Word> = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let t = rest[i].text.as_str();
            if t == "--" {
                ops.extend(&rest[i + 1..]);
                break;
            } else if t.len() > 1 && t.starts_with('-') && ops.is_empty() {
                let cluster: Vec<char> = t[1..].chars().collect();
                let mut k = 0;
                while k < cluster.len() {
                    let c = cluster[k];
                    let attached = k + 1 < cluster.len();
                    match c {
                        'i' => {
                            inplace = true;
                            break;
                        }
                        'e' | 'E' | 'M' | 'm' | 'I' => {
                            code_given |= matches!(c, 'e' | 'E');
                            if matches!(c, 'e' | 'E') {
                                let value: String = if attached {
                                    cluster[k + 1..].iter().collect()
                                } else {
                                    rest.get(i + 1).map(|w| w.text.clone()).unwrap_or_default()
                                };
                                code.push(value);
                            } else if matches!(c, 'M' | 'm') {
                                code.push("use ".into()); // a module runs its own code
                            }
                            if !attached {
                                i += 1;
                            }
                            break;
                        }
                        'r' if ruby => {
                            if !attached {
                                i += 1;
                            }
                            break;
                        }
                        'l' | '0' => {
                            k += 1;
                            while k < cluster.len() && cluster[k].is_ascii_hexdigit() {
                                k += 1;
                            }
                            continue;
                        }
                        _ => {}
                    }
                    k += 1;
                }
            } else {
                ops.push(&rest[i]);
            }
            i += 1;
        }
        let lang = if ruby { "ruby" } else { "perl" };
        if !code_given {
            match ops.first() {
                Some(script) => self.opaque(format!("runs the {lang} script {}", script.text)),
                None => self.opaque(format!("runs {lang} code from stdin")),
            }
        } else if !code.is_empty() || inplace {
            self.opaque(format!("runs {lang} code"));
        }
        if !inplace {
            return;
        }
        let files = if code_given {
            &ops[..]
        } else {
            ops.get(1..).unwrap_or_default()
        };
        self.edited_all(files, env, ctx, how);
    }

    /// `cp`, `mv`, `install`, `ln`, `rsync`: the last operand (or `-t DIR`) receives the others.
    fn copy(&mut self, name: &str, rest: &[Word], env: &Env, ctx: &Ctx) {
        let (how, with_arg): (&'static str, &str) = match name {
            "cp" => ("cp", "-t --target-directory -S --suffix"),
            "mv" => ("mv", "-t --target-directory -S --suffix"),
            "ln" => ("ln", "-t --target-directory -S --suffix"),
            "rsync" => ("rsync", RSYNC_ARGS),
            _ => ("install", INSTALL_ARGS),
        };
        let o = parse_opts(rest, with_arg, false);
        let has = |names: &str| o.flags.iter().any(|(f, _)| listed(names, f));
        if (how == "install" && has("-d --directory"))
            || (how == "rsync" && has("-n --dry-run --list-only"))
        {
            return;
        }
        let no_target_dir = how != "rsync" && has("-T --no-target-directory");
        if has("-r -R -a --recursive --archive")
            && how != "ln"
            && let Some(dest) = o.operands.last().filter(|d| !is_remote(&d.text))
        {
            let d = self.resolve(dest, &env.cwd);
            self.unknown(&d, how);
        }
        // A link to a code file is a way to write it: `ln -s src/lib.rs /tmp/x; echo >> /tmp/x`.
        if how == "ln" && o.operands.len() >= 2 {
            for src in &o.operands[..o.operands.len() - 1] {
                let target = if has("-s --symbolic") && !src.text.starts_with('/') {
                    let dest = self.resolve(o.operands[o.operands.len() - 1], &env.cwd);
                    let base = if dest.is_dir() {
                        dest
                    } else {
                        dest.parent().map(Path::to_path_buf).unwrap_or(dest)
                    };
                    self.resolve(src, &base)
                } else {
                    self.resolve(src, &env.cwd)
                };
                self.push(Target::File(Write {
                    path: target,
                    how: "ln",
                    conditional: false,
                }));
            }
        }
        let target_dir = o.flags.iter().find_map(|(f, v)| match f.as_str() {
            "-t" | "--target-directory" if how != "rsync" => v.clone(),
            _ => None,
        });
        let ops = &o.operands;
        if let Some(dir) = target_dir {
            for src in ops {
                self.land_in(src, &dir, env, ctx, how);
            }
            if ops.is_empty() && ctx.stdin_args {
                let dir = self.resolve(&dir, &env.cwd);
                self.unknown(&dir, how);
            }
            return;
        }
        match ops.len() {
            0 if ctx.stdin_args => self.unknown(&env.cwd, how),
            0 => {}
            1 if how == "ln" => self.land_in(ops[0], &Word::plain("."), env, ctx, how),
            1 if ctx.stdin_args => self.unknown(&env.cwd, how),
            1 => {}
            n => {
                let dest = ops[n - 1];
                let sources = &ops[..n - 1];
                if how == "mv" {
                    // A moved file is gone from where it was: removing code is changing it.
                    for src in sources {
                        self.file(src, env, ctx, "mv (moved away)");
                    }
                }
                if how == "rsync" && is_remote(&dest.text) {
                    return;
                }
                if !no_target_dir && (n > 2 || self.looks_dir(dest, sources, env)) {
                    for src in sources {
                        self.land_in(src, dest, env, ctx, how);
                    }
                } else {
                    self.file(dest, env, ctx, how);
                }
            }
        }
    }

    /// Whether `cp … SOURCE DEST` puts SOURCE inside DEST.
    fn looks_dir(&mut self, dest: &Word, sources: &[&Word], env: &Env) -> bool {
        let t = dest.text.as_str();
        if t.ends_with('/')
            || matches!(t, "." | ".." | "~")
            || t.ends_with("/.")
            || t.ends_with("/..")
        {
            return true;
        }
        let path = self.resolve(dest, &env.cwd);
        // A real folder of that name, or one `mkdir` makes earlier in the command. Otherwise
        // `cp src/lib.rs lib_rs_backup` makes a file of that name (a folder made some other way
        // at run time is caught by the effect check).
        let _ = sources;
        path.is_dir() || self.made_dirs.contains(&path)
    }

    /// `rm`, `git rm`: every operand is removed; a recursive removal of a folder removes files it
    /// does not name (watched). Removing code is changing it.
    fn remove(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, how: &'static str) {
        let o = parse_opts(rest, "", false);
        let recursive = o
            .flags
            .iter()
            .any(|(f, _)| matches!(f.as_str(), "-r" | "-R" | "--recursive"));
        if how == "git rm" && o.flags.iter().any(|(f, _)| f == "--cached") {
            return;
        }
        for w in &o.operands {
            if recursive {
                let Some(words) = self.expand(w, env) else {
                    let dir = self.literal_dir(w, env);
                    self.unknown(&dir, how);
                    continue;
                };
                for w in words {
                    let p = self.resolve(&w, &env.cwd);
                    if p.extension().is_some() && !p.is_dir() {
                        self.push(Target::File(Write {
                            path: p,
                            how,
                            conditional: false,
                        }));
                    } else {
                        self.unknown(&p, how);
                    }
                }
            } else {
                self.file(w, env, ctx, how);
            }
        }
    }

    /// `SOURCE` copied (moved, linked) into the folder `dir`: `dir/<basename of SOURCE>`.
    fn land_in(&mut self, src: &Word, dir: &Word, env: &Env, ctx: &Ctx, how: &'static str) {
        if self.placeheld(dir, env, ctx, how) {
            return;
        }
        let dir_path = self.resolve(dir, &env.cwd);
        let base = basename(&src.text);
        if let Some((token, _)) = &ctx.placeholder
            && !token.is_empty()
            && base.contains(token.as_str())
        {
            return self.unknown(&dir_path, how);
        }
        let path = match base {
            "" | "." | ".." => dir_path,
            b => {
                self.work += dir_path.as_os_str().len() + b.len();
                normalize(&dir_path.join(b))
            }
        };
        if !is_device(&path) {
            self.push(Target::File(Write {
                path,
                how,
                conditional: false,
            }));
        }
    }

    fn patch(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        // The patch read now may not be the one applied (the command can write it first).
        self.opaque("applies a patch, whose content can change before it runs".into());
        let o = parse_opts(rest, PATCH_ARGS, false);
        let flag = |names: &str| {
            o.flags
                .iter()
                .find(|(f, _)| listed(names, f))
                .map(|(_, v)| v.clone())
        };
        if flag("--dry-run --check -C").is_some() {
            return;
        }
        let dir = match flag("-d --directory").flatten() {
            Some(d) => self.resolve(&d, &env.cwd),
            None => env.cwd.to_path_buf(),
        };
        let denv = Env::at(dir.clone());
        if let Some(out) = flag("-o --output").flatten() {
            if out.text != "-" {
                self.file(&out, &denv, ctx, "patch");
            }
            return;
        }
        if let Some(orig) = o.operands.first() {
            // `patch FILE [PATCH]`: only FILE changes.
            return self.file(orig, &denv, ctx, "patch");
        }
        let strip = flag("-p --strip")
            .flatten()
            .and_then(|v| v.text.parse::<usize>().ok());
        let text = match flag("-i --input").flatten() {
            Some(f) => {
                let path = self.resolve(&f, &dir);
                self.read_patch(&path)
            }
            None => self.stdin_text(stdin),
        };
        let names = text.map(|t| patch_names(&t, strip)).unwrap_or_default();
        if names.is_empty() {
            return self.unknown(&dir, "patch");
        }
        for n in names {
            self.file(&Word::plain(&n), &denv, &Ctx::default(), "patch");
        }
    }

    fn git(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        let mut cwd = env.cwd.to_path_buf();
        let mut i = 0;
        while let Some(w) = rest.get(i) {
            let t = w.text.as_str();
            match t {
                "-C" => {
                    if let Some(d) = rest.get(i + 1) {
                        cwd = self.resolve(d, &cwd);
                    }
                    i += 2;
                }
                "-c" | "--config-env" => {
                    let v = rest
                        .get(i + 1)
                        .map_or("", |w| w.text.as_str())
                        .to_ascii_lowercase();
                    if [
                        "alias.",
                        "hookspath",
                        "filter.",
                        "editor",
                        "fsmonitor",
                        "external",
                        "sshcommand",
                        "textconv",
                        "pager",
                    ]
                    .iter()
                    .any(|k| v.contains(k))
                    {
                        self.opaque("runs git with configuration that runs commands (`-c`)".into());
                    }
                    i += 2;
                }
                "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix" => i += 2,
                _ if t.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let sub = rest.get(i).map_or("", |w| w.text.as_str());
        let args = rest.get(i + 1..).unwrap_or_default();
        let genv = env.moved(cwd.clone());
        // Output options of any subcommand (`git log --output=F`, `git archive -o F`,
        // `git format-patch -o DIR`), and options that run a command (`git grep -O…`).
        let mut k = 0;
        while let Some(w) = args.get(k) {
            let t = w.text.as_str();
            let next = args.get(k + 1);
            if let Some(v) = t.strip_prefix("--output=") {
                self.file(&Word::plain(v), &genv, ctx, "git --output");
            } else if t == "--output" || (t == "-o" && sub == "archive") {
                if let Some(v) = next {
                    self.file(v, &genv, ctx, "git --output");
                }
            } else if sub == "format-patch" && (t == "-o" || t.starts_with("--output-directory")) {
                let dir = t
                    .strip_prefix("--output-directory=")
                    .map(Word::plain)
                    .or_else(|| next.cloned());
                if let Some(d) = dir {
                    let d = self.resolve(&d, &cwd);
                    self.unknown(&d, "git format-patch");
                }
            } else if t.starts_with("--open-files-in-pager")
                || (sub == "grep" && t.starts_with("-O"))
                || t == "--ext-diff"
                || t.starts_with("--exec")
                || t.starts_with("--upload-pack")
                || t.starts_with("--receive-pack")
            {
                self.opaque(format!("runs a command through `git {sub} {t}`"));
            }
            k += 1;
        }
        if sub == "config"
            && args.iter().any(|w| {
                let k = w.text.to_ascii_lowercase();
                [
                    "alias.",
                    "hookspath",
                    "fsmonitor",
                    "filter.",
                    "textconv",
                    "pager",
                    "editor",
                    "sshcommand",
                    "include",
                    "askpass",
                    "external",
                    "credential.helper",
                ]
                .iter()
                .any(|d| k.contains(d))
            })
        {
            // Configuration that makes later git commands run a program is code.
            self.push(Target::File(Write {
                path: normalize(&cwd.join(".git/config")),
                how: "git config",
                conditional: false,
            }));
        }
        if matches!(sub, "apply" | "am") {
            self.opaque(format!(
                "runs `git {sub}`, whose patch can change before it runs"
            ));
        }
        let (how, default_strip) = match sub {
            "apply" => ("git apply", 1),
            "am" => ("git am", 1),
            "mv" => return self.copy("mv", args, &genv, ctx),
            "rm" => return self.remove(args, &genv, ctx, "git rm"),
            // Reads, and commands that only move the work tree between states the repository
            // already holds: never watched on their own (undoing a branch switch would break the
            // work tree). A command that also makes new git content or history is watched.
            "" | "status" | "diff" | "log" | "show" | "blame" | "grep" | "ls-files" | "ls-tree"
            | "rev-parse" | "rev-list" | "describe" | "shortlog" | "reflog" | "cat-file"
            | "merge-base" | "branch" | "tag" | "help" | "version" | "count-objects"
            | "for-each-ref" | "name-rev" | "var" | "check-ignore" | "check-attr"
            | "symbolic-ref" | "show-ref" | "fsck" | "whatchanged" | "range-diff"
            | "format-patch" | "archive" | "bundle" | "add" | "commit" | "restore" | "checkout"
            | "switch" | "reset" | "merge" | "rebase" | "stash" | "cherry-pick" | "revert"
            | "clean" | "gc" | "prune" | "bisect" | "push" | "diff-tree" | "diff-files"
            | "diff-index" | "verify-commit" | "verify-tag" | "notes" | "sparse-checkout"
            | "maintenance" | "rerere" | "mergetool" | "difftool" | "instaweb" | "web--browse" => {
                if matches!(sub, "mergetool" | "difftool")
                    || (sub == "rebase"
                        && args
                            .iter()
                            .any(|w| w.text == "-x" || w.text.starts_with("--exec")))
                    || (matches!(sub, "bisect") && args.first().is_some_and(|w| w.text == "run"))
                {
                    self.opaque(format!("runs `git {sub}` (it runs a configured tool)"));
                }
                if matches!(
                    sub,
                    "restore"
                        | "checkout"
                        | "switch"
                        | "reset"
                        | "merge"
                        | "rebase"
                        | "stash"
                        | "cherry-pick"
                        | "revert"
                        | "clean"
                        | "notes"
                        | "sparse-checkout"
                ) {
                    self.git_replays = true;
                } else if let Some(why) = self.git_configured_programs(&cwd) {
                    // A read (`git status`, `git diff`) or a commit runs whatever git's
                    // configuration or hooks say: judged by effect.
                    self.opaque(format!("runs `git {sub}`, and {why}"));
                }
                return;
            }
            "hash-object" | "commit-tree" | "mktree" | "mktag" | "update-index" | "fast-import"
            | "read-tree" | "write-tree" | "checkout-index" | "update-ref" | "pull" | "fetch"
            | "clone" | "init" | "remote" | "worktree" | "submodule" | "filter-branch"
            | "filter-repo" | "replace" | "config" | "unpack-objects" | "index-pack"
            | "merge-file" | "merge-tree" | "replay" | "subtree" => {
                self.git_creates = true;
                if matches!(
                    sub,
                    "checkout-index"
                        | "merge-file"
                        | "worktree"
                        | "submodule"
                        | "clone"
                        | "pull"
                        | "read-tree"
                        | "filter-branch"
                        | "filter-repo"
                ) {
                    self.opaque(format!(
                        "runs `git {sub}`, which writes files from content made at run time"
                    ));
                }
                return;
            }
            other => {
                return self.opaque(format!(
                    "runs `git {other}` (an alias or extension offload cannot read)"
                ));
            }
        };
        let o = parse_opts(
            &rest[i + 1..],
            "-p -C --directory --exclude --include --whitespace --patch-format --resolvemsg",
            false,
        );
        let has = |names: &str| o.flags.iter().any(|(f, _)| listed(names, f));
        if how == "git apply" {
            let reports_only = has("--check --stat --numstat --summary");
            if (reports_only && !has("--apply")) || (has("--cached") && !has("--index")) {
                return;
            }
        } else {
            if has("--abort --quit --show-current-patch") {
                return;
            }
            if has("--continue --skip --resolved -r") {
                return self.unknown(&cwd, how);
            }
        }
        let value = |name: &str| {
            o.flags
                .iter()
                .find(|(f, _)| f == name)
                .and_then(|(_, v)| v.as_ref())
        };
        let strip = value("-p")
            .and_then(|v| v.text.parse::<usize>().ok())
            .unwrap_or(default_strip);
        let root = value("--directory").map(|v| v.text.clone());
        let mut texts = Vec::new();
        let mut opaque = false;
        let files: Vec<&Word> = o
            .operands
            .iter()
            .copied()
            .filter(|w| w.text != "-")
            .collect();
        if files.is_empty() {
            match self.stdin_text(stdin) {
                Some(t) => texts.push(t),
                None => opaque = true,
            }
        }
        for f in files {
            let path = self.resolve(f, &cwd);
            match self.read_patch(&path) {
                Some(t) => texts.push(t),
                None => opaque = true,
            }
        }
        let mut named = false;
        for text in &texts {
            for n in patch_names(text, Some(strip)) {
                let n = match &root {
                    Some(r) => format!("{r}/{n}"),
                    None => n,
                };
                named = true;
                self.file(&Word::plain(&n), &genv, &Ctx::default(), how);
            }
        }
        if opaque || !named {
            self.unknown(&cwd, how);
        }
    }

    /// Whether git, run in `cwd`, would run programs its configuration names: a hook in
    /// `.git/hooks`, or `core.fsmonitor`, `core.hooksPath`, a filter, a textconv, a pager or an
    /// alias to a shell command in the repository's, the user's or the global config file.
    fn git_configured_programs(&mut self, cwd: &Path) -> Option<String> {
        let mut dir = cwd.to_path_buf();
        let mut files: Vec<PathBuf> = Vec::new();
        for _ in 0..32 {
            let dot = dir.join(".git");
            if dot.is_dir() {
                files.push(dot.join("config"));
                let hooks = std::fs::read_dir(dot.join("hooks"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| !e.file_name().to_string_lossy().ends_with(".sample"));
                if hooks {
                    return Some("the repository has hooks in .git/hooks".into());
                }
                break;
            }
            if !dir.pop() {
                break;
            }
        }
        if let Some(h) = self.home {
            files.push(h.join(".gitconfig"));
            files.push(h.join(".config/git/config"));
        }
        if let Some(g) = std::env::var_os("GIT_CONFIG_GLOBAL") {
            files.push(PathBuf::from(g));
        }
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME") {
            files.push(PathBuf::from(x).join("git/config"));
        }
        for f in files {
            let Some(text) = crate::fsutil::read_regular_text(&f, 1 << 20) else {
                continue;
            };
            if git_config_runs_programs(&text) {
                return Some(format!("{} makes git run programs", f.display()));
            }
        }
        None
    }

    fn stdin_text(&mut self, stdin: &Stdin) -> Option<String> {
        match stdin {
            Stdin::Text(t) => Some((*t).to_owned()),
            Stdin::File(p) => self.read_patch(p),
            Stdin::None | Stdin::Opaque => None,
        }
    }

    fn read_patch(&mut self, path: &Path) -> Option<String> {
        if self.patch_reads >= MAX_PATCH_READS {
            return None;
        }
        self.patch_reads += 1;
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            // A FIFO would block whoever reads it, a device never ends: never trusted.
            self.limit = Some(
                "it reads a patch from something that is not a regular file (a FIFO, a device or a folder)",
            );
            return None;
        }
        let bytes = crate::fsutil::read_regular(path, MAX_PATCH_BYTES).ok()??;
        self.work += bytes.len();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `sh -c STRING`, or a shell reading its script from a here-document or pipe.
    fn shell(&mut self, name: &str, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        let mut command_mode = false;
        let mut i = 0;
        while let Some(w) = rest.get(i) {
            let t = w.text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            if matches!(t, "-o" | "+o" | "--rcfile" | "--init-file" | "-O" | "+O") {
                i += 2;
                continue;
            }
            if t.starts_with("--") {
                command_mode |= t == "--command";
            } else if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 {
                command_mode |= t[1..].contains('c');
            } else {
                break;
            }
            i += 1;
        }
        if command_mode {
            if let Some(cmd) = rest.get(i) {
                self.script(&cmd.text, &mut env.clone(), &ctx.deeper());
            }
        } else if rest.get(i).is_none_or(|w| w.text == "-") {
            match stdin {
                Stdin::Text(t) => self.script(t, &mut env.clone(), &ctx.deeper()),
                Stdin::None => {}
                Stdin::File(p) => self.opaque(format!("runs the {name} script {}", p.display())),
                Stdin::Opaque => self.opaque(format!("runs {name} commands read from a pipe")),
            }
        } else if let Some(script) = rest.get(i) {
            self.opaque(format!("runs the {name} script {}", script.text));
        }
    }

    fn find(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        if ctx.depth >= MAX_REPARSE {
            return;
        }
        let mut i = 0;
        while let Some(w) = rest.get(i) {
            match w.text.as_str() {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let mut roots = Vec::new();
        while let Some(w) = rest.get(i) {
            if w.text.starts_with('-') || matches!(w.text.as_str(), "(" | ")" | "!" | ",") {
                break;
            }
            roots.push(self.resolve(w, &env.cwd));
            i += 1;
        }
        if roots.is_empty() {
            roots.push(env.cwd.to_path_buf());
        }
        while i < rest.len() {
            if matches!(
                rest[i].text.as_str(),
                "-exec" | "-execdir" | "-ok" | "-okdir"
            ) {
                let start = i + 1;
                let mut end = start;
                while end < rest.len() && !matches!(rest[end].text.as_str(), ";" | "+") {
                    end += 1;
                }
                let inner = Ctx {
                    placeholder: Some(("{}".into(), roots.clone())),
                    stdin_args: false,
                    depth: ctx.depth + 1,
                };
                self.command(
                    &rest[start..end],
                    &mut env.clone(),
                    &inner,
                    &Stdin::None,
                    false,
                );
                i = end;
            } else if rest[i].text == "-delete" {
                for r in roots.clone() {
                    self.unknown(&r, "find -delete");
                }
            } else if matches!(
                rest[i].text.as_str(),
                "-fprint" | "-fprint0" | "-fprintf" | "-fls"
            ) {
                if let Some(f) = rest.get(i + 1) {
                    self.file(f, env, ctx, "find -fprint");
                }
                i += 1;
            }
            i += 1;
        }
    }

    /// `ed FILE`/`ex FILE`: written unless the commands fed to it visibly never write.
    fn ed(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        let o = parse_opts(rest, "-p -c --cmd", false);
        let mut scripts: Vec<&str> = o
            .flags
            .iter()
            .filter(|(f, _)| matches!(f.as_str(), "-c" | "--cmd"))
            .filter_map(|(_, v)| Some(v.as_ref()?.text.as_str()))
            .collect();
        if let Stdin::Text(t) = stdin {
            scripts.push(t);
        }
        if matches!(stdin, Stdin::Opaque | Stdin::File(_)) && scripts.is_empty() {
            self.opaque("runs editor commands read from a pipe or file".into());
        }
        let writes = scripts.is_empty()
            || scripts.iter().any(|s| {
                s.split(['\n', '|']).any(|line| {
                    let l = line.trim();
                    let cmd = l.trim_start_matches(|c: char| !c.is_ascii_alphabetic());
                    matches!(
                        cmd.split_whitespace().next(),
                        Some("w" | "wq" | "x" | "W" | "wq!" | "x!" | "w!")
                    )
                })
            });
        if writes {
            self.edited_all(&o.operands, env, ctx, "ed");
        }
    }

    /// `gawk -i inplace`.
    fn awk(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        let o = parse_opts(
            rest,
            "-F -v -f -i -l -e --field-separator --assign --file --include --load --source",
            false,
        );
        let inplace = o.flags.iter().any(|(f, v)| {
            matches!(f.as_str(), "-i" | "--include")
                && v.as_ref().is_some_and(|v| v.text == "inplace")
        });
        let program_given = o
            .flags
            .iter()
            .any(|(f, _)| matches!(f.as_str(), "-f" | "--file" | "-e" | "--source"));
        let from_file = o
            .flags
            .iter()
            .any(|(f, _)| matches!(f.as_str(), "-f" | "--file"));
        let program: Vec<&str> = if program_given {
            o.flags
                .iter()
                .filter(|(f, _)| matches!(f.as_str(), "-e" | "--source"))
                .filter_map(|(_, v)| Some(v.as_ref()?.text.as_str()))
                .collect()
        } else {
            o.operands
                .first()
                .map(|w| w.text.as_str())
                .into_iter()
                .collect()
        };
        if from_file || program.iter().any(|p| awk_may_write(p)) {
            self.opaque("runs an awk program that may write files or run commands".into());
        }
        if !inplace {
            return;
        }
        let ops = if program_given {
            &o.operands[..]
        } else {
            o.operands.get(1..).unwrap_or_default()
        };
        let files: Vec<&Word> = ops
            .iter()
            .copied()
            .filter(|w| !is_assignment(&w.text))
            .collect();
        self.edited_all(&files, env, ctx, "awk -i inplace");
    }

    fn curl(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        let o = parse_opts(rest, CURL_ARGS, false);
        let mut dir = env.cwd.to_path_buf();
        let mut remote_name = false;
        let mut urls: Vec<&Word> = o.operands.clone();
        for (f, v) in &o.flags {
            match (f.as_str(), v) {
                ("--output-dir", Some(d)) => dir = self.resolve(d, &env.cwd),
                ("-O" | "--remote-name" | "--remote-name-all", _) => remote_name = true,
                ("--url", Some(u)) => urls.push(u),
                _ => {}
            }
        }
        let denv = Env::at(dir);
        for (f, v) in &o.flags {
            if let ("-o" | "--output", Some(out)) = (f.as_str(), v)
                && out.text != "-"
            {
                self.file(out, &denv, ctx, "curl");
            }
        }
        if remote_name {
            for u in urls {
                if let Some(name) = url_basename(&u.text) {
                    self.file(&Word::plain(name), &denv, ctx, "curl");
                }
            }
        }
    }

    fn wget(&mut self, rest: &[Word], env: &Env, ctx: &Ctx) {
        let o = parse_opts(rest, WGET_ARGS, false);
        let mut dir = env.cwd.to_path_buf();
        let mut document = None;
        for (f, v) in &o.flags {
            match (f.as_str(), v) {
                ("-P" | "--directory-prefix", Some(d)) => dir = self.resolve(d, &env.cwd),
                ("-O" | "--output-document", Some(d)) => document = Some(d.clone()),
                _ => {}
            }
        }
        let denv = Env::at(dir);
        match document {
            Some(d) if d.text == "-" => {}
            Some(d) => self.file(&d, env, ctx, "wget"),
            None => {
                for u in &o.operands {
                    if let Some(name) = url_basename(&u.text) {
                        self.file(&Word::plain(name), &denv, ctx, "wget");
                    }
                }
            }
        }
    }

    /// `python -c CODE` or `python <<EOF`: literal `open('x', 'w')` and `Path('x').write_text`.
    fn python(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        let mut code: Option<String> = None;
        let mut i = 0;
        while let Some(w) = rest.get(i) {
            let t = w.text.as_str();
            if t == "-" || !t.starts_with('-') {
                if t != "-" {
                    return self.opaque(format!("runs the Python script {t}"));
                }
                break;
            }
            if t.starts_with("--") {
                if t == "--version" || t == "--help" {
                    return;
                }
                i += 1;
                continue;
            }
            if let Some(m) = t.strip_prefix("-m") {
                let module = if m.is_empty() {
                    rest.get(i + 1).map_or("", |w| w.text.as_str())
                } else {
                    m
                };
                if !matches!(module, "this" | "platform" | "sysconfig" | "site") {
                    self.opaque(format!("runs the Python module {module}"));
                }
                return;
            }
            if t == "-V" || t == "-h" {
                return;
            }
            if matches!(t, "-W" | "-X" | "-Q") {
                i += 2;
                continue;
            }
            // `-c CODE`, possibly after flags that take no value (`-Bc`, `-IEc`).
            if let Some((flags, attached)) = t[1..].split_once('c')
                && flags.chars().all(|f| "bBdEhiIOPqRsSuvVx".contains(f))
            {
                code = Some(if attached.is_empty() {
                    rest.get(i + 1).map(|w| w.text.clone()).unwrap_or_default()
                } else {
                    attached.to_owned()
                });
                break;
            }
            i += 1;
        }
        let code = match code {
            Some(c) => c,
            None => match stdin {
                Stdin::Text(t) => (*t).to_owned(),
                Stdin::None => return,
                Stdin::File(p) => {
                    return self.opaque(format!("runs the Python script {}", p.display()));
                }
                Stdin::Opaque => return self.opaque("runs Python code read from a pipe".into()),
            },
        };
        // Any Python can write files, and its startup (`.pth` files, `sitecustomize`,
        // `PYTHONSTARTUP`) can run more than the code shown: always judged by effect.
        self.opaque("runs Python code".into());
        for path in scan_python(&code) {
            self.file(&Word::plain(&path), env, ctx, "python");
        }
    }

    /// `node -e CODE` or `node <<EOF`: a literal path in `writeFileSync('x', …)` and friends.
    fn node(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
        let mut code: Option<&str> = None;
        let mut i = 0;
        while let Some(w) = rest.get(i) {
            let t = w.text.as_str();
            match t {
                "-e" | "--eval" | "-p" | "--print" | "eval" => {
                    code = rest.get(i + 1).map(|w| w.text.as_str());
                    break;
                }
                "-r" | "--require" | "--import" | "--loader" => i += 2,
                _ if t.starts_with("--eval=") => {
                    code = t.split_once('=').map(|(_, c)| c);
                    break;
                }
                _ if t.starts_with('-') && t != "-" => i += 1,
                "--version" | "-v" | "--help" | "-h" => return,
                _ => {
                    if t != "-" {
                        return self.opaque(format!("runs the script {t}"));
                    }
                    break;
                }
            }
        }
        let code = match (code, stdin) {
            (Some(c), _) => c.to_owned(),
            (None, Stdin::Text(t)) => (*t).to_owned(),
            (None, Stdin::None) => return,
            (None, _) => return self.opaque("runs JavaScript read from a pipe or file".into()),
        };
        // Likewise `NODE_OPTIONS=--require …` or a preload can run more than the code shown.
        self.opaque("runs JavaScript".into());
        for path in scan_js(&code) {
            self.file(&Word::plain(&path), env, ctx, "node");
        }
    }
}

const XARGS_ARGS: &str = "\
    -I -n -L -P -s -d -E -a --arg-file --delimiter --max-args --max-procs \
    --max-lines --max-chars --eof --process-slot-var";
const INSTALL_ARGS: &str = "\
    -t --target-directory -S --suffix -m --mode -o --owner -g --group \
    --strip-program";

const PATCH_ARGS: &str = "\
    -p --strip -i --input -o --output -d --directory -B --prefix -V \
    --version-control -z --suffix -r --reject-file -D --ifdef -F --fuzz -g --get -Y \
    --basename-prefix --quoting-style";

const RSYNC_ARGS: &str = "\
    -e --rsh -f --filter --exclude --include --exclude-from --include-from \
    --files-from -T --temp-dir -B --block-size --backup-dir --suffix --log-file \
    --partial-dir --compare-dest --copy-dest --link-dest --chmod --chown --usermap \
    --groupmap --rsync-path -M --remote-option --port --password-file --timeout \
    --contimeout --bwlimit --max-size --min-size --max-delete --out-format \
    --log-file-format --iconv --checksum-choice --compress-choice --compress-level \
    --skip-compress --info --debug --modify-window --address --sockopts --protocol \
    --outbuf --stop-after --stop-at --max-alloc --write-batch --only-write-batch \
    --read-batch --early-input";

const CURL_ARGS: &str = "\
    -o --output -d --data --data-raw --data-binary --data-urlencode -H --header -X \
    --request -u --user -A --user-agent -e --referer -b --cookie -c --cookie-jar -x \
    --proxy -T --upload-file -F --form -w --write-out -m --max-time \
    --connect-timeout -K --config -r --range -E --cert --cacert --key -U \
    --proxy-user -C --continue-at --output-dir --retry --resolve --json -y -Y -z \
    --limit-rate --max-filesize --retry-delay --retry-max-time --url -D \
    --dump-header";

const WGET_ARGS: &str = "\
    -O --output-document -o --output-file -a --append-output -P --directory-prefix \
    -t --tries -T --timeout -U --user-agent --header -e --execute -i --input-file -B \
    --base -w --wait -Q --quota -l --level -A --accept -R --reject -D --domains \
    --user --password";

// ---------------------------------------------------------------------------------------------
// Small helpers over words and text.

/// `a.{rs,py}` → `a.rs`, `a.py`: the first `{x,y}` group of an unquoted word (at most 32).
fn brace_alternatives(w: &Word) -> Option<Vec<Word>> {
    if w.quoted {
        return None;
    }
    let open = w.text.find('{')?;
    let close = open + w.text[open..].find('}')?;
    let inner = &w.text[open + 1..close];
    if !inner.contains(',') || inner.contains('{') || w.text[..open].ends_with('$') {
        return None;
    }
    let (head, tail) = (&w.text[..open], &w.text[close + 1..]);
    let words = inner.split(',').take(32).map(|alt| Word {
        text: format!("{head}{alt}{tail}"),
        tilde: w.tilde,
        // Expanded once: `a{1,2}{3,4}…` must not multiply.
        quoted: true,
    });
    Some(words.collect())
}

/// Options and operands, GNU style: options may follow operands, `--` ends them, `-abc` is a
/// cluster, and the (space-separated) names in `with_arg` take a value (attached, after `=`, or
/// the next word).
struct Opts<'w> {
    flags: Vec<(String, Option<Word>)>,
    /// Without `stop_at_operand`: every operand.
    operands: Vec<&'w Word>,
    /// With `stop_at_operand`: the words from the first operand on (`operands` stays empty).
    rest: &'w [Word],
}

fn parse_opts<'w>(args: &'w [Word], with_arg: &str, stop_at_operand: bool) -> Opts<'w> {
    let mut o = Opts {
        flags: Vec::new(),
        operands: Vec::new(),
        rest: &[],
    };
    let mut i = 0;
    while i < args.len() {
        let t = args[i].text.as_str();
        if t == "--" {
            o.rest = &args[i + 1..];
            if !stop_at_operand {
                o.operands.extend(o.rest);
            }
            return o;
        }
        if let Some(long) = t.strip_prefix("--") {
            if let Some((n, v)) = long.split_once('=') {
                o.flags.push((format!("--{n}"), Some(Word::plain(v))));
            } else if listed(with_arg, t) {
                o.flags.push((t.to_owned(), args.get(i + 1).cloned()));
                i += 1;
            } else {
                o.flags.push((t.to_owned(), None));
            }
        } else if t.len() > 1 && t.starts_with('-') {
            let cluster: Vec<char> = t[1..].chars().collect();
            for (k, c) in cluster.iter().enumerate() {
                let name = format!("-{c}");
                if listed(with_arg, &name) {
                    let attached: String = cluster[k + 1..].iter().collect();
                    if attached.is_empty() {
                        o.flags.push((name, args.get(i + 1).cloned()));
                        i += 1;
                    } else {
                        o.flags.push((name, Some(Word::plain(&attached))));
                    }
                    break;
                }
                o.flags.push((name, None));
            }
        } else if stop_at_operand {
            o.rest = &args[i..];
            return o;
        } else {
            o.operands.push(&args[i]);
        }
        i += 1;
    }
    o
}

/// Whether the space-separated `names` include `name`.
fn listed(names: &str, name: &str) -> bool {
    names.split_whitespace().any(|n| n == name)
}

/// The words after a wrapper's options: where the wrapped command starts.
fn skip_options<'w>(args: &'w [Word], with_arg: &str) -> &'w [Word] {
    parse_opts(args, with_arg, true).rest
}

/// Drop leading `NAME=value` assignments and reserved words (`if`, `then`, `{`, `!`, …).
fn skip_prefix(mut words: &[Word]) -> &[Word] {
    while let Some(w) = words.first() {
        if KEYWORDS.contains(&w.text.as_str()) || is_assignment(&w.text) {
            words = &words[1..];
        } else {
            break;
        }
    }
    words
}

fn is_assignment(t: &str) -> bool {
    let name = match t.split_once('=') {
        Some((n, _)) => n.strip_suffix('+').unwrap_or(n),
        None => return false,
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `/usr/bin/sed` → `sed`.
fn command_name(t: &str) -> &str {
    t.rsplit('/').next().unwrap_or(t)
}

/// The last path component of an operand, ignoring trailing slashes (`a/b/` → `b`).
fn basename(t: &str) -> &str {
    let t = t.trim_end_matches('/');
    let t = t.rsplit('/').next().unwrap_or(t);
    // `host:path` (rsync, scp)
    t.rsplit(':').next().unwrap_or(t)
}

fn is_fd(t: &str) -> bool {
    t == "-" || (!t.is_empty() && t.trim_end_matches('-').chars().all(|c| c.is_ascii_digit()))
}

fn is_device(p: &Path) -> bool {
    p.starts_with("/dev")
}

/// `/dev/fd/N` or `/proc/…/fd/N`: what they write is whatever the descriptor was opened on
/// (`exec 3<src/lib.rs; echo >> /dev/fd/3`).
fn through_descriptor(p: &Path) -> bool {
    let t = p.to_string_lossy();
    (t.starts_with("/dev/fd/") && !matches!(&t[8..], "1" | "2"))
        || (t.starts_with("/proc/") && t.contains("/fd/"))
}

/// `host:path` or `user@host:path` (a colon before any slash), not `./a:b`.
fn is_remote(t: &str) -> bool {
    match t.find(':') {
        Some(i) => !t[..i].contains('/') && i > 0,
        None => false,
    }
}

fn url_basename(u: &str) -> Option<&str> {
    let (_, after) = u.split_once("://")?;
    let path = after.split(['?', '#']).next()?;
    let (_, path) = path.split_once('/')?;
    Some(path.rsplit('/').next()?).filter(|n| !n.is_empty())
}

/// `$NAME/rest` or `${NAME}/rest` (or exactly `$NAME`) → `rest`.
fn strip_var<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    let rest = t
        .strip_prefix('$')
        .and_then(|r| r.strip_prefix(name))
        .or_else(|| {
            t.strip_prefix("${")
                .and_then(|r| r.strip_prefix(name))
                .and_then(|r| r.strip_prefix('}'))
        })?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// For a path whose last component holds a run-time name (`$x`, `` `x` ``) or a glob with no
/// extension (`src/*`): the folder to report unknown files in. `None` for an ordinary path, or a
/// glob that keeps its extension (`docs/*.md` is judged by `.md`).
fn runtime_name(path: &Path) -> Option<PathBuf> {
    let text = path.to_string_lossy();
    if let Some(k) = text.find(['$', '`']) {
        let known = &text[..k];
        return Some(match known.rfind('/') {
            Some(0) | None => PathBuf::from("/"),
            Some(j) => PathBuf::from(&known[..j]),
        });
    }
    let name = path.file_name()?.to_string_lossy();
    let glob = name.contains(['*', '?', '[']);
    (glob
        && Path::new(&*name)
            .extension()
            .is_none_or(|e| e.to_string_lossy().contains(['*', '?', '['])))
    .then(|| {
        path.parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
    })
}

/// Whether a command certainly succeeds for the purpose of `a && b` (`cd`, `mkdir -p`, an
/// assignment, `true`, `echo`): what follows it is not conditional in practice.
fn certain(node: &Node) -> bool {
    let Node::Simple(sc) = node else { return false };
    let words = skip_prefix(&sc.words);
    match words.first().map(|w| command_name(&w.text)) {
        None => true,
        Some(n) => matches!(
            n,
            "cd" | "pushd"
                | "popd"
                | "mkdir"
                | "true"
                | ":"
                | "echo"
                | "printf"
                | "export"
                | "set"
                | "source"
                | "."
                | "local"
                | "declare"
                | "umask"
                | "shopt"
        ),
    }
}

/// `$NAME…`, `${NAME}…` or `${NAME:-default}…` at the start of `t`: the name, the default, and
/// how many bytes the reference takes. `None` for anything else (`$1`, `$@`, `${#x}`, `${x/a/b}`).
fn var_ref(t: &str) -> Option<(&str, Option<&str>, usize)> {
    let rest = t.strip_prefix('$')?;
    if let Some(inner) = rest.strip_prefix('{') {
        let close = inner.find('}')?;
        let body = &inner[..close];
        let (name, default) = match body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            None => (body, None),
            Some(i) => {
                let op = &body[i..];
                let d = op.strip_prefix(":-").or_else(|| op.strip_prefix('-'))?;
                (&body[..i], Some(d))
            }
        };
        valid_name(name).then_some((name, default, close + 3))
    } else {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        valid_name(name).then_some((name, None, end + 1))
    }
}

fn valid_name(n: &str) -> bool {
    n.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// `$(mktemp …)` or `` `mktemp …` `` making a file in the system's temporary folder (no `-p`,
/// `--tmpdir=DIR` or template with a folder).
fn mktemp_value(v: &str) -> bool {
    let inner = v
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| v.strip_prefix('`').and_then(|r| r.strip_suffix('`')));
    let Some(inner) = inner else { return false };
    let mut words = inner.split_whitespace();
    if words.next().map(command_name) != Some("mktemp") {
        return false;
    }
    words.all(|w| {
        !(w == "-p"
            || w.starts_with("--tmpdir=")
            || w.starts_with("-p")
            || w.contains('/')
            || w.contains('$'))
    }) && !inner.contains(" -p ")
}

/// Whether an awk program may write files or run commands: `print > "file"`, `system()`,
/// pipes (`print | "cmd"`, `"cmd" | getline`). A `true` is not a block: while native edits
/// are locked the command is judged by its effect.
fn awk_may_write(code: &str) -> bool {
    code.contains("system")
        || code.contains('|')
        || code.contains("getline")
        || code.contains("ENVIRON")
        || code.split(['\n', ';', '}', '{']).any(|stmt| {
            let s = stmt.trim_start();
            (s.starts_with("print") || s.starts_with("printf")) && s.contains('>')
        })
}

/// Whether a `sed` script runs commands (`e`) or writes files (`w`, `W`, `s///w`).
fn sed_script_writes(script: &str) -> bool {
    script.split(['\n', ';', '{', '}']).any(|piece| {
        let p = piece.trim_start();
        // Skip an address: line numbers, `$`, `/re/`, ranges, `!`.
        let mut rest = p;
        loop {
            let before = rest.len();
            rest = rest.trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '$' | ',' | '!' | '~' | '+' | ' ')
            });
            if let Some(r) = rest.strip_prefix('/') {
                rest = r.find('/').map_or("", |i| &r[i + 1..]);
            }
            if rest.len() == before {
                break;
            }
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some('w' | 'W' | 'e') => chars.next().is_none_or(|c| c.is_whitespace()),
            Some('s') => {
                let Some(d) = chars.next() else { return false };
                let body: String = chars.collect();
                let mut parts = 0;
                let mut escaped = false;
                let mut flags = String::new();
                for c in body.chars() {
                    if parts == 2 {
                        if c.is_whitespace() || c == ';' || c == '}' {
                            break;
                        }
                        flags.push(c);
                        continue;
                    }
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == d {
                        parts += 1;
                    }
                }
                flags.contains(['w', 'W', 'e'])
            }
            _ => false,
        }
    })
}

/// The files a patch creates or changes: `+++ ` lines (minus `strip` leading components, or a
/// leading `b/` when no `-p` was given), `rename to`/`copy to` lines, and `diff --git` headers of
/// sections with neither. Deleted files (`+++ /dev/null`) are left out.
fn patch_names(text: &str, strip: Option<usize>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    let mut deleted = false;
    let strip_name = |raw: &str| -> Option<String> {
        let name = raw.split('\t').next().unwrap_or(raw).trim_end();
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name);
        if name.is_empty() || name == "/dev/null" {
            return None;
        }
        let stripped = match strip {
            Some(0) => name.to_owned(),
            Some(n) => {
                let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
                parts.get(n.min(parts.len().saturating_sub(1))..)?.join("/")
            }
            None => name
                .strip_prefix("b/")
                .or_else(|| name.strip_prefix("a/"))
                .unwrap_or(name)
                .to_owned(),
        };
        (!stripped.is_empty()).then_some(stripped)
    };
    fn add(out: &mut Vec<String>, n: String) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(h) = line.strip_prefix("diff --git ") {
            if let Some(p) = pending.take().filter(|_| !deleted) {
                add(&mut out, p);
            }
            deleted = false;
            pending = h
                .rsplit_once(" b/")
                .and_then(|(_, b)| strip_name(&format!("b/{b}")));
        } else if let Some(n) = line.strip_prefix("+++ ") {
            pending = None;
            if let Some(n) = strip_name(n) {
                add(&mut out, n);
            }
        } else if let Some(n) = line
            .strip_prefix("rename to ")
            .or_else(|| line.strip_prefix("copy to "))
        {
            pending = None;
            add(&mut out, n.trim().to_owned());
        } else if line.starts_with("deleted file mode") {
            deleted = true;
        }
    }
    if let Some(p) = pending.filter(|_| !deleted) {
        add(&mut out, p);
    }
    out
}

/// A string literal at the start of `s` (after blanks and a Python prefix): its value and the
/// text after it. Escapes are taken literally (`\'` → `'`).
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let s = s.trim_start_matches(['r', 'R', 'b', 'B', 'u', 'U', 'f', 'F']);
    let q = s.chars().next().filter(|q| matches!(q, '\'' | '"' | '`'))?;
    let mut value = String::new();
    let mut it = s[1..].char_indices();
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            value.extend(it.next().map(|(_, n)| n));
        } else if c == q {
            return Some((value, &s[1 + i + 1..]));
        } else {
            value.push(c);
        }
    }
    None
}

fn scan_python(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("open(") {
        let Some((path, after)) = string_literal(&code[at + 5..]) else {
            continue;
        };
        let Some(after) = after.trim_start().strip_prefix(',') else {
            continue;
        };
        let after = after.trim_start();
        let after = after
            .strip_prefix("mode")
            .map_or(after, |a| a.trim_start().trim_start_matches('='));
        if string_literal(after).is_some_and(|(mode, _)| mode.contains(['w', 'a', 'x', '+'])) {
            out.push(path);
        }
    }
    for (at, _) in code.match_indices("Path(") {
        let Some((path, after)) = string_literal(&code[at + 5..]) else {
            continue;
        };
        let after = after.trim_start();
        if after.starts_with(").write_text(") || after.starts_with(").write_bytes(") {
            out.push(path);
        }
    }
    out
}

fn scan_js(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for call in [
        "writeFileSync(",
        "appendFileSync(",
        "writeFile(",
        "appendFile(",
        "createWriteStream(",
        "writeTextFile(",
        "outputFileSync(",
        "Bun.write(",
    ] {
        for (at, _) in code.match_indices(call) {
            if let Some((path, _)) = string_literal(&code[at + call.len()..])
                && !path.contains("${")
            {
                out.push(path);
            }
        }
    }
    out
}

/// Whether the text of a git config file makes git run programs: `core.fsmonitor`, hooks
/// (`core.hooksPath`, `uploadpack.packObjectsHook`), a filter, a textconv, a pager, an editor, an
/// ssh or proxy command, an include (of a file that may), an askpass, a credential helper, a
/// diff or merge driver, an `ext::` transport, upload/receive-pack programs, or an alias to a
/// shell command. Broad on purpose: a false match only means a command is watched.
pub fn git_config_runs_programs(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "fsmonitor",
        "hookspath",
        "[filter",
        "textconv",
        "pager",
        "sshcommand",
        "[include",
        "askpass",
        "editor",
        "program",
        "[diff",
        "[merge",
        "credential",
        "proxycommand",
        "gitproxy",
        "hook",
        "ext::",
        "uploadpack",
        "receivepack",
        "cmd",
    ]
    .iter()
    .any(|k| lower.contains(k))
        || (lower.contains("[alias") && lower.contains('!'))
}

/// Whether `meta` is the file of offload's own binary `name` (`offload`, `offload-hook`,
/// `offload-statusline`) installed beside the running hook, and installed with it: not changed
/// more than ten minutes after the hook itself (the install writes them together; a copy put
/// over it later is a new program like any other, and the guard denies writing there).
fn is_own_binary(name: &str, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    if !matches!(
        name,
        "offload" | crate::settings::HOOK_BIN | crate::settings::STATUSLINE_BIN
    ) {
        return false;
    }
    let Ok(hook) = std::env::current_exe() else {
        return false;
    };
    let (Ok(own), Ok(this)) = (
        std::fs::metadata(hook.with_file_name(name)),
        std::fs::metadata(&hook),
    ) else {
        return false;
    };
    if (own.dev(), own.ino()) != (meta.dev(), meta.ino()) {
        return false;
    }
    // What setup recorded of it decides when there is a record; else it must date from the
    // hook's own install.
    let own_path = hook.with_file_name(name);
    match crate::paths::Paths::from_env()
        .ok()
        .and_then(|p| crate::tamper::recorded_sig(&p.state_dir, &own_path))
    {
        Some(sig) => {
            crate::tamper::bin_sig(&own_path).is_some_and(|now| sig.recorded_matches(&now))
        }
        None => own.ctime() <= this.ctime() + 600,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written only under a run-time condition (`~` before the path).
    fn wc(cmd: &str) -> Vec<String> {
        writes(cmd, Path::new("/p"), Some(Path::new("/home/u")))
            .into_iter()
            .map(|t| match t {
                Target::File(w) if w.conditional => format!("~{}", w.path.display()),
                Target::File(w) => w.path.display().to_string(),
                Target::Unknown { dir, .. } => format!("?{}", dir.display()),
            })
            .collect()
    }

    #[test]
    fn limits_are_reported_never_silent() {
        let a = |cmd: &str| analyze(cmd, Path::new("/p"), None, None, None).limit;
        let many: Vec<String> = (0..300).map(|i| format!("echo > f{i}.txt")).collect();
        assert!(a(&many.join("; ")).is_some_and(|l| l.contains("256")));
        let deep = format!("{}echo > a.rs{}", "$(".repeat(40), ")".repeat(40));
        assert!(a(&deep).is_some_and(|l| l.contains("32 levels")));
        let big = format!("echo '{}'", "x".repeat(17 << 20));
        assert!(a(&big).is_some_and(|l| l.contains("16 MiB")));
        let nested = "eval eval eval eval eval eval ls";
        assert!(a(nested).is_some_and(|l| l.contains("4 levels")));
        let past = Some(std::time::Instant::now() - std::time::Duration::from_secs(1));
        assert!(
            analyze("ls; ls", Path::new("/p"), None, None, past)
                .limit
                .is_some()
        );
        assert_eq!(a("ls -la && git status"), None);
    }

    #[test]
    fn opaque_code_is_reported() {
        let o = |cmd: &str| analyze(cmd, Path::new("/p"), None, None, None).opaque;
        assert!(o("ls; cat a | grep x; sort b").is_empty());
        // git is trusted unless the git on PATH was installed or changed in the last day (as on
        // a freshly provisioned machine: then it is watched like any new program).
        let fresh_git = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("git"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| {
                use std::os::unix::fs::MetadataExt;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                now - m.ctime() < 86_400
            });
        assert_eq!(o("ls; git status").is_empty(), !fresh_git);
        // Any interpreter is judged by effect: its startup files can run more than the code.
        assert!(!o("python3 -c 'import json,sys; print(json.load(sys.stdin))'").is_empty());
        assert!(o("jq .name data.json | sort | uniq -c").is_empty());
        assert!(
            !o(
                "python3 - <<'EOF'\nfrom pathlib import Path\nPath('src/a.rs').write_text('x')\nEOF"
            )
            .is_empty()
        );
        assert!(!o("node -e \"require('fs').writeFileSync(p, s)\"").is_empty());
        assert!(!o("printf 'echo > a.rs\\n' | bash").is_empty());
        assert!(!o("curl -s http://127.0.0.1/x | sh").is_empty());
        assert!(!o("S=$(which sed); $S -i s/a/b/ x").is_empty());
        assert!(!o("./scripts/gen.sh").is_empty());
        assert!(!o("GIT_EDITOR='echo x >> a.rs' git commit -e").is_empty());
        assert!(!o("git rebase --exec 'make' main").is_empty());
    }

    #[test]
    fn background_parts_are_reported() {
        let bg = |cmd: &str| analyze(cmd, Path::new("/p"), None, None, None).background;
        assert!(bg("(sleep 2; python3 x.py) >/dev/null 2>&1 &"));
        assert!(bg("sleep 5 & wait"));
        assert!(bg("setsid -f python3 x.py"));
        assert!(bg("echo 'python3 x.py' | at now + 1 minute"));
        assert!(!bg("a && b; c || d"));
        assert!(!bg("echo x &> log.txt"));
    }

    #[test]
    fn writes_under_a_condition_are_marked() {
        assert_eq!(wc("true || echo x > a.rs"), ["~/p/a.rs"]);
        assert_eq!(wc("false && echo x > a.rs"), ["~/p/a.rs"]);
        assert_eq!(wc("cd src && echo x > a.rs"), ["/p/src/a.rs"]);
        assert_eq!(
            wc("if false; then echo x >> a.rs; fi; echo > b.rs"),
            ["~/p/a.rs", "/p/b.rs"]
        );
        assert_eq!(wc("case x in y) sed -i d a.rs;; esac"), ["~/p/a.rs"]);
        assert_eq!(
            wc("f() { echo x > a.rs; }; echo > b.rs"),
            ["~/p/a.rs", "/p/b.rs"]
        );
        assert_eq!(wc("[ -f n ] && cp /dev/null a.rs; true"), ["~/p/a.rs"]);
    }

    /// Targets as short strings: a file's path, or `?DIR` for unknown files in DIR.
    fn w(cmd: &str) -> Vec<String> {
        writes(cmd, Path::new("/p"), Some(Path::new("/home/u")))
            .into_iter()
            .map(|t| match t {
                Target::File(w) => w.path.display().to_string(),
                Target::Unknown { dir, .. } => format!("?{}", dir.display()),
            })
            .collect()
    }

    /// The words of every simple command, at any depth, in parse order.
    fn words(src: &str) -> Vec<Vec<String>> {
        fn walk(l: &List, out: &mut Vec<Vec<String>>) {
            for item in &l.items {
                match &item.node {
                    Node::Subshell(inner) => walk(inner, out),
                    Node::Simple(s) => {
                        for sub in &s.subs {
                            walk(sub, out);
                        }
                        out.push(s.words.iter().map(|w| w.text.clone()).collect());
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&parse(src).list, &mut out);
        out
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(
            words(r#"e"ch"o 'a b' c\ d "x\"y" $'t\'u' "$(pwd)/z""#),
            vec![
                vec!["pwd".to_string()],
                vec!["echo", "a b", "c d", "x\"y", "t'u", "$(pwd)/z"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ]
        );
    }

    #[test]
    fn operators_split_commands() {
        let cmds = words("a;b&&c||d|e&f\ng |& h");
        let names: Vec<&str> = cmds.iter().map(|c| c[0].as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g", "h"]);
    }

    #[test]
    fn redirections_that_write_and_those_that_do_not() {
        assert_eq!(w("echo x >a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x>>a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x >| a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x &> a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x &>>a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x 2>a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x 10>>a.rs"), ["/p/a.rs"]);
        assert_eq!(w("exec 3<>a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x >& a.rs"), ["/p/a.rs"]);
        assert!(w("echo x 2>&1 >&2 1>&- <&0").is_empty());
        assert!(w("echo x > /dev/null 2>/dev/stderr >/dev/fd/3").is_empty());
        assert!(w("echo 'x > a.rs' \"> b.rs\" \\> c.rs").is_empty());
        assert!(w("[[ a > b.rs ]] && (( 1 > 2 )) && echo $((3>4))").is_empty());
    }

    #[test]
    fn heredoc_bodies_are_data() {
        assert!(w("cat <<EOF\necho x > a.rs\nEOF").is_empty());
        assert!(w("cat <<'EOF' | grep x\n$(touch a.rs)\nEOF\n").is_empty());
        assert_eq!(
            w("cat <<-EOF > a.rs\n\tbody > b.rs\n\tEOF\necho > c.rs"),
            ["/p/a.rs", "/p/c.rs"]
        );
        // Two here-documents on one line, read in order.
        assert_eq!(
            w("cat <<A <<\"B\" > x.rs\none\nA\ntwo\nB\ntouch y.rs"),
            ["/p/x.rs", "/p/y.rs"]
        );
        // Unterminated: the body runs to the end.
        assert!(w("cat <<EOF\necho > a.rs").is_empty());
        // A shell reading the here-document runs it.
        assert_eq!(w("bash <<'EOF'\necho x > a.rs\nEOF"), ["/p/a.rs"]);
        // With an unquoted delimiter, substitutions in the body run; quoted, they are text.
        assert_eq!(
            w("cat <<EOF > n.md\n$(echo x > a.rs) `touch b.rs`\nEOF"),
            ["/p/n.md", "/p/a.rs", "/p/b.rs"]
        );
        assert_eq!(w("cat <<\\EOF > n.md\n$(echo x > a.rs)\nEOF"), ["/p/n.md"]);
        assert_eq!(
            w("cat <<E\"O\"F > n.md\n$(echo x > a.rs)\nEOF"),
            ["/p/n.md"]
        );
    }

    #[test]
    fn comments_and_continuations() {
        assert!(w("echo x # > a.rs").is_empty());
        assert_eq!(w("echo a#b > a.rs"), ["/p/a.rs"]);
        assert_eq!(w("echo x \\\n  > a.rs"), ["/p/a.rs"]);
    }

    #[test]
    fn substitutions_are_commands() {
        assert_eq!(w("echo $(echo x > a.rs)"), ["/p/a.rs"]);
        assert_eq!(w("echo \"`touch b.rs`\""), ["/p/b.rs"]);
        assert_eq!(
            w("x=$(cat <<EOF\nbody\nEOF\n) && echo \"$x\" > c.rs"),
            ["/p/c.rs"]
        );
        assert_eq!(w("tee >(cat > d.rs) < /dev/null"), ["/p/d.rs"]);
        assert_eq!(w("echo `echo \\`touch e.rs\\``"), ["/p/e.rs"]);
    }

    #[test]
    fn cd_moves_later_commands_and_subshells_contain_it() {
        assert_eq!(w("cd src && echo x > a.rs"), ["/p/src/a.rs"]);
        assert_eq!(
            w("(cd src; echo > a.rs); echo > b.rs"),
            ["/p/src/a.rs", "/p/b.rs"]
        );
        assert_eq!(w("{ cd src; }; echo > a.rs"), ["/p/src/a.rs"]);
        assert_eq!(w("cd /tmp && cd - && echo > a.rs"), ["/p/a.rs"]);
        assert_eq!(w("cd && echo > a.rs"), ["/home/u/a.rs"]);
        assert_eq!(w("pushd a && popd && touch b.rs"), ["/p/b.rs"]);
        assert_eq!(w("echo $(cd /tmp) > a.rs"), ["/p/a.rs"]);
        assert_eq!(w("cd x | true; echo > a.rs"), ["/p/a.rs"]);
        assert_eq!(w("bash -c 'cd sub' && echo > a.rs"), ["/p/a.rs"]);
    }

    #[test]
    fn paths_are_expanded_and_normalised() {
        assert_eq!(w("echo > ~/a.rs"), ["/home/u/a.rs"]);
        assert_eq!(w("echo > '~/a.rs'"), ["/p/~/a.rs"]);
        assert_eq!(w("echo > $HOME/a.rs"), ["/home/u/a.rs"]);
        assert_eq!(w("echo > ${HOME}/b.rs"), ["/home/u/b.rs"]);
        assert_eq!(w("echo > $PWD/x/../c.rs"), ["/p/c.rs"]);
        assert_eq!(w("echo > a/./b/../c.rs"), ["/p/a/c.rs"]);
        assert_eq!(w("echo > /../../x.rs"), ["/x.rs"]);
        // A variable the command did not set: a name known only at run time, somewhere.
        assert_eq!(w("echo > $OUT/main.rs"), ["?/"], "$OUT may be any folder");
        assert_eq!(w("OUT=src; echo > $OUT/main.rs"), ["/p/src/main.rs"]);
        assert_eq!(
            w("f=src/lib.rs; S=sed; $S -i s/a/b/ \"$f\""),
            ["/p/src/lib.rs"]
        );
        assert_eq!(
            w("t=$(mktemp -d); echo > $t/main.rs"),
            ["/tmp/offload-mktemp/main.rs"]
        );
        assert_eq!(w("echo > \"${TMPDIR:-/tmp}/r.py\""), ["/tmp/r.py"]);
        assert_eq!(
            w("for f in docs/a.md src/b.rs; do sed -i s/x/y/ \"$f\"; done"),
            ["/p/docs/a.md", "/p/src/b.rs"]
        );
        assert_eq!(
            normalize(Path::new("../a/../../b")),
            PathBuf::from("../../b")
        );
    }

    #[test]
    fn copies_land_in_folders() {
        assert_eq!(w("cp /tmp/x.rs src/"), ["/p/src/x.rs"]);
        // Not a folder (here or made earlier in the command): a file of that name.
        assert_eq!(w("cp /tmp/x.rs src"), ["/p/src"]);
        assert_eq!(w("mkdir -p src && cp /tmp/x.rs src"), ["/p/src/x.rs"]);
        assert_eq!(w("cp -T /tmp/x.rs src"), ["/p/src"]);
        assert_eq!(w("cp a.rs b.rs c"), ["/p/c/a.rs", "/p/c/b.rs"]);
        assert_eq!(w("mv -t dst a.py"), ["/p/dst/a.py"]);
        assert_eq!(w("ln -s ../lib/x.ts"), ["/p/x.ts"]);
        assert_eq!(w("rsync -av -e ssh a.rs host:src/"), Vec::<String>::new());
        assert!(w("install -d src/new").is_empty());
    }

    #[test]
    fn in_place_editors() {
        assert_eq!(w("sed -n -i 's/a/b/' a.rs b.rs"), ["/p/a.rs", "/p/b.rs"]);
        assert_eq!(w("sed -e s/a/b/ -i.bak a.rs"), ["/p/a.rs"]);
        assert_eq!(w("sed 's/a/b/' a.rs -i"), ["/p/a.rs"]);
        assert_eq!(w("sed -i '' -e 's/a/b/' a.rs"), ["/p/a.rs"]);
        assert!(w("sed -n 's/a/b/p' a.rs").is_empty());
        assert_eq!(w("perl -0777 -pi -e 's/a/b/' a.rs"), ["/p/a.rs"]);
        assert!(w("perl -ne 'print' a.rs").is_empty());
        assert_eq!(w("sed -i s/a/b/ \"$f\""), ["?/p"]);
        assert_eq!(w("sed -i s/a/b/ src/*"), ["?/p/src"]);
        assert_eq!(w("sed -i s/a/b/ $(git ls-files src/*.rs)"), ["?/p"]);
        assert_eq!(w("sed -i s/a/b/ lib/`ls lib`"), ["?/p/lib"]);
        assert_eq!(
            w("sed -i s/a/b/ src/*.{rs,toml}"),
            ["/p/src/*.rs", "/p/src/*.toml"]
        );
        assert_eq!(w("echo > 'a.{rs,md}' > ${x,}"), ["/p/a.{rs,md}", "?/p"]);
        assert_eq!(w("xargs sed -i s/a/b/"), ["?/p"]);
        assert_eq!(
            w("find src lib -name '*.rs' -exec sed -i s/a/b/ {} +"),
            ["?/p/src", "?/p/lib"]
        );
        assert_eq!(w("ls | xargs -I@ cp @ out/"), ["?/p/out"]);
        assert!(w("ed -s a.rs <<< ',p'").is_empty());
        assert_eq!(w("ed -s a.rs <<< $',s/a/b/\\nw'"), ["/p/a.rs"]);
    }

    #[test]
    fn patches_are_read_for_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let patch = [
            "diff --git a/src/a.rs b/src/a.rs",
            "--- a/src/a.rs",
            "+++ b/src/a.rs",
            "@@ -1 +1 @@",
            "-a",
            "+b",
            "diff --git a/old.py b/new.py",
            "similarity index 90%",
            "rename from old.py",
            "rename to new.py",
            "diff --git a/gone.c b/gone.c",
            "deleted file mode 100644",
            "--- a/gone.c",
            "+++ /dev/null",
            "",
        ]
        .join("\n");
        std::fs::write(dir.path().join("fix.patch"), patch).unwrap();
        let got = |cmd: &str| -> Vec<String> {
            writes(cmd, dir.path(), None)
                .into_iter()
                .map(|t| match t {
                    Target::File(w) => w
                        .path
                        .strip_prefix(dir.path())
                        .unwrap()
                        .display()
                        .to_string(),
                    Target::Unknown { .. } => "?".into(),
                })
                .collect()
        };
        assert_eq!(got("git apply fix.patch"), ["src/a.rs", "new.py"]);
        assert_eq!(got("cat fix.patch | git apply -"), ["src/a.rs", "new.py"]);
        assert_eq!(got("patch -p1 < fix.patch"), ["src/a.rs", "new.py"]);
        assert_eq!(got("patch -p1 -i fix.patch"), ["src/a.rs", "new.py"]);
        assert_eq!(
            got("git apply --directory=sub fix.patch"),
            ["sub/src/a.rs", "sub/new.py"]
        );
        assert_eq!(got("patch -p1 < missing.patch"), ["?"]);
        assert!(got("git apply --check fix.patch").is_empty());
        assert_eq!(patch_names("--- x.c\t2020\n+++ x.c\t2021\n", None), ["x.c"]);
    }

    #[test]
    fn interpreters_best_effort() {
        assert_eq!(w("python3 -c \"open('a.py', 'w').write('')\""), ["/p/a.py"]);
        assert_eq!(w("python3 -c \"open('a.py', mode='a')\""), ["/p/a.py"]);
        assert!(w("python3 -c \"print(open('a.py').read())\"").is_empty());
        assert_eq!(
            w("python - <<'EOF'\nfrom pathlib import Path\nPath('b.py').write_text('x')\nEOF"),
            ["/p/b.py"]
        );
        assert_eq!(w("node -e \"fs.writeFileSync('c.js', s)\""), ["/p/c.js"]);
        assert!(w("python3 gen.py").is_empty());
    }

    #[test]
    fn reparse_depth_is_capped() {
        let mut cmd = "echo > deep.rs".to_string();
        for _ in 0..3 {
            cmd = format!("bash -c {}", crate::shell::single_quote(&cmd));
        }
        assert_eq!(w(&cmd), ["/p/deep.rs"]);
        for _ in 0..4 {
            cmd = format!("bash -c {}", crate::shell::single_quote(&cmd));
        }
        assert!(w(&cmd).is_empty());
    }

    /// A deterministic generator (xorshift) of shell-flavoured garbage.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        // Single characters, and shell-flavoured tokens (each followed by a space).
        const CHARS: &str = " \t\n\r'\"\\$(){};&|<>#~=`*-./\0é字🦀";
        const TOKENS: &str = "-i -c -e -t -p1 -- << <<- <<< >& &> 2> $( $(( ${ $' EOF a.rs src/ \
            .. {} \\; ; sed perl tee cp mv ln cd pushd popd bash sh eval xargs find patch git apply \
            am sudo env -C dd of= touch install rsync python3 node open( 'w' ed awk [[ ]] if then fi \
            +++ b/ diff --git -exec -I";
        let chars: Vec<char> = CHARS.chars().collect();
        let tokens: Vec<&str> = TOKENS.split_whitespace().collect();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4000 {
            let mut s = String::new();
            for _ in 0..rng.next() % 60 {
                match rng.next() % 5 {
                    0 => s.push(char::from((rng.next() % 0x80) as u8)),
                    1 | 2 => s.push(chars[(rng.next() % chars.len() as u64) as usize]),
                    _ => {
                        s.push_str(tokens[(rng.next() % tokens.len() as u64) as usize]);
                        s.push(' ');
                    }
                }
            }
            let _ = writes(&s, Path::new("/p"), Some(Path::new("/h")));
            let _ = writes(&s, Path::new(""), None);
        }
    }

    #[test]
    fn never_panics_on_pathological_input() {
        let cwd = Path::new("/p");
        let big = 1 << 20;
        let cases = [
            "(".repeat(big),
            ")".repeat(big),
            "$(".repeat(big / 2),
            "`".repeat(big),
            "\\`".repeat(big / 2),
            "<<".repeat(big / 2) + "\n",
            "<<a ".repeat(big / 4) + "\n",
            "'".repeat(big) + "x",
            "\"".repeat(big - 1),
            "a".repeat(big),
            "> a.rs ".repeat(big / 7),
            "sudo ".repeat(big / 5) + "tee a.rs",
            "eval ".repeat(big / 5) + "echo > a.rs",
            "xargs ".repeat(big / 6) + "sed -i s/a/b/",
            "cd aaaaaaaa && ".repeat(big / 15) + "echo $(true) $(true) > a.rs",
            "pushd a; ".repeat(big / 9),
            "bash -c \"".repeat(big / 9),
            "find . -exec ".repeat(big / 13),
            "${".repeat(big / 2),
            "$((".repeat(big / 3),
            "[[ ".repeat(big / 3),
            "\\".to_string(),
            "$'\\x".to_string(),
            "<<".to_string(),
            "cat <<".to_string(),
            "echo >".to_string(),
            "2>".to_string(),
            "&".to_string(),
            "git apply".to_string(),
            "cp".to_string(),
            "sed -i".to_string(),
            "é字🦀 > ü.rs".to_string(),
            "sed -i s/a/b/ ".to_string() + &"{a,b}".repeat(big / 5),
        ];
        for case in &cases {
            let _ = writes(case, cwd, Some(Path::new("/h")));
        }
        assert_eq!(w("é字🦀 > ü.rs"), ["/p/ü.rs"]);
        assert!(writes(&"> a.rs ".repeat(big / 7), cwd, None).len() == 1);
    }
}
