//! The local terminal of a remote shell, as `erl -remsh` gives one: line editing, history
//! and tab completion from rustyline, Ctrl-C interrupting an evaluation, and the terminal put
//! back as it was whatever ends the session. `rotp remsh` and a release's `remote` (`drip
//! remote`) both run it.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use etf::Atom;
use node::Node;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Highlighter, Hinter, Validator};

use super::{Ended, Expander, Read, RemshError, Shell, Terminal};

/// Runs a shell on `target` (connected already) in this process's terminal until the user
/// leaves, the shell ends or the node goes down; the exit status to end with.
pub async fn console(node: &Node, target: &Atom, shell: Shell) -> Result<ExitCode, RemshError> {
    // The terminal as it was, for leaving while the line editor holds it in raw mode.
    let saved = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let terminal = Arc::new(Rustyline::new().map_err(|e| RemshError::Terminal(e.to_string()))?);
    let (interrupt, interrupts) = tokio::sync::mpsc::unbounded_channel();
    // Ctrl-C while the shell evaluates (no line is being read, so the terminal is not in raw
    // mode and it comes as SIGINT) interrupts the evaluation.
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if interrupt.send(()).is_err() {
                break;
            }
        }
    });
    let ended = super::run(node, target, shell, terminal, interrupts).await?;
    let code = match ended {
        Ended::Left => {
            eprintln!("left {target} running");
            ExitCode::SUCCESS
        }
        Ended::ShellExited(reason) => {
            eprintln!("the shell on {target} ended: {}", etf::text::write(&reason));
            ExitCode::SUCCESS
        }
        Ended::NodeDown => {
            // The line editor's thread is blocked reading the terminal and cannot be told to
            // stop: put the terminal back as it was and leave the process from here.
            if let Some(saved) = &saved {
                let _ = nix::sys::termios::tcsetattr(
                    std::io::stdin(),
                    nix::sys::termios::SetArg::TCSANOW,
                    saved,
                );
            }
            eprintln!(
                "\r\nlost the connection to {target}: it went down, or the network between us did"
            );
            std::process::exit(1);
        }
    };
    Ok(code)
}

/// Completion through the target's expander.
#[derive(Helper, Hinter, Highlighter, Validator, Default)]
struct Completion {
    expander: Arc<Mutex<Option<Expander>>>,
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let expander = self.expander.lock().ok().and_then(|e| e.clone());
        let Some(expansion) = expander.and_then(|e| e.expand(&line[..pos])) else {
            return Ok((pos, Vec::new()));
        };
        // What edlin offers is inserted at the cursor; the matches are listed.
        let pairs = if expansion.matches.len() <= 1 {
            vec![Pair {
                display: expansion.insert.clone(),
                replacement: expansion.insert,
            }]
        } else {
            expansion
                .matches
                .into_iter()
                .map(|m| Pair {
                    display: m,
                    replacement: expansion.insert.clone(),
                })
                .collect()
        };
        Ok((pos, pairs))
    }
}

/// The terminal, through rustyline. What arrives while a line is being edited is written as it
/// comes (in the raw mode rustyline keeps, with `\r\n` line ends), not through rustyline's
/// external printer: with one, rustyline 17 waits on the terminal for more bytes before it
/// edits what it has already read, so a line pasted or typed in one burst hung until the next
/// key.
struct Rustyline {
    editor: Mutex<Editor<Completion, DefaultHistory>>,
    expander: Arc<Mutex<Option<Expander>>>,
    reading: AtomicBool,
}

impl Rustyline {
    fn new() -> rustyline::Result<Rustyline> {
        let config = rustyline::Config::builder()
            .completion_type(rustyline::CompletionType::List)
            .auto_add_history(true)
            .build();
        let mut editor: Editor<Completion, DefaultHistory> = Editor::with_config(config)?;
        let completion = Completion::default();
        let expander = completion.expander.clone();
        editor.set_helper(Some(completion));
        Ok(Rustyline {
            editor: Mutex::new(editor),
            expander,
            reading: AtomicBool::new(false),
        })
    }
}

impl Terminal for Rustyline {
    fn read_line(&self, prompt: &str, password: bool) -> Read {
        if password {
            return match rpassword::prompt_password(prompt) {
                Ok(line) => Read::Line(line),
                Err(_) => Read::Eof,
            };
        }
        let Ok(mut editor) = self.editor.lock() else {
            return Read::Eof;
        };
        self.reading.store(true, Ordering::SeqCst);
        let read = editor.readline(prompt);
        self.reading.store(false, Ordering::SeqCst);
        match read {
            Ok(line) => Read::Line(line),
            Err(ReadlineError::Interrupted) => Read::Interrupted,
            Err(_) => Read::Eof,
        }
    }

    fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.reading.load(Ordering::SeqCst) {
            let _ = out.write_all(text.replace('\n', "\r\n").as_bytes());
        } else {
            let _ = out.write_all(text.as_bytes());
        }
        let _ = out.flush();
    }

    fn geometry(&self) -> (u16, u16) {
        ratatui::crossterm::terminal::size().unwrap_or((80, 24))
    }

    fn set_expander(&self, expander: Expander) {
        if let Ok(mut e) = self.expander.lock() {
            *e = Some(expander);
        }
    }
}
