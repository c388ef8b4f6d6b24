//! `dpnode ctl` with no command: an interactive shell on the node, like
//! `vppctl` with no arguments.
//!
//! Line editing and history (`~/.dpnode_history`) come from `rustyline`.
//! The command words it completes and `?` lists are the node's own: the
//! shell asks the node for `help` once and reads the command lines of that
//! text as a small grammar ([`Grammar`]): literal words, `a|b`
//! alternatives, UPPERCASE placeholders and `[...]` options, which may come
//! in any order after the fixed words. `?` anywhere prints the words that
//! may come next (`<cr>`: the line can run as it is) and gives the line
//! back to edit. Each command goes to the node over its own connection,
//! as `dpnode ctl WORDS` does; `exec FILE` runs a file of commands (also
//! as `dpnode ctl exec FILE`), `quit`, `exit` or end of input leaves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Editor, Event, EventContext, EventHandler, Helper, KeyEvent, RepeatCount,
};

use crate::cli;

/// The shell's own commands, in the node's help format.
pub const SHELL_HELP: &str = "  exec FILE                 run the commands of FILE, one a line (# starts a comment)
  quit                      leave the shell (also exit, or end of input)";

/// The prompt.
pub const PROMPT: &str = "dpnode# ";

/// One element of a command pattern: `a|b|NAME` is the words `a`, `b` or any value (shown as `NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Elem {
    words: Vec<String>,
    values: Vec<String>,
}

impl Elem {
    fn parse(token: &str) -> Elem {
        let (values, words): (Vec<&str>, Vec<&str>) = token
            .split('|')
            .filter(|a| !a.is_empty())
            .partition(|a| a.chars().any(|c| c.is_ascii_uppercase()) || *a == "...");
        Elem {
            words: words.into_iter().map(String::from).collect(),
            values: values.into_iter().map(String::from).collect(),
        }
    }

    fn matches(&self, word: &str) -> bool {
        !self.values.is_empty() || self.words.iter().any(|w| w == word)
    }
}

/// One command: fixed elements, then options in any order.
#[derive(Debug, Clone)]
struct Pattern {
    fixed: Vec<Elem>,
    options: Vec<Vec<Elem>>,
}

/// The commands the node knows, read from its `help` text.
#[derive(Debug, Clone, Default)]
pub struct Grammar {
    patterns: Vec<Pattern>,
}

/// A word that may come next ([`Grammar::next`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Next {
    /// A literal word (completion offers these).
    Word(String),
    /// A value to type, by its placeholder name.
    Value(String),
    /// The line is a whole command.
    End,
}

impl std::fmt::Display for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Next::Word(w) | Next::Value(w) => f.write_str(w),
            Next::End => f.write_str("<cr>"),
        }
    }
}

/// Splits `[a b] [c | d e]` style text into top-level groups and bare tokens.
fn tokens(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut bare, mut groups) = (Vec::new(), Vec::new());
    let (mut depth, mut cur, mut group) = (0usize, String::new(), String::new());
    for c in text.chars() {
        match c {
            '[' => {
                if depth > 0 {
                    // A nested option becomes a top-level one: `[INDEX [verbose]]`.
                    group.push(']');
                    groups.push(std::mem::take(&mut group).trim_end_matches(']').trim().to_string());
                }
                depth += 1;
            }
            ']' if depth > 0 => {
                depth -= 1;
                if !group.trim().is_empty() {
                    groups.push(std::mem::take(&mut group).trim().to_string());
                }
                group.clear();
            }
            _ if depth > 0 => group.push(c),
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    bare.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        bare.push(cur);
    }
    (bare, groups)
}

