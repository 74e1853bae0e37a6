//! Probe: how deep can a term nest before decode, encode, print, compare or drop overflow a
//! 2 MiB thread stack (tokio's and the test harness's default)?
fn main() {
    // Usage: stackprobe DEPTH drop|encode|print|eq|parse
    let depth: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let what = std::env::args().nth(2).unwrap();
    let mut bytes = vec![131];
    for _ in 0..depth {
        bytes.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    bytes.push(106);
    bytes.extend(std::iter::repeat_n(106, depth));
    let t = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let opts = rotp_etf::DecodeOptions {
                max_depth: usize::MAX,
                ..Default::default()
            };
            let t = rotp_etf::decode_with(&bytes, &opts).unwrap();
            match what.as_str() {
                "encode" => println!("{}", rotp_etf::encode(&t).unwrap().len()),
                "print" => println!("{}", rotp_etf::text::write(&t).len()),
                "eq" => println!("{}", t == t.clone()),
                "parse" => println!(
                    "{}",
                    rotp_etf::text::parse(&rotp_etf::text::write(&t)).is_ok()
                ),
                _ => println!("ok"),
            }
        })
        .unwrap();
    t.join().unwrap();
}
