//! The book's virtual folders: every file has a full path under the root `$` (`$`, `$/a`,
//! `$/a/b`), a path has no trailing `/` and no empty segment, and a name holds no `/`
//! (ElixirDrip's `Storage.Media` validations). Ours also refuses `.` and `..` segments and
//! control characters, so no path can climb or hide.
//!
//! A folder lists the files directly in it and the folders below it, each with its number of
//! files and total size, counting everything under it. The book matched folders by string
//! prefix, so `$/abc` listed `$/abcdef`'s files; here a folder holds exactly the paths equal
//! to it or starting with it followed by `/`.

use std::collections::BTreeMap;

use thiserror::Error;

/// The root folder.
pub const ROOT: &str = "$";
/// Longest path accepted, in characters.
pub const MAX_PATH: usize = 1024;
/// Longest file name accepted, in characters.
pub const MAX_NAME: usize = 255;

/// A name (of a file, or of a folder in a path) as a regular expression's alternatives: no
/// `/`, no control characters, not `.` or `..`.
macro_rules! segment {
    () => {
        r"(?:[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|\.[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|\.\.[^/\x00-\x1f\x7f-\x9f]+)"
    };
}

/// What a folder path is, as the API's OpenAPI document states it (with at most
/// [`MAX_PATH`] characters): [`check_path`] accepts exactly these.
pub const PATH: &str = concat!(r"^\$(?:/", segment!(), r")*$");
/// What a file name is (with 1 to [`MAX_NAME`] characters): [`check_name`] accepts exactly
/// these.
pub const NAME: &str = concat!("^", segment!(), "$");

/// Why a path or a name is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    /// Not under the root `$`.
    #[error("a path starts at the root, $ (as in $/photos)")]
    NotRooted,
    /// A trailing `/`, or `//`.
    #[error("a path has no empty folder names and no trailing /")]
    EmptySegment,
    /// `.` or `..`.
    #[error("a path has no . or .. folders")]
    DotSegment,
    /// A control character.
    #[error("a path or name has no control characters")]
    Control,
    /// Too long.
    #[error("a path is at most {MAX_PATH} bytes and a name at most {MAX_NAME}")]
    TooLong,
    /// An empty name, or one with a `/`.
    #[error("a file name is not empty and has no /")]
    BadName,
}

/// Checks a folder path: `$` or `$/seg/seg…`.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.chars().count() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::Control);
    }
    let Some(rest) = path.strip_prefix(ROOT) else {
        return Err(PathError::NotRooted);
    };
    if rest.is_empty() {
        return Ok(());
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Err(PathError::NotRooted);
    };
    for segment in rest.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a file name: not empty, no `/`, not `.` or `..`, no control characters.
pub fn check_name(name: &str) -> Result<(), PathError> {
    if name.chars().count() > MAX_NAME {
        return Err(PathError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(PathError::Control);
    }
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(PathError::BadName);
    }
    Ok(())
}

/// The full path of `name` in `folder`.
pub fn join(folder: &str, name: &str) -> String {
    format!("{folder}/{name}")
}

/// Whether `path` is `folder` or below it (not merely sharing a prefix).
pub fn is_within(path: &str, folder: &str) -> bool {
    path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The folders from the root down to `path`, each with its own name: `$/a/b` gives
/// `[("$", "$"), ("a", "$/a"), ("b", "$/a/b")]` (for breadcrumbs).
pub fn ancestors(path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = String::new();
    for segment in path.split('/') {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(segment);
        out.push((segment.to_owned(), at.clone()));
    }
    out
}

/// A folder below the one listed: its name, how many files it holds (at any depth) and their
/// total size.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Folder {
    /// Its name (one segment).
    pub name: String,
    /// Files under it.
    pub files: u64,
    /// Their bytes.
    pub size: u64,
}

