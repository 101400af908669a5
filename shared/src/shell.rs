//! POSIX shell words: quoting a word so a shell reads it back unchanged, and the command line
//! of a list of words. Used wherever offload prints or writes a command for a shell: deny
//! reasons, `CLAUDE_ENV_FILE` lines, settings.json hook and statusline commands, plan commands.

use std::borrow::Cow;

/// `s` as one word: as is when it is made only of characters no shell treats specially, else
/// in single quotes (a single quote inside becomes `'\''`).
pub fn quote(s: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(single_quote(s))
}

/// `'s'`, always quoted, with each `'` written as `'\''`.
pub fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line a shell runs as exactly `words`.
pub fn command_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("gpt-5.4"), "gpt-5.4");
        assert_eq!(quote("/a/b"), "/a/b");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert_eq!(single_quote("plain"), "'plain'");
        assert_eq!(command_line(&["echo", "a b"]), "echo 'a b'");
    }
}
