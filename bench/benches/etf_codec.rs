//! Criterion benches of the term codec on the mixed term set (`rotp_bench::MIXED_TERMS`):
//! decode and encode throughput in bytes of external format. The same data, timed inside `erl`,
//! is what `cargo run --release -p rotp-bench --bin etf-vs-erl` compares against.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn codec(c: &mut Criterion) {
    let terms = rotp_bench::mixed_terms(1).expect("corpus");
    let encoded: Vec<Vec<u8>> = terms
        .iter()
        .map(|t| etf::encode(t).expect("encode"))
        .collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("etf mixed set");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for e in &encoded {
                black_box(etf::decode(black_box(e)).expect("decode"));
            }
        })
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            for t in &terms {
                black_box(etf::encode(black_box(t)).expect("encode"));
            }
        })
    });
    group.finish();
}

mod group {
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, codec);
}

criterion_main!(group::benches);