/// The folders directly below `folder`, from `(path, files, size)`: folder paths with the
/// number of files directly in each and their total size (a file alone is `(its path, 1, its
/// size)`; the store sums them by path), sorted by name.
pub fn subfolders<'a>(
    folder: &str,
    paths: impl IntoIterator<Item = (&'a str, u64, u64)>,
) -> Vec<Folder> {
    let mut by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (path, files, size) in paths {
        let Some(rest) = path.strip_prefix(folder).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let name = rest.split('/').next().unwrap_or(rest);
        let entry = by.entry(name).or_default();
        entry.0 += files;
        entry.1 += size;
    }
    by.into_iter()
        .map(|(name, (files, size))| Folder {
            name: name.to_owned(),
            files,
            size,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The regular expressions the OpenAPI document states are the rules themselves.
        #[test]
        fn the_stated_rules_are_the_checked_ones(s in "[$/.a\\x00\\x9f\u{e9}]{0,12}") {
            let path = regex::Regex::new(PATH).expect("compiles");
            let name = regex::Regex::new(NAME).expect("compiles");
            prop_assert_eq!(check_path(&s).is_ok(), path.is_match(&s), "{:?}", s);
            prop_assert_eq!(check_name(&s).is_ok(), name.is_match(&s), "{:?}", s);
        }
    }

    #[test]
    fn the_books_rules_and_ours() {
        assert_eq!(check_path("$"), Ok(()));
        assert_eq!(check_path("$/a/b c"), Ok(()));
        assert_eq!(check_path("$/a/"), Err(PathError::EmptySegment));
        assert_eq!(check_path("$//a"), Err(PathError::EmptySegment));
        assert_eq!(check_path("/a"), Err(PathError::NotRooted));
        assert_eq!(check_path("$a"), Err(PathError::NotRooted));
        assert_eq!(check_path("$/a/../b"), Err(PathError::DotSegment));
        assert_eq!(check_path("$/a\n"), Err(PathError::Control));
        assert_eq!(check_name("x.bin"), Ok(()));
        assert_eq!(check_name("a/b"), Err(PathError::BadName));
        assert_eq!(check_name(".."), Err(PathError::BadName));
        assert_eq!(check_name(""), Err(PathError::BadName));
    }

    #[test]
    fn a_folder_is_not_a_prefix() {
        assert!(is_within("$/abc", "$/abc"));
        assert!(is_within("$/abc/d", "$/abc"));
        assert!(!is_within("$/abcdef", "$/abc"));
        assert!(is_within("$/a", "$"));
        let files = [
            ("$/abc", 1, 1),
            ("$/abcdef", 1, 2),
            ("$/abc/x", 1, 4),
            ("$", 1, 8),
        ];
        assert_eq!(
            subfolders("$", files),
            vec![
                Folder {
                    name: "abc".into(),
                    files: 2,
                    size: 5
                },
                Folder {
                    name: "abcdef".into(),
                    files: 1,
                    size: 2
                },
            ]
        );
        assert_eq!(
            subfolders("$/abc", files),
            vec![Folder {
                name: "x".into(),
                files: 1,
                size: 4
            }]
        );
        assert_eq!(
            ancestors("$/a/b"),
            vec![
                ("$".into(), "$".into()),
                ("a".into(), "$/a".into()),
                ("b".into(), "$/a/b".into())
            ]
        );
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _.-]{1,8}".prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(segment(), 0..5).prop_map(|segs| {
            std::iter::once(ROOT.to_owned())
                .chain(segs)
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    proptest! {
        #[test]
        fn built_paths_are_valid_and_checks_never_panic(p in path(), junk in "\\PC{0,40}") {
            prop_assert_eq!(check_path(&p), Ok(()));
            let _ = check_path(&junk);
            let _ = check_name(&junk);
            // A valid path is within each of its ancestors, and each ancestor is valid.
            for (_, a) in ancestors(&p) {
                prop_assert!(is_within(&p, &a));
                prop_assert_eq!(check_path(&a), Ok(()));
            }
        }

        #[test]
        fn listing_counts_every_file_below_once(
            files in proptest::collection::vec((path(), 0u64..1000), 0..30),
            folder in path(),
        ) {
            let listed = subfolders(&folder, files.iter().map(|(p, s)| (p.as_str(), 1, *s)));
            let below: Vec<_> = files.iter().filter(|(p, _)| p != &folder && is_within(p, &folder)).collect();
            prop_assert_eq!(listed.iter().map(|f| f.files).sum::<u64>(), below.len() as u64);
            prop_assert_eq!(listed.iter().map(|f| f.size).sum::<u64>(), below.iter().map(|(_, s)| s).sum::<u64>());
            for f in &listed {
                prop_assert_eq!(check_path(&join(&folder, &f.name)), Ok(()));
            }
        }
    }
}
