//! Error reports, as OTP's `logger` prints them: crash reports (`proc_lib`), supervisor
//! reports (`supervisor`) and error reports (`gen_server`'s "Generic server terminating").
//!
//! A report goes to [`tracing`] at the `error` level when the program has installed a global
//! subscriber (`tracing::subscriber::set_global_default`, `tracing_subscriber::fmt().init()`),
//! and otherwise to standard error in the shape erl's default handler prints it
//! (`logger_formatter` with its legacy header), so that a program that sets nothing up still
//! sees its crashes:
//!
//! ```text
//! =CRASH REPORT==== 7-Dec-2026::23:29:14.327263 ===
//!   crasher:
//!     initial call: counter::Counter
//!     pid: <0.80.0>
//!     registered_name: counter
//!     exception exit: boom
//! ```
//!
//! Two differences from erl, on purpose: erl's handler writes to standard output, where a
//! Rust program's own output goes, so these go to standard error; and the time is UTC
//! (erl's `utc_log`), as the runtime reads no time zone.
//!
//! ```
//! rotp_runtime::logger::report(rotp_runtime::logger::Kind::Error, "** something went wrong");
//! ```

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which report: the header erl prints above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `=ERROR REPORT====`: an error logged by a process (gen_server's
    /// `** Generic server … terminating`).
    Error,
    /// `=CRASH REPORT====`: a process started by an OTP behaviour ended abnormally
    /// (`proc_lib:crash_report/4`).
    Crash,
    /// `=SUPERVISOR REPORT====`: a supervisor saw a child fail (`supervisor:report_error/4`).
    Supervisor,
}

impl Kind {
    /// The header's word: `ERROR`, `CRASH`, `SUPERVISOR`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Error => "ERROR",
            Kind::Crash => "CRASH",
            Kind::Supervisor => "SUPERVISOR",
        }
    }
}

/// Reports `body` (the lines erl prints under the header, without it): to `tracing` when a
/// global subscriber is set, else to standard error under erl's header.
pub fn report(kind: Kind, body: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{} REPORT\n{body}", kind.label());
        return;
    }
    let text = format!(
        "={} REPORT==== {} ===\n{}\n\n",
        kind.label(),
        timestamp(SystemTime::now()),
        body.trim_end()
    );
    // One write, so that reports from several processes do not interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A term as a report prints it: `~p` (printable binaries as `<<"text">>`), cut after 4,000
/// characters so that a huge reason cannot flood the log.
pub fn format_term(term: &etf::Term) -> String {
    const MAX: usize = 4000;
    let mut text = etf::text::pretty(term);
    if text.len() > MAX {
        let mut cut = MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" ...");
    }
    text
}

/// `7-Dec-2026::23:29:14.327263`, as `logger_formatter` writes a legacy header's time (UTC).
fn timestamp(now: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{day}-{}-{year}::{:02}:{:02}:{:02}.{:06}",
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_read_as_erls() {
        // 2026-12-07T23:29:14.297953Z, a time erl printed as 7-Dec-2026::23:29:14.297953.
        let t = UNIX_EPOCH + Duration::from_micros(1_796_686_154_297_953);
        assert_eq!(timestamp(t), "7-Dec-2026::23:29:14.297953");
        assert_eq!(timestamp(UNIX_EPOCH), "1-Jan-1970::00:00:00.000000");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(t), "29-Feb-2000::00:00:00.000000");
    }
}
