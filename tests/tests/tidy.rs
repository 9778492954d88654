//! Tidy checks, in the spirit of rust-analyzer's: the docs cannot drift from the code without a
//! test failing, and the module graph stays a hierarchy.
//!
//! - Every module of `apps/server/src` is on the code map in `docs/architecture.md`, by its path
//!   (`http/csrf.rs`, `routes/`), and every top-level module of each library crate is named in
//!   that crate's paragraph.
//! - Every subcommand of the built `server` binary is in the README's command list and has its
//!   `cli/` module on the code map.
//! - No two modules import each other, directly or round a longer loop: among the top-level
//!   modules of each crate, and among the sibling modules of each folder of `apps/server/src`.
//! - Raw diesel lives in `apps/server/src/db/` only: no other module of the app names the
//!   `diesel` crate, so every query goes through a repository function.
//!
//! Each check is also run against a made-up tree it must fault, so it cannot pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, as paths relative to it with `/` separators, sorted.
fn rust_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                found.push(rel);
            }
        }
    }
    found.sort();
    found
}

/// Files that hold only tests of the module beside them (`tests.rs`, `tests/…`).
fn is_test_file(rel: &str) -> bool {
    rel.ends_with("/tests.rs") || rel == "tests.rs" || rel.contains("/tests/")
}

/// How a module is named on the code map: `http/csrf.rs` for a file, `http/` for a folder
/// module; `None` for the crate roots.
fn map_name(rel: &str) -> Option<String> {
    if rel == "lib.rs" || rel == "main.rs" || is_test_file(rel) {
        return None;
    }
    Some(rel.strip_suffix("mod.rs").map_or_else(|| rel.to_owned(), str::to_owned))
}

/// The app's modules the code map does not name, in backticks.
fn unmapped_app_modules(src: &Path, map: &str) -> Vec<String> {
    rust_files(src)
        .iter()
        .filter_map(|rel| map_name(rel))
        .filter(|name| !map.contains(&format!("`{name}`")))
        .collect()
}

/// The paragraph of `crate_dir` on the code map: from its bold name to the next bold name.
fn crate_paragraph<'a>(map: &'a str, crate_dir: &str) -> &'a str {
    let marker = format!("**`{crate_dir}`**");
    let start = map.find(&marker).unwrap_or_else(|| panic!("{crate_dir} has no paragraph"));
    let rest = &map[start + marker.len()..];
    &rest[..rest.find("\n**`").unwrap_or(rest.len())]
}

/// Top-level modules of a library crate its paragraph does not name (`name.rs` or `name/`).
fn unmapped_crate_modules(src: &Path, paragraph: &str) -> Vec<String> {
    top_level_modules(src)
        .into_keys()
        .filter(|m| {
            !paragraph.contains(&format!("`{m}.rs`")) && !paragraph.contains(&format!("`{m}/`"))
        })
        .collect()
}

#[test]
fn every_module_is_on_the_code_map() {
    let root = root();
    let map = read(&root.join("docs/architecture.md"));
    let missing = unmapped_app_modules(&root.join("apps/server/src"), &map);
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name these modules of apps/server/src (add a row to \
         its table): {missing:?}"
    );
    for krate in ["sec-core", "sec-config", "sec-auth", "sec-audit"] {
        let dir = format!("crates/{krate}");
        let missing =
            unmapped_crate_modules(&root.join(&dir).join("src"), crate_paragraph(&map, &dir));
        assert!(
            missing.is_empty(),
            "the paragraph of {dir} in docs/architecture.md does not name these modules: \
             {missing:?}"
        );
    }
}

#[test]
fn the_code_map_check_sees_a_module_it_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("http")).unwrap();
    for file in ["lib.rs", "http/mod.rs", "http/csrf.rs", "http/new.rs", "http/tests.rs"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let map = "| `http/` | layers |\n| `http/csrf.rs` | CSRF |";
    assert_eq!(unmapped_app_modules(dir.path(), map), ["http/new.rs"]);
    let paragraph = "**`crates/x`** has `csrf.rs`";
    assert_eq!(unmapped_crate_modules(&dir.path().join("http"), paragraph), ["new"]);
}

