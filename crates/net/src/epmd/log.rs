//! epmd's debug log lines: `epmd: <ctime>: message` on standard error, as `dbg_tty_printf`
//! prints them when not running as a daemon.
//!
//! ```
//! // `epmd -d`: level-1 lines print, level-2 ones (`-d -d`) do not.
//! rotp_net::epmd::log::print(1, 1, "** got PORT2_REQ"); // epmd: Mon Dec  7 23:41:02 2026: ** got PORT2_REQ
//! rotp_net::epmd::log::print(1, 2, "entering the main select() loop"); // nothing
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// Prints `line` if the debug level reaches `level` (level 0 lines always print).
pub fn print(debug: u8, level: u8, line: &str) {
    if debug >= level {
        eprint!("epmd: {}: {line}\r\n", ctime(SystemTime::now()));
    }
}

/// `ctime(3)` without its newline, in UTC: `Wed Nov 25 12:11:55 2026`.
fn ctime(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ctime_matches_libc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_608_715);
        assert_eq!(ctime(t), "Wed Nov 25 12:11:55 2026");
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
    }
}