impl Grammar {
    /// Reads the command lines of a help text: lines that start with (two
    /// spaces and) a lowercase word, not a `heading:`; the command ends at the first run of two
    /// spaces; lines indented further that start with `[` add options to the
    /// command above.
    pub fn from_help(help: &str) -> Grammar {
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut last_ok = false;
        for line in help.lines() {
            // (The node's help has one command line without its indent.)
            let body = line.strip_prefix("  ").unwrap_or(line);
            if body.split_whitespace().next().is_none_or(|w| w.ends_with(':')) {
                last_ok = false;
                continue;
            }
            let trimmed = body.trim_start();
            let indented = body.len() - trimmed.len() > 0;
            let cmd = trimmed.split("  ").next().unwrap_or("");
            if indented {
                if last_ok && cmd.starts_with('[') {
                    let (_, groups) = tokens(cmd);
                    if let Some(p) = patterns.last_mut() {
                        p.options.extend(groups.iter().flat_map(|g| Self::option(g)));
                    }
                }
                continue;
            }
            last_ok = cmd.chars().next().is_some_and(|c| c.is_ascii_lowercase());
            if !last_ok {
                continue;
            }
            let (bare_head, _) = tokens(cmd.split('[').next().unwrap_or(""));
            let (_, groups) = tokens(cmd);
            let fixed = bare_head.iter().map(|t| Elem::parse(t)).collect();
            let options = groups.iter().flat_map(|g| Self::option(g)).collect();
            patterns.push(Pattern { fixed, options });
        }
        Grammar { patterns }
    }

    /// One `[...]` group: `a | b c` is two options.
    fn option(group: &str) -> Vec<Vec<Elem>> {
        group
            .split(" | ")
            .map(|alt| alt.split_whitespace().map(Elem::parse).collect::<Vec<_>>())
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// What may follow the complete words `words`.
    pub fn next(&self, words: &[&str]) -> BTreeSet<Next> {
        let mut out = BTreeSet::new();
        for p in &self.patterns {
            Self::next_in(p, words, &mut out);
        }
        out
    }

    fn next_in(p: &Pattern, words: &[&str], out: &mut BTreeSet<Next>) {
        let mut it = words.iter();
        for e in &p.fixed {
            match it.next() {
                Some(w) if e.matches(w) => {}
                Some(_) => return,
                None => {
                    Self::offer(e, out);
                    return;
                }
            }
        }
        // The options, in any order; each at most once.
        let mut used = vec![false; p.options.len()];
        let rest: Vec<&str> = it.copied().collect();
        let mut i = 0;
        while i < rest.len() {
            // An option named by its first word, else one that starts with a value.
            let free = |k: &usize| !used[*k];
            let start = (p.options.iter().enumerate())
                .find(|(k, o)| free(k) && o[0].words.iter().any(|w| w == rest[i]))
                .or_else(|| p.options.iter().enumerate().find(|(k, o)| free(k) && !o[0].values.is_empty()));
            let Some((k, o)) = start else { return };
            used[k] = true;
            i += 1;
            for e in &o[1..] {
                match rest.get(i) {
                    Some(w) if e.matches(w) => i += 1,
                    Some(_) => return,
                    None => {
                        Self::offer(e, out);
                        return;
                    }
                }
            }
        }
        out.insert(Next::End);
        for (k, o) in p.options.iter().enumerate() {
            if !used[k] {
                Self::offer(&o[0], out);
            }
        }
    }

    fn offer(e: &Elem, out: &mut BTreeSet<Next>) {
        out.extend(e.words.iter().cloned().map(Next::Word));
        if !e.values.is_empty() {
            out.insert(Next::Value(e.values.join("|")));
        }
    }

    /// Completions of the line before the cursor: (start of the word being completed, words).
    pub fn complete(&self, before: &str) -> (usize, Vec<String>) {
        let start = word_start(before);
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let partial = &before[start..];
        let words = self
            .next(&words)
            .into_iter()
            .filter_map(|n| match n {
                Next::Word(w) if w.starts_with(partial) => Some(w),
                _ => None,
            })
            .collect();
        (start, words)
    }

    /// `?`'s answer for the line before the cursor: the words that may come
    /// next (those that start the word under the cursor, if one is begun).
    pub fn help(&self, before: &str) -> String {
        let start = word_start(before);
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let partial = &before[start..];
        let next: Vec<String> = self
            .next(&words)
            .into_iter()
            .filter(|n| partial.is_empty() || matches!(n, Next::Word(w) if w.starts_with(partial)))
            .map(|n| n.to_string())
            .collect();
        if next.is_empty() {
            return format!("no command continues {:?}\n", before.trim());
        }
        next.iter().map(|n| format!("  {n}\n")).collect()
    }
}

/// Where the word under the cursor starts (after the last whitespace).
fn word_start(before: &str) -> usize {
    before.char_indices().rev().find(|(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8())
}

/// What the `?` key left for the loop: the line and the cursor.
type Pending = Arc<Mutex<Option<(String, usize)>>>;

struct QuestionKey(Pending);

impl ConditionalEventHandler for QuestionKey {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if let Ok(mut p) = self.0.lock() {
            *p = Some((ctx.line().to_string(), ctx.pos()));
        }
        // The loop prints the help and gives the line back where it was.
        Some(Cmd::AcceptLine)
    }
}

struct ShellHelper(Arc<Grammar>);

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = self.0.complete(&line[..pos]);
        Ok((start, words.into_iter().map(|w| Pair { display: w.clone(), replacement: format!("{w} ") }).collect()))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Where the history is kept: `~/.dpnode_history`.
pub fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".dpnode_history"))
}

