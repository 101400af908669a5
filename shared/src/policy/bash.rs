//! Which files a Bash command writes, read from the command text alone.
//!
//! The guard denies native edits of code until Codex has been tried; without this module Claude
//! could route around it with `cat > src/lib.rs <<'EOF'`, `sed -i`, `tee`, `cp` or `git apply`.
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
//! What it deliberately does not catch, and why:
//! - Deleting (`rm`, `git rm`): removing code is not authoring it.
//! - Git commands other than `git apply`/`git am` (`checkout -- f`, `restore`, `stash pop`,
//!   `merge`, `reset`, `cherry-pick`): they replay content already in the repository.
//! - Formatters, fixers, generators and builds (`cargo fmt`, `prettier --write`, `eslint --fix`,
//!   `cargo build`, `npm install`): they are tools run over the code, not authoring.
//! - `offload run …`: that is the sanctioned way for Codex to write.
//! - Programs whose writes are in a file we do not read (`bash fix.sh`, `python gen.py`, `make`),
//!   interpreters beyond a literal `open('x', 'w')` (Python) or `writeFileSync('x', …)` (Node),
//!   archives (`tar x`, `unzip`), clones, remote commands (`ssh`, `docker exec`), and aliases or
//!   functions defined outside the command.
//! - Variables set earlier stay literal (`f=a.rs; echo > $f` names `$f`); a literal with an
//!   extension still matches the code globs (`$OUT/main.rs`). Only in-place editors (`sed -i`,
//!   `perl -i`, …) turn an extensionless variable or glob operand into [`Target::Unknown`].
//! - Whole-directory copies (`cp -r gen/ src/`, `rsync -a out/ src/`) report the directory
//!   path, which no code glob matches: moving trees around is restructuring, not authoring.
//! - Paths are normalised lexically (no symlinks, no `CDPATH`); `cd` inside `( … )`, `$( … )` or a
//!   pipeline does not leak out, as in the shell.
//!
//! Work is bounded whatever the input: nesting of parentheses and substitutions is capped,
//! strings re-read as commands (`bash -c`, `eval`, `find -exec`) are followed at most four
//! levels deep, patch files are read up to a size and count limit, and the result
//! is capped. It never panics: an unterminated quote, substitution or here-document runs to the
//! end of the text.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::scope::normalize;
use std::rc::Rc;

/// A file the command writes, and which mechanism writes it (`"redirect"`, `"tee"`, `"sed -i"`,
/// `"cp"`, `"git apply"`, …) so that a denial can say what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Write {
    pub path: PathBuf,
    pub how: &'static str,
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

/// Every file `command` would write when run in `cwd`, with `~` meaning `home`. Paths are
/// absolute when `cwd` is, and lexically normalised. See the module docs for what is left out.
pub fn writes(command: &str, cwd: &Path, home: Option<&Path>) -> Vec<Target> {
    let mut a = Analyzer {
        home,
        out: Vec::new(),
        seen: HashSet::new(),
        work: 0,
        patch_reads: 0,
    };
    let mut env = Env {
        cwd: Rc::from(normalize(cwd)),
        oldpwd: None,
        stack: Vec::new(),
    };
    a.script(command, &mut env, &Ctx::default());
    a.out
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
}

#[derive(Debug, Default)]
struct List {
    items: Vec<Item>,
}

struct Script {
    list: List,
    bodies: Vec<String>,
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
}

fn parse(src: &str) -> Script {
    let mut p = Parser {
        s: src.chars().collect(),
        pos: 0,
        bodies: Vec::new(),
        pending: Vec::new(),
    };
    let list = p.list(0, false);
    Script {
        list,
        bodies: p.bodies,
    }
}

