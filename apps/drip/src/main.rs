//! `drip`: parses the settings and runs the app (`drip::app`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = drip::config::Args::parse();
    match drip::config::Config::resolve(args) {
        Ok(config) => {
            println!(
                "drip: settings resolved; listening on {} comes next",
                config.http
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("drip: {e}");
            ExitCode::from(2)
        }
    }
}