/// Runs one line: the shell's own commands here, the rest on the node.
/// Returns false to leave.
fn run_line(socket: &Path, json: bool, line: &str, depth: usize) -> bool {
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {}
        ["quit" | "exit"] => return false,
        ["exec", file] => {
            exec(socket, json, Path::new(file), depth + 1);
        }
        ["exec", ..] => eprintln!("usage: exec FILE"),
        _ => match cli::ctl(socket, &words, json) {
            Ok(a) if a.ok => print!("{}", a.body),
            Ok(a) => eprint!("{}", a.body),
            Err(e) => eprintln!("dpnode ctl: {e}"),
        },
    }
    true
}

/// Files `exec` may nest (a file that runs itself stops there).
const MAX_EXEC_DEPTH: usize = 8;

/// `exec FILE`: each line as if typed, its command echoed first. False if
/// the file could not be read, or a command failed.
pub fn exec(socket: &Path, json: bool, file: &Path, depth: usize) -> bool {
    if depth > MAX_EXEC_DEPTH {
        eprintln!("exec {}: nested more than {MAX_EXEC_DEPTH} deep", file.display());
        return false;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("exec {}: {e}", file.display());
            return false;
        }
    };
    let mut ok = true;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        println!("{PROMPT}{line}");
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        match words.first().map(String::as_str) {
            Some("quit" | "exit") => break,
            Some("exec") => {
                run_line(socket, json, line, depth);
            }
            _ => match cli::ctl(socket, &words, json) {
                Ok(a) if a.ok => print!("{}", a.body),
                Ok(a) => {
                    ok = false;
                    eprint!("{}", a.body);
                }
                Err(e) => {
                    eprintln!("dpnode ctl: {e}");
                    return false;
                }
            },
        }
    }
    ok
}

/// The node's command table: its `help`, plus the shell's own commands.
fn grammar(socket: &Path) -> Grammar {
    let help = match cli::ctl(socket, &["help".to_string()], false) {
        Ok(a) if a.ok => a.body,
        // An older node or none yet: this build's table.
        _ => format!("{}\n{}", cli::HELP, crate::cli_session::HELP),
    };
    Grammar::from_help(&format!("{help}\n{SHELL_HELP}"))
}

