//! `rotp new APP`: a new Cargo project on rotp, as `mix new --sup` and `mix phx.new` make one.
//!
//! The files are MiniJinja templates under `templates/new/`, built into the binary; each is
//! rendered with the project's name and its flags (`sup`, `node`, `web`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use minijinja::syntax::SyntaxConfig;
use minijinja::{context, Environment, UndefinedBehavior};

/// `rotp new` as typed.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The project's name: its directory, its crate and its node's name (lowercase letters,
    /// digits and underscores, starting with a letter, as `mix new` wants).
    app: String,
    /// An application with a supervision tree (`Application`), as `mix new --sup`.
    #[arg(long)]
    sup: bool,
    /// A distributed node named APP that erl and iex nodes join (`-sname APP`), with a test
    /// that calls it from a real erl node; implies `--sup`.
    #[arg(long)]
    node: bool,
    /// An axum front: a live page showing the counter as it changes, with buttons that call
    /// it; implies `--sup`.
    #[arg(long)]
    web: bool,
    /// Depend on a local rotp checkout at DIR instead of the published `rotp-erlang`.
    #[arg(long, value_name = "DIR")]
    rotp_path: Option<PathBuf>,
}

/// Why a project was not made.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name is not a lowercase identifier.
    #[error("{0:?} is not a valid project name: use lowercase letters, digits and underscores, starting with a letter (it names the crate and the node, as in `mix new`)")]
    BadName(String),
    /// The name is a Rust keyword or a crate the project cannot be named after.
    #[error("{0:?} cannot name the project: {1}")]
    ReservedName(String, &'static str),
    /// The directory is there already.
    #[error("{} already exists: choose another name, or remove it", .0.display())]
    Exists(PathBuf),
    /// `--rotp-path` is not a rotp checkout.
    #[error("{} is not a rotp checkout (no crates/rotp/Cargo.toml in it)", .0.display())]
    NotACheckout(PathBuf),
    /// A path that a Cargo.toml cannot hold as a TOML string.
    #[error("the path {} is not valid UTF-8 text", .0.display())]
    BadPath(PathBuf),
    /// A template did not render (a bug in rotp's templates).
    #[error("the template {0} did not render: {1}")]
    Template(&'static str, minijinja::Error),
    /// Writing the project failed.
    #[error("cannot write {path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, std::io::Error),
}

/// A template and where its rendering goes in the project.
struct File {
    path: &'static str,
    source: &'static str,
    when: fn(&Flags) -> bool,
    executable: bool,
}

#[derive(Clone, Copy)]
struct Flags {
    sup: bool,
    node: bool,
    web: bool,
}

macro_rules! template {
    ($path:literal, $file:literal, $when:expr) => {
        File {
            path: $path,
            source: include_str!(concat!("../templates/new/", $file)),
            when: $when,
            executable: false,
        }
    };
}

const FILES: &[File] = &[
    template!("Cargo.toml", "Cargo.toml.j2", |_| true),
    template!("README.md", "README.md.j2", |_| true),
    template!(".gitignore", "gitignore.j2", |_| true),
    File {
        executable: true,
        ..template!("ci", "ci.j2", |_| true)
    },
    template!(".github/workflows/ci.yml", "ci.yml.j2", |_| true),
    template!("src/lib.rs", "lib.rs.j2", |_| true),
    template!("src/main.rs", "main.rs.j2", |_| true),
    template!("src/web.rs", "web.rs.j2", |f| f.web),
    template!("src/index.html", "index.html.j2", |f| f.web),
    template!("tests/support/mod.rs", "support.rs.j2", |f| f.node || f.web),
    template!("tests/node.rs", "node_test.rs.j2", |f| f.node),
    template!("tests/web.rs", "web_test.rs.j2", |f| f.web),
];

/// Names a crate cannot take (Rust's keywords, the standard crates) or that would clash with
/// what the project uses.
const RESERVED: &[(&str, &str)] = &[
    ("rotp", "the project depends on the library `rotp`"),
    ("axum", "a --web project depends on the crate `axum`"),
    (
        "tungstenite",
        "a --web project's tests use the crate `tungstenite`",
    ),
    ("std", "it is a standard crate"),
    ("core", "it is a standard crate"),
    ("alloc", "it is a standard crate"),
    ("proc_macro", "it is a standard crate"),
    ("test", "it is a standard crate"),
];

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Checks that `name` can name the crate (a Rust identifier that is not a keyword), the node
/// (`-sname NAME`) and an unquoted Erlang atom: `[a-z][a-z0-9_]*`, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), NewError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > 64 {
        return Err(NewError::BadName(name.to_owned()));
    }
    if KEYWORDS.contains(&name) {
        return Err(NewError::ReservedName(
            name.to_owned(),
            "it is a Rust keyword",
        ));
    }
    if let Some((_, why)) = RESERVED.iter().find(|(n, _)| *n == name) {
        return Err(NewError::ReservedName(name.to_owned(), why));
    }
    Ok(())
}

