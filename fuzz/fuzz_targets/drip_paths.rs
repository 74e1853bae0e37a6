//! Drip's folder rules fed any text (paths and names come from forms and the API's query):
//! every check is an answer or a typed error, never a panic, and what passes stays within
//! its ancestors.
#![no_main]

use drip::paths;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, name) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = paths::check_name(name);
    if paths::check_path(path).is_ok() {
        for (_, a) in paths::ancestors(path) {
            assert!(paths::is_within(path, &a));
        }
        if paths::check_name(name).is_ok() {
            let full = paths::join(path, name);
            let _ = paths::subfolders(path, [(full.as_str(), 1u64, 1u64), (path, 1, 2)]);
        }
    }
});