/// `dpnode ctl` with no command: the shell, until `quit` or end of input.
pub fn run(socket: &Path, json: bool) -> Result<(), ReadlineError> {
    if let Err(e) = std::os::unix::net::UnixStream::connect(socket) {
        eprintln!("dpnode ctl: {}", cli::CtlError::Connect(socket.into(), e));
        return Err(ReadlineError::Interrupted);
    }
    let grammar = Arc::new(grammar(socket));
    let config = Config::builder().completion_type(CompletionType::List).auto_add_history(false).build();
    let mut rl: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)?;
    rl.set_helper(Some(ShellHelper(grammar.clone())));
    let pending: Pending = Arc::default();
    rl.bind_sequence(KeyEvent::from('?'), EventHandler::Conditional(Box::new(QuestionKey(pending.clone()))));
    let history = history_path();
    if let Some(h) = &history {
        // None yet is fine: it is made on the first save.
        let _ = rl.load_history(h);
    }
    let mut initial: Option<(String, usize)> = None;
    loop {
        let read = match &initial {
            Some((line, pos)) => {
                let pos = (*pos).min(line.len());
                rl.readline_with_initial(PROMPT, (&line[..pos], &line[pos..]))
            }
            None => rl.readline(PROMPT),
        };
        initial = None;
        let line = match read {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        };
        if let Some((line, pos)) = pending.lock().ok().and_then(|mut p| p.take()) {
            print!("{}", grammar.help(&line[..pos.min(line.len())]));
            initial = Some((line, pos));
            continue;
        }
        // Typed without a terminal (a pipe): a trailing `?` asks the same.
        if let Some(before) = line.strip_suffix('?') {
            print!("{}", grammar.help(before));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(line.trim());
        if let Some(h) = &history {
            if let Err(e) = rl.append_history(h) {
                eprintln!("dpnode ctl: history {}: {e}", h.display());
            }
        }
        if !run_line(socket, json, &line, 0) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn g() -> Grammar {
        Grammar::from_help(&format!("commands:\n{}\n{}\n{SHELL_HELP}", cli::HELP, crate::cli_session::HELP))
    }

    fn next(g: &Grammar, line: &str) -> Vec<String> {
        g.next(&line.split_whitespace().collect::<Vec<_>>()).iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn first_words_come_from_the_help_text() {
        let n = next(&g(), "");
        for w in ["show", "clear", "set", "ping", "app", "test", "help", "exec", "quit"] {
            assert!(n.contains(&w.to_string()), "{w} in {n:?}");
        }
        assert!(!n.iter().any(|w| w.starts_with('(') || w == "bulk:"), "descriptions are not commands: {n:?}");
    }

    #[test]
    fn next_words_values_options_and_end() {
        let g = g();
        let show = next(&g, "show");
        for w in ["interface", "runtime", "errors", "app", "tcp", "ip"] {
            assert!(show.contains(&w.to_string()), "{w} in {show:?}");
        }
        assert_eq!(next(&g, "show ip"), vec!["arp", "route"]);
        assert!(next(&g, "show runtime").contains(&"<cr>".to_string()));
        assert_eq!(next(&g, "ping"), vec!["ADDR"]);
        let ping = next(&g, "ping 198.18.0.1");
        assert!(ping.contains(&"<cr>".into()) && ping.contains(&"count".into()) && ping.contains(&"size".into()));
        assert_eq!(next(&g, "ping 198.18.0.1 count"), vec!["N"]);
        let after = next(&g, "ping 198.18.0.1 count 3");
        assert!(!after.contains(&"count".into()) && after.contains(&"interval".into()), "{after:?}");
        assert!(next(&g, "show app").contains(&"server".into()) && next(&g, "show app").contains(&"<cr>".into()));
        let client = next(&g, "test echo client uri tcp://198.18.0.1/7");
        assert!(
            client.contains(&"mode".into()) && client.contains(&"no-delay".into()),
            "continued options: {client:?}"
        );
        assert!(next(&g, "set fault").contains(&"hold".into()), "{:?}", next(&g, "set fault"));
        assert!(next(&g, "app ns add id 1 secret 2").contains(&"interface".into()));
        assert!(next(&g, "nonsense").is_empty());
    }

    #[test]
    fn completion_and_question_mark() {
        let g = g();
        assert_eq!(g.complete("sh"), (0, vec!["show".to_string()]));
        assert_eq!(g.complete("show runt"), (5, vec!["runtime".to_string()]));
        let words = ["interface", "ip", "ip6"].map(String::from).to_vec();
        assert_eq!(g.complete("show i"), (5, words));
        assert!(g.help("show ").contains("  runtime\n"));
        assert!(g.help("show ru").contains("  runtime\n") && !g.help("show ru").contains("errors"));
        assert!(g.help("show runtime ").contains("<cr>"));
        assert!(g.help("bogus ").starts_with("no command continues"));
        // Any whitespace separates words, wide ones too.
        assert_eq!(g.complete("show\u{3000}ru"), ("show\u{3000}".len(), vec!["runtime".to_string()]));
    }
}
