//! The term codec against OTP's, in one run: decode and encode throughput of the mixed term set
//! (`rotp_bench::MIXED_TERMS`), in rotp and in `erl` (`binary_to_term/1`, `term_to_binary/1`
//! timed with `timer:tc` inside one VM), and the ratio.
//!
//! `cargo run --release -p rotp-bench --bin etf-vs-erl [-- --iterations N]`

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use etf::Term;

#[derive(Parser)]
struct Args {
    /// Passes over the term set on each side.
    #[arg(long, default_value_t = 20_000)]
    iterations: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    println!("{}", rotp_bench::machine());
    let terms = rotp_bench::mixed_terms(1)?;
    let encoded: Vec<Vec<u8>> = terms.iter().map(etf::encode).collect::<Result<_, _>>()?;
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let mb = bytes as f64 * args.iterations as f64 / 1e6;

    // Rust.
    let start = Instant::now();
    for _ in 0..args.iterations {
        for e in &encoded {
            black_box(etf::decode(black_box(e))?);
        }
    }
    let rust_decode = mb / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..args.iterations {
        for t in &terms {
            black_box(etf::encode(black_box(t))?);
        }
    }
    let rust_encode = mb / start.elapsed().as_secs_f64();

    // Erlang, on the very same bytes.
    let file = std::env::temp_dir().join(format!("rotp-etf-bench-{}.bin", std::process::id()));
    let list = Term::List(
        encoded
            .iter()
            .map(|b| Term::Binary(b.clone().into()))
            .collect(),
    );
    std::fs::write(&file, etf::encode(&list)?)?;
    let expr = format!(
        "{{ok, B}} = file:read_file(\"{}\"), Bins = binary_to_term(B), Terms = [binary_to_term(X) || X <- Bins], \
         Loop = fun L(0, _) -> ok; L(N, F) -> F(), L(N - 1, F) end, \
         {{D, _}} = timer:tc(fun() -> Loop({n}, fun() -> [binary_to_term(X) || X <- Bins] end) end), \
         {{E, _}} = timer:tc(fun() -> Loop({n}, fun() -> [term_to_binary(T) || T <- Terms] end) end), \
         io:format(\"~p ~p~n\", [D, E]), halt().",
        file.display(),
        n = args.iterations
    );
    let out = rotp_bench::erl_eval(&expr);
    let _ = std::fs::remove_file(&file);
    let out = out?;
    let mut micros = out.split_whitespace().map(|s| s.parse::<f64>());
    let (d, e) = (
        micros.next().context("erl output")??,
        micros.next().context("erl output")??,
    );
    let (erl_decode, erl_encode) = (mb / (d / 1e6), mb / (e / 1e6));

    println!(
        "term codec, mixed set of {} terms ({bytes} bytes), {} passes",
        terms.len(),
        args.iterations
    );
    println!(
        "{:<8} {:>12} {:>12} {:>8}",
        "", "rotp MB/s", "erl MB/s", "ratio"
    );
    println!(
        "{:<8} {:>12.1} {:>12.1} {:>8}",
        "decode",
        rust_decode,
        erl_decode,
        rotp_bench::ratio(rust_decode, erl_decode)
    );
    println!(
        "{:<8} {:>12.1} {:>12.1} {:>8}",
        "encode",
        rust_encode,
        erl_encode,
        rotp_bench::ratio(rust_encode, erl_encode)
    );
    Ok(())
}