/// Characters that end an unquoted word.
fn ends_word(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

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
        while let Some(c) = {
            self.skip_blanks();
            self.peek()
        } {
            match c {
                '\n' => {
                    self.pos += 1;
                    // Substitutions in here-document bodies run with the line that opened them.
                    for sub in self.read_heredocs() {
                        items.push(Item {
                            node: Node::Subshell(sub),
                            piped: false,
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
                }
                '&' if self.peek_at(1) != Some('>') => {
                    self.pos += 1;
                    self.eat('&');
                    piped = false;
                }
                '|' => {
                    self.pos += 1;
                    piped = !self.eat('|');
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

/// The shell state that changes paths: `cd`, `pushd`, `popd`.
#[derive(Clone)]
struct Env {
    cwd: Rc<Path>,
    oldpwd: Option<Rc<Path>>,
    stack: Vec<Rc<Path>>,
}

impl Env {
    fn at(dir: PathBuf) -> Env {
        Env {
            cwd: Rc::from(dir),
            oldpwd: None,
            stack: Vec::new(),
        }
    }

    fn chdir(&mut self, to: PathBuf) {
        if to.as_os_str().len() <= MAX_CWD_BYTES {
            let old = std::mem::replace(&mut self.cwd, Rc::from(to));
            self.oldpwd = Some(old);
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
    out: Vec<Target>,
    seen: HashSet<Target>,
    work: usize,
    patch_reads: usize,
}

impl Analyzer<'_> {
    fn done(&self) -> bool {
        self.out.len() >= MAX_TARGETS || self.work >= MAX_WORK
    }

    fn push(&mut self, t: Target) {
        if self.done() {
            return;
        }
        if self.seen.insert(t.clone()) {
            self.out.push(t);
        }
    }

    fn unknown(&mut self, dir: &Path, how: &'static str) {
        self.push(Target::Unknown {
            dir: dir.to_path_buf(),
            how,
        });
    }

    fn script(&mut self, src: &str, env: &mut Env, ctx: &Ctx) {
        if ctx.depth > MAX_REPARSE || self.done() {
            return;
        }
        self.work += src.len();
        let sc = parse(src);
        self.list(&sc.list, &sc.bodies, env, ctx);
    }

    fn list(&mut self, list: &List, bodies: &[String], env: &mut Env, ctx: &Ctx) {
        let items = &list.items;
        for (i, item) in items.iter().enumerate() {
            if self.done() {
                return;
            }
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
                }
            }
        }
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
                Op::In => stdin = Stdin::File(self.resolve(&r.target, &env.cwd)),
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
                Stdin::File(self.resolve(&args[0], &env.cwd))
            }
            "echo" | "printf" if args.len() == 1 => Stdin::Text(&args[0].text),
            _ => Stdin::Opaque,
        }
    }

    /// A simple command's words, after its redirections were seen.
    fn command(&mut self, words: &[Word], env: &mut Env, ctx: &Ctx, stdin: &Stdin, in_pipe: bool) {
        let mut args = skip_prefix(words);
        let mut ctx = ctx.clone();
        let mut local: Option<Env> = None;
        let mut wrapped = false;
        // Wrappers that run the rest of the line as the command (a loop, not recursion: a long
        // chain of `sudo sudo …` must not grow the stack).
        let (name, rest) = loop {
            let Some(first) = args.first() else {
                return;
            };
            let rest = &args[1..];
            args = match command_name(&first.text) {
                "sudo" => skip_options(rest, SUDO_ARGS),
                "doas" => skip_options(rest, "-u -C"),
                "command" => {
                    if rest.iter().any(|w| w.text == "-v" || w.text == "-V") {
                        return;
                    }
                    skip_options(rest, "")
                }
                "nohup" | "builtin" | "chronic" | "unbuffer" => skip_options(rest, ""),
                "exec" => skip_options(rest, "-a"),
                "time" => skip_options(rest, "-f -o --format --output"),
                "nice" => skip_options(rest, "-n --adjustment"),
                "ionice" => skip_options(rest, "-c -n -p -u"),
                "stdbuf" => skip_options(rest, "-i -o -e --input --output --error"),
                "timeout" => {
                    let r = skip_options(rest, "-s -k --signal --kill-after");
                    r.get(1..).unwrap_or_default()
                }
                "env" => {
                    let o = parse_opts(rest, "-u --unset -C --chdir -S --split-string", true);
                    for (flag, value) in &o.flags {
                        let Some(v) = value else { continue };
                        match flag.as_str() {
                            "-C" | "--chdir" => {
                                let base = local.as_ref().map_or(&env.cwd, |e| &e.cwd);
                                local = Some(Env::at(self.resolve(v, base)));
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
                    o.rest
                }
                "xargs" => {
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
                    o.rest
                }
                _ => break (command_name(&first.text), rest),
            };
            args = skip_prefix(args);
            wrapped = true;
        };
        if self.done() {
            return;
        }
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
        match name {
            "tee" => self.tee(rest, env, &ctx),
            "sed" | "gsed" => self.sed(rest, env, &ctx),
            "perl" => self.perl(rest, env, &ctx, "perl -i"),
            "ruby" => self.perl(rest, env, &ctx, "ruby -i"),
            "cp" | "mv" | "install" | "ln" | "rsync" | "ginstall" => {
                self.copy(name, rest, env, &ctx)
            }
            "dd" => {
                for w in rest {
                    if let Some(of) = w.text.strip_prefix("of=") {
                        self.file(&Word::plain(of), env, &ctx, "dd");
                    }
                }
            }
            "touch" => {
                let o = parse_opts(rest, "-d --date -t -r --reference", false);
                self.operands(&o.operands, env, &ctx, "touch");
            }
            "truncate" => {
                let o = parse_opts(rest, "-s --size -r --reference", false);
                self.operands(&o.operands, env, &ctx, "truncate");
            }
            "sort" => {
                let o = parse_opts(rest, SORT_ARGS, false);
                for (flag, value) in &o.flags {
                    if let ("-o" | "--output", Some(v)) = (flag.as_str(), value) {
                        self.file(v, env, &ctx, "sort -o");
                    }
                }
            }
            "patch" | "gpatch" => self.patch(rest, env, &ctx, stdin),
            "git" => self.git(rest, env, stdin),
            "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" | "mksh" | "fish" => {
                self.shell(rest, env, &ctx, stdin)
            }
            "eval" => {
                let line: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
                self.script(&line.join(" "), &mut env.clone(), &ctx.deeper());
            }
            "su" => {
                let o = parse_opts(rest, "-c --command -s --shell -g -G", false);
                for (flag, value) in &o.flags {
                    if let ("-c" | "--command", Some(v)) = (flag.as_str(), value) {
                        self.script(&v.text, &mut env.clone(), &ctx.deeper());
                    }
                }
            }
            "find" => self.find(rest, env, &ctx),
            "ed" | "ex" => self.ed(rest, env, &ctx, stdin),
            "awk" | "gawk" => self.awk(rest, env, &ctx),
            "sd" => {
                let o = parse_opts(rest, "-f --flags -n --max-replacements", false);
                if o.flags.iter().any(|(f, _)| f == "-p" || f == "--preview") {
                    return;
                }
                let files = o.operands.get(2..).unwrap_or_default();
                self.edited_all(files, env, &ctx, "sd");
            }
            "curl" => self.curl(rest, env, &ctx),
            "wget" => self.wget(rest, env, &ctx),
            "node" | "nodejs" | "bun" | "deno" => self.node(rest, env, &ctx, stdin),
            n if n.starts_with("python") || n.starts_with("pypy") => {
                self.python(rest, env, &ctx, stdin)
            }
            // The sanctioned path: Codex writes, and that is the point.
            "offload" => {}
            _ => {}
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
        let path = self.resolve(w, &env.cwd);
        if !is_device(&path) {
            self.push(Target::File(Write { path, how }));
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
        // `sed -i … $(git ls-files)`, `src/`x``: names from a command, in the folder before it.
        if let Some(k) = w.text.find("$(").or_else(|| w.text.find('`')) {
            let known = &w.text[..k];
            let dir = match known.rfind('/') {
                Some(0) => PathBuf::from("/"),
                Some(j) => self.resolve(&Word::plain(&known[..j]), &env.cwd),
                None => env.cwd.to_path_buf(),
            };
            return self.unknown(&dir, how);
        }
        let path = self.resolve(w, &env.cwd);
        let opaque = path.extension().is_none()
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(['$', '`', '*', '?', '[']));
        match path.parent() {
            Some(dir) if opaque => self.unknown(dir, how),
            _ if is_device(&path) => {}
            _ => self.push(Target::File(Write { path, how })),
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
        let mut ops: Vec<&Word> = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let t = rest[i].text.as_str();
            if t == "--" {
                ops.extend(&rest[i + 1..]);
                break;
            } else if t == "--in-place" || t.starts_with("--in-place=") {
                inplace = true;
            } else if t == "--expression" || t == "--file" {
                script_given = true;
                i += 1;
            } else if t.starts_with("--expression=") || t.starts_with("--file=") {
                script_given = true;
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
        // A real folder of that name, or a name with no extension receiving a file that has one
        // (`cp x.rs src`): guessing "folder" costs a rare false block, guessing "file" an escape.
        path.is_dir()
            || (path.extension().is_none()
                && !t.contains('$')
                && sources
                    .iter()
                    .any(|s| Path::new(basename(&s.text)).extension().is_some()))
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
            self.push(Target::File(Write { path, how }));
        }
    }

    fn patch(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
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

    fn git(&mut self, rest: &[Word], env: &Env, stdin: &Stdin) {
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
                "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix"
                | "--config-env" => i += 2,
                _ if t.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let (how, default_strip) = match rest.get(i).map(|w| w.text.as_str()) {
            Some("apply") => ("git apply", 1),
            Some("am") => ("git am", 1),
            _ => return,
        };
        let genv = Env::at(cwd.clone());
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
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .ok()?
            .take(MAX_PATCH_BYTES)
            .read_to_end(&mut bytes)
            .ok()?;
        self.work += bytes.len();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `sh -c STRING`, or a shell reading its script from a here-document or pipe.
    fn shell(&mut self, rest: &[Word], env: &Env, ctx: &Ctx, stdin: &Stdin) {
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
        } else if rest.get(i).is_none_or(|w| w.text == "-")
            && let Stdin::Text(t) = stdin
        {
            self.script(t, &mut env.clone(), &ctx.deeper());
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
        if !inplace {
            return;
        }
        let program_given = o
            .flags
            .iter()
            .any(|(f, _)| matches!(f.as_str(), "-f" | "--file" | "-e" | "--source"));
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
                    return; // a script file: not read
                }
                break;
            }
            if t.starts_with("--") {
                i += 1;
                continue;
            }
            if t.starts_with("-m") {
                return; // a module (`-m pytest`)
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
                _ => return,
            },
        };
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
                _ => {
                    if t != "-" {
                        return;
                    }
                    break;
                }
            }
        }
        let code = match (code, stdin) {
            (Some(c), _) => c.to_owned(),
            (None, Stdin::Text(t)) => (*t).to_owned(),
            _ => return,
        };
        for path in scan_js(&code) {
            self.file(&Word::plain(&path), env, ctx, "node");
        }
    }
}

const SUDO_ARGS: &str = "\
    -u -g -h -p -C -D -r -t -T -U --user --group --host --prompt --close-from \
    --chdir --role --type --command-timeout --other-user";
const XARGS_ARGS: &str = "\
    -I -n -L -P -s -d -E -a --arg-file --delimiter --max-args --max-procs \
    --max-lines --max-chars --eof --process-slot-var";
const INSTALL_ARGS: &str = "\
    -t --target-directory -S --suffix -m --mode -o --owner -g --group \
    --strip-program";

const SORT_ARGS: &str = "\
    -o --output -k --key -t --field-separator -S --buffer-size -T \
    --temporary-directory --parallel --batch-size --files0-from --compress-program \
    --random-source --sort";

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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(w("echo > $OUT/main.rs"), ["/p/$OUT/main.rs"]);
        assert_eq!(
            normalize(Path::new("../a/../../b")),
            PathBuf::from("../../b")
        );
    }

    #[test]
    fn copies_land_in_folders() {
        assert_eq!(w("cp /tmp/x.rs src/"), ["/p/src/x.rs"]);
        assert_eq!(w("cp /tmp/x.rs src"), ["/p/src/x.rs"]);
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
        assert_eq!(
            w("echo > 'a.{rs,md}' > ${x,}"),
            ["/p/a.{rs,md}", "/p/${x,}"]
        );
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
