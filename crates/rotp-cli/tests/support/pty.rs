//! A program under a pseudo-terminal of a given size, its screen kept by a terminal emulator
//! (vt100): full-screen programs (ratatui) write only the cells that change, so what a test
//! checks is the screen a person would see, not the byte stream.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};

/// A running program and its screen.
pub struct Pty {
    input: std::fs::File,
    output: mpsc::Receiver<Vec<u8>>,
    screen: vt100::Parser,
    child: Child,
}

impl Pty {
    /// Starts `program args` on a new `rows`×`cols` terminal, in a session of its own with
    /// that terminal as its controlling one (`setsid --ctty`), so Ctrl-C is a signal.
    pub fn spawn(
        program: &str,
        args: &[&str],
        envs: &[(&str, String)],
        rows: u16,
        cols: u16,
    ) -> Pty {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(&size, None).expect("a pseudo-terminal");
        let slave = std::fs::File::from(pty.slave);
        let mut command = Command::new("setsid");
        command
            .arg("--ctty")
            .arg(program)
            .args(args)
            .stdin(Stdio::from(slave.try_clone().expect("the terminal")))
            .stdout(Stdio::from(slave.try_clone().expect("the terminal")))
            .stderr(Stdio::from(slave))
            .env("TERM", "xterm-256color");
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command.spawn().expect("the program starts");
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().expect("the terminal's output");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            input: master,
            output: rx,
            screen: vt100::Parser::new(rows, cols, 0),
            child,
        }
    }

    /// Waits (30 s at most) until `text` is on the screen; panics with the screen if not.
    pub fn expect(&mut self, text: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.screen.screen().contents().contains(text) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: {text:?} never appeared; the screen:\n{}",
                self.screen.screen().contents()
            );
            if let Ok(bytes) = self
                .output
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.screen.process(&bytes);
            }
        }
    }

    /// Types `keys`.
    pub fn keys(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).expect("typed");
        self.input.flush().expect("sent");
    }

    /// Waits (30 s at most) for the program to end; its exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("the program's status") {
                return status;
            }
            assert!(Instant::now() < deadline, "the program did not end");
            while self.output.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