/// `rotp new`: makes the project in `./APP` and says what to do next.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    let dir = PathBuf::from(&args.app);
    let flags = Flags {
        sup: args.sup || args.node || args.web,
        node: args.node,
        web: args.web,
    };
    generate(&args.app, &dir, flags, args.rotp_path.as_deref())?;
    format_sources(&dir, flags);
    println!("* created {}", dir.display());
    println!(
        "\nYour project is ready:\n\n    cd {}\n    cargo run\n    cargo test",
        args.app
    );
    if flags.node {
        println!("\nWhile it runs, erl and iex nodes call it: README.md says how.");
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(app: &str, dir: &Path, flags: Flags, rotp_path: Option<&Path>) -> Result<(), NewError> {
    check_name(app)?;
    if dir.symlink_metadata().is_ok() {
        return Err(NewError::Exists(dir.to_owned()));
    }
    let rotp = rotp_dependency(rotp_path)?;
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| NewError::Template("(syntax)", e))?,
    );
    let ctx = context! {
        app => app,
        sup => flags.sup,
        node => flags.node,
        web => flags.web,
        rotp => rotp,
        rotp_version => env!("CARGO_PKG_VERSION"),
    };
    let mut rendered = Vec::new();
    for file in FILES.iter().filter(|f| (f.when)(&flags)) {
        let text = env
            .render_named_str(file.path, file.source, ctx.clone())
            .map_err(|e| NewError::Template(file.path, e))?;
        rendered.push((file, text));
    }
    // Made only once everything rendered: a failure leaves no half project behind.
    std::fs::create_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => NewError::Exists(dir.to_owned()),
        _ => NewError::Io(dir.to_owned(), e),
    })?;
    for (file, text) in rendered {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| NewError::Io(parent.to_owned(), e))?;
        }
        std::fs::write(&path, text).map_err(|e| NewError::Io(path.clone(), e))?;
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| NewError::Io(path.clone(), e))?;
        }
    }
    Ok(())
}

/// The templates are laid out as rustfmt lays them out, but a long name can move a line
/// break: rustfmt, when it is installed (it comes with rustup's toolchains), settles that, so
/// the project passes its own `cargo fmt --check`. Without it the code is as rendered.
fn format_sources(dir: &Path, flags: Flags) {
    let sources: Vec<PathBuf> = FILES
        .iter()
        .filter(|f| (f.when)(&flags) && f.path.ends_with(".rs"))
        .map(|f| dir.join(f.path))
        .collect();
    let formatted = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&sources)
        .status();
    if let Ok(status) = formatted {
        if !status.success() {
            eprintln!("rotp new: rustfmt did not format the sources ({status})");
        }
    }
}

/// The `rotp-erlang = …` value: the published version this CLI belongs to (`"0.1"`), or the
/// checkout at `--rotp-path`, made absolute so the project builds wherever it is moved.
fn rotp_dependency(rotp_path: Option<&Path>) -> Result<String, NewError> {
    let Some(dir) = rotp_path else {
        let mut version = env!("CARGO_PKG_VERSION").split('.');
        let major = version.next().unwrap_or("0");
        let minor = version.next().unwrap_or("1");
        return Ok(format!("\"{major}.{minor}\""));
    };
    let facade = dir.join("crates/rotp");
    if !facade.join("Cargo.toml").is_file() {
        return Err(NewError::NotACheckout(dir.to_owned()));
    }
    let facade = facade
        .canonicalize()
        .map_err(|e| NewError::Io(facade.clone(), e))?;
    let text = facade
        .to_str()
        .filter(|t| !t.chars().any(char::is_control))
        .ok_or_else(|| NewError::BadPath(facade.clone()))?;
    Ok(format!(
        "{{ path = \"{}\" }}",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_mix_takes_them() {
        for good in ["demo", "my_app", "a1", "counter_app", "counter"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Demo", "1app", "_app", "my-app", "my app", "app.x", "é"] {
            assert!(
                matches!(check_name(bad), Err(NewError::BadName(_))),
                "{bad:?}"
            );
        }
        for reserved in ["fn", "self", "rotp", "std", "test"] {
            assert!(
                matches!(check_name(reserved), Err(NewError::ReservedName(..))),
                "{reserved}"
            );
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn the_published_dependency_is_this_version() {
        let published = rotp_dependency(None).expect("published");
        let mut version = env!("CARGO_PKG_VERSION").split('.');
        let want = format!(
            "\"{}.{}\"",
            version.next().unwrap(),
            version.next().unwrap()
        );
        assert_eq!(published, want);
    }
}