/// `server help`'s subcommands (the `Commands:` list of clap's help), `help` itself left out.
fn subcommands(args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(e2e::server_bin())
        .args(args)
        .arg("--help")
        .output()
        .expect("run server --help");
    assert!(out.status.success(), "server {args:?} --help failed");
    let help = String::from_utf8(out.stdout).unwrap();
    let Some(list) = help.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        // A name starts a line two spaces in; wrapped descriptions are indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The README's command list: the text block under "## The `server` command".
fn readme_command_list(readme: &str) -> &str {
    let section = readme.split("## The `server` command").nth(1).expect("the command section");
    let block = section.split("```text\n").nth(1).expect("its text block");
    block.split("```").next().unwrap()
}

/// Whether `list` has a line for `server {command} {sub}`, literally or as `a|b|c`.
fn lists(list: &str, command: &str, sub: Option<&str>) -> bool {
    list.lines().any(|line| {
        // Optional parts in brackets count as words; flags and placeholders (`DIR`) do not.
        let mut words =
            line.split_whitespace().map(|w| w.trim_matches(|c| c == '[' || c == ']')).filter(|w| {
                !w.starts_with('-') && !w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
        if words.next() != Some("server") {
            return false;
        }
        let Some(first) = words.next() else { return false };
        match sub {
            None => first == command,
            // `init|edit|show|set KEY|get KEY|rotate`: any of the alternatives.
            Some(sub) => first == command && words.flat_map(|w| w.split('|')).any(|s| s == sub),
        }
    })
}

#[test]
fn every_subcommand_is_in_the_readme_and_has_its_module_on_the_code_map() {
    let root = root();
    let readme = read(&root.join("README.md"));
    let list = readme_command_list(&readme);
    let map = read(&root.join("docs/architecture.md"));
    let commands = subcommands(&[]);
    assert!(commands.len() >= 5, "the help parse found the subcommands: {commands:?}");
    let mut missing = Vec::new();
    for command in &commands {
        if !lists(list, command, None) {
            missing.push(format!("README: server {command}"));
        }
        let module = format!("`cli/{}.rs`", command.replace('-', "_"));
        if !map.contains(&module) {
            missing.push(format!("docs/architecture.md: {module}"));
        }
        for sub in subcommands(&[command]) {
            if !lists(list, command, Some(&sub)) {
                missing.push(format!("README: server {command} {sub}"));
            }
        }
    }
    assert!(missing.is_empty(), "subcommands the docs do not mention: {missing:#?}");
}

#[test]
fn the_command_list_check_sees_a_missing_subcommand() {
    let list = "server [--config-dir DIR] [serve]   run\nserver mfa keygen|reseal   keys\n";
    assert!(lists(list, "serve", None));
    assert!(lists(list, "mfa", Some("reseal")));
    assert!(!lists(list, "openapi", None));
    assert!(!lists(list, "mfa", Some("rotate")));
    let secrets = "server secrets init|edit|set KEY|get KEY|rotate\n";
    assert!(lists(secrets, "secrets", Some("get")) && lists(secrets, "secrets", Some("rotate")));
    assert!(!lists(secrets, "secrets", Some("show")));
}

/// A crate's or folder's child modules: `name` → the files that make it up.
fn top_level_modules(dir: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for rel in rust_files(dir) {
        let first = rel.split('/').next().unwrap();
        let name = first.strip_suffix(".rs").unwrap_or(first);
        if matches!(name, "lib" | "main" | "mod" | "tests") {
            continue;
        }
        modules.entry(name.to_owned()).or_default().push(dir.join(&rel));
    }
    modules
}

/// The code of a file without its comments (`//` to the end of a line), so that a doc link
/// is not an import.
fn code_of(path: &Path) -> String {
    read(path)
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which sibling modules each child module of `dir` names, through `prefix` (`crate::` for a
/// crate's top level, `crate::http::` for a folder) or `super::` from a file directly in it.
fn module_edges(dir: &Path, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules(dir);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, files) in &modules {
        let targets = edges.entry(name.clone()).or_default();
        // Tests may use any module of their crate (a test double beside the code it drives).
        let code_files = files.iter().filter(|f| {
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
            !is_test_file(&rel)
        });
        for file in code_files {
            let code = code_of(file);
            let direct = file.parent() == Some(dir);
            let mut prefixes = vec![prefix.to_owned()];
            if direct {
                prefixes.push("super::".to_owned());
            }
            for p in &prefixes {
                for (i, _) in code.match_indices(p.as_str()) {
                    // `crate::{a, b}` names several at once.
                    let after = &code[i + p.len()..];
                    let names: Vec<&str> = if let Some(group) = after.strip_prefix('{') {
                        group
                            .split('}')
                            .next()
                            .unwrap_or_default()
                            .split(',')
                            .map(|s| s.trim().split("::").next().unwrap_or_default().trim())
                            .collect()
                    } else {
                        vec![
                            after
                                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                                .next()
                                .unwrap_or_default(),
                        ]
                    };
                    for target in names {
                        if target != name && modules.contains_key(target) {
                            targets.insert(target.to_owned());
                        }
                    }
                }
            }
        }
    }
    edges
}

/// Every loop in a module graph, each once, as `a -> b -> a`.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut lp: Vec<String> = path[at..].to_vec();
            // The same loop found from another start is one finding.
            let min = lp.iter().enumerate().min_by_key(|(_, n)| n.as_str()).map_or(0, |(i, _)| i);
            lp.rotate_left(min);
            lp.push(lp[0].clone());
            found.insert(lp.join(" -> "));
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, found);
        }
        path.pop();
    }
    let mut found = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn no_two_modules_import_each_other() {
    let root = root();
    let mut found = Vec::new();
    for krate in [
        "crates/sec-core",
        "crates/sec-config",
        "crates/sec-auth",
        "crates/sec-audit",
        "apps/server",
    ] {
        let src = root.join(krate).join("src");
        for c in cycles(&module_edges(&src, "crate::")) {
            found.push(format!("{krate}: {c}"));
        }
    }
    let app = root.join("apps/server/src");
    for (folder, _) in top_level_modules(&app) {
        let dir = app.join(&folder);
        if dir.is_dir() {
            for c in cycles(&module_edges(&dir, &format!("crate::{folder}::"))) {
                found.push(format!("apps/server/src/{folder}: {c}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other (move what both need into a lower module):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("web")).unwrap();
    std::fs::write(dir.path().join("lib.rs"), "mod a; mod b; mod c; mod web;").unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::Thing;").unwrap();
    std::fs::write(dir.path().join("b.rs"), "use crate::{c::More, web};").unwrap();
    std::fs::write(dir.path().join("c.rs"), "// crate::a in a comment is no import\n").unwrap();
    std::fs::write(dir.path().join("web/mod.rs"), "pub mod x;").unwrap();
    std::fs::write(dir.path().join("web/x.rs"), "fn f() { crate::a::g() }").unwrap();
    let found = cycles(&module_edges(dir.path(), "crate::"));
    assert_eq!(found, ["a -> b -> web -> a"]);
}

/// Whether a line of code names the `diesel` crate: a `diesel::` path or `use diesel`.
fn names_diesel(code: &str) -> bool {
    code.match_indices("diesel").any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = &code[i + "diesel".len()..];
        let word_starts = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let word_ends = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        word_starts
            && word_ends
            && (after.starts_with("::") || code[..i].trim_end().ends_with("use"))
    })
}

/// The places (`file:line`) of the `.rs` files under `src` that `file` admits where a line of
/// code (comments left out) satisfies `hit`.
fn code_lines_where(
    src: &Path,
    file: impl Fn(&str) -> bool,
    hit: impl Fn(&str) -> bool,
) -> Vec<String> {
    rust_files(src)
        .into_iter()
        .filter(|rel| file(rel))
        .flat_map(|rel| {
            code_of(&src.join(&rel))
                .lines()
                .enumerate()
                .filter(|(_, line)| hit(line))
                .map(|(i, _)| format!("{rel}:{}", i + 1))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The places (`file:line`) of `src` outside `db/` that name diesel, comments left out.
fn diesel_outside_db(src: &Path) -> Vec<String> {
    code_lines_where(src, |rel| !rel.starts_with("db/"), names_diesel)
}

#[test]
fn raw_diesel_lives_in_db_only() {
    let found = diesel_outside_db(&root().join("apps/server/src"));
    assert!(
        found.is_empty(),
        "diesel used outside apps/server/src/db/ (move the query into a repository function \
         there and call it): {found:?}"
    );
}

#[test]
fn the_diesel_check_sees_a_query_outside_db() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["db", "cli"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("db/users.rs"), "use diesel::prelude::*;").unwrap();
    std::fs::write(
        dir.path().join("cli/mfa.rs"),
        "// diesel::update in a comment is no query\nlet n = diesel::update(t).execute(c)?;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("cli/mod.rs"), "use diesel;\nuse dieselish::X;\n").unwrap();
    std::fs::write(dir.path().join("lib.rs"), "use crate::db::diesel_free;\n").unwrap();
    assert_eq!(diesel_outside_db(dir.path()), ["cli/mfa.rs:2", "cli/mod.rs:1"]);
}

/// The places (`file:line`) of `src` that start threads or blocking tasks, comments left out,
/// other than the two modules that own them: `blocking.rs` (tokio's blocking pool) and
/// `db/executor.rs` (the database threads).
fn thread_handoffs_outside_their_modules(src: &Path) -> Vec<String> {
    const OWNERS: [&str; 2] = ["blocking.rs", "db/executor.rs"];
    const HANDOFFS: [&str; 5] =
        ["spawn_blocking", "block_in_place", "thread::spawn", "thread::Builder", "web::block"];
    code_lines_where(
        src,
        |rel| !OWNERS.contains(&rel),
        |line| HANDOFFS.iter().any(|h| line.contains(h)),
    )
}

#[test]
fn blocking_work_moves_off_the_workers_in_one_of_two_places() {
    // Each hand-off carries the caller's tracing span and maps a failed task to an error; a
    // `spawn_blocking` elsewhere would do neither (docs/architecture.md, "Blocking work").
    let found = thread_handoffs_outside_their_modules(&root().join("apps/server/src"));
    assert!(
        found.is_empty(),
        "blocking work handed off outside blocking.rs and db/executor.rs (call \
         crate::blocking::run or Db::run/Db::execute): {found:?}"
    );
}

#[test]
fn the_handoff_check_sees_a_spawn_blocking_outside_its_module() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(dir.path().join("blocking.rs"), "tokio::task::spawn_blocking(f)").unwrap();
    std::fs::write(dir.path().join("db/executor.rs"), "std::thread::spawn(f)").unwrap();
    std::fs::write(
        dir.path().join("db/users.rs"),
        "// spawn_blocking in a comment is none\nlet r = actix_web::web::block(f).await;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("routes.rs"), "tokio::task::spawn_blocking(f);").unwrap();
    assert_eq!(thread_handoffs_outside_their_modules(dir.path()), ["db/users.rs:2", "routes.rs:1"]);
}

/// What the folders of `apps/server/src` may not import: `http/` knows no route, account or
/// table; `db/` knows no HTTP, route or account (docs/architecture.md).
const LAYER_RULES: &[(&str, &[&str])] = &[
    ("http/", &["crate::routes", "crate::auth", "crate::db::schema", "crate::cli"]),
    ("db/", &["crate::http", "crate::routes", "crate::auth", "crate::cli"]),
];

/// Imports that break [`LAYER_RULES`], as `file: forbidden path`.
fn layer_violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for rel in rust_files(src) {
        for (folder, forbidden) in LAYER_RULES {
            if !rel.starts_with(folder) || is_test_file(&rel) {
                continue;
            }
            let code = code_of(&src.join(&rel));
            for path in forbidden.iter().filter(|p| code.contains(*p)) {
                found.push(format!("{rel}: {path}"));
            }
        }
    }
    found
}

#[test]
fn the_http_and_db_layers_import_nothing_above_them() {
    let found = layer_violations(&root().join("apps/server/src"));
    assert!(found.is_empty(), "a lower layer imports a higher one: {found:#?}");
}

#[test]
fn the_layer_check_sees_an_import_from_above() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("http")).unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(dir.path().join("http/csrf.rs"), "use crate::auth::Session;").unwrap();
    std::fs::write(
        dir.path().join("db/users.rs"),
        "// crate::http in a comment\nuse super::schema;",
    )
    .unwrap();
    assert_eq!(layer_violations(dir.path()), ["http/csrf.rs: crate::auth"]);
}
