//! Dependency-direction invariants of the workspace (docs/architecture.md), checked from
//! `cargo metadata` so that a change to any `Cargo.toml` that breaks them fails the build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Crates only the application (and tests) may use: the web framework, the ORM, the CLI
/// parser and the catch-all error type.
const APP_ONLY: &[&str] = &["actix-web", "diesel", "clap", "anyhow"];
const LIBRARIES: &[&str] = &["sec-core", "sec-config", "sec-auth", "sec-audit"];

struct Graph {
    /// Package id -> name.
    names: BTreeMap<String, String>,
    /// Package id -> ids of its normal (non-dev) dependencies.
    deps: BTreeMap<String, Vec<String>>,
    /// Package ids of workspace members.
    members: Vec<String>,
    packages: Vec<Value>,
}

fn graph() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();

    let packages = meta["packages"].as_array().unwrap().clone();
    let names = packages
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let mut deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let normal: Vec<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        deps.insert(node["id"].as_str().unwrap().to_owned(), normal);
    }
    let members = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    Graph { names, deps, members, packages }
}

impl Graph {
    fn id_of(&self, name: &str) -> &str {
        self.members
            .iter()
            .find(|id| self.names[*id] == name)
            .unwrap_or_else(|| panic!("{name} is not a workspace member"))
    }

    fn direct(&self, name: &str) -> BTreeSet<&str> {
        self.deps[self.id_of(name)].iter().map(|id| self.names[id].as_str()).collect()
    }

    /// Every crate reachable through normal dependencies.
    fn transitive(&self, name: &str) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![self.id_of(name).to_owned()];
        while let Some(id) = stack.pop() {
            for dep in &self.deps[&id] {
                if seen.insert(self.names[dep].as_str()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn no_library_crate_reaches_the_web_framework_orm_cli_or_anyhow() {
    let g = graph();
    for lib in LIBRARIES {
        let reach = g.transitive(lib);
        for banned in APP_ONLY {
            assert!(!reach.contains(banned), "{lib} depends (perhaps indirectly) on {banned}");
        }
    }
}

#[test]
fn sec_core_depends_on_no_other_sec_crate_and_sec_audit_is_a_leaf() {
    let g = graph();
    for lib in ["sec-core", "sec-audit"] {
        let internal: Vec<&str> =
            g.direct(lib).into_iter().filter(|d| d.starts_with("sec-")).collect();
        assert!(internal.is_empty(), "{lib} depends on {internal:?}");
    }
}

#[test]
fn internal_crates_are_unpublished_and_use_the_workspace_lints() {
    let g = graph();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for p in g.packages.iter().filter(|p| g.members.contains(&p["id"].as_str().unwrap().to_owned()))
    {
        let name = p["name"].as_str().unwrap();
        assert_eq!(p["publish"], serde_json::json!([]), "{name} must be publish = false");
        let manifest = std::fs::read_to_string(p["manifest_path"].as_str().unwrap()).unwrap();
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{name} must inherit the workspace lints"
        );
    }
    assert!(root.join("Cargo.toml").is_file());
}

#[test]
fn the_check_itself_sees_a_violation() {
    // Guards against a vacuous pass (e.g. the dependency kinds being misread): the app does
    // depend on every app-only crate, so the same reachability must find them there.
    let g = graph();
    let reach = g.transitive("server");
    for banned in APP_ONLY {
        assert!(reach.contains(banned), "server should reach {banned}");
    }
}

/// Ways actix-web registers a route or service; only `routes/mod.rs` (the access table) and
/// `startup.rs` (the not-found fallback) may use them, so every route has a declared access.
const ROUTE_REGISTRATION: &[&str] = &[
    ".route(",
    "web::resource(",
    ".service(",
    "web::scope(",
    "#[get(",
    "#[post(",
    "#[put(",
    "#[delete(",
    "#[patch(",
    "#[route(",
];

fn route_registrations_outside_the_table(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
            if path.extension().is_none_or(|e| e != "rs") || rel == "routes/mod.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if ROUTE_REGISTRATION.iter().any(|p| code.contains(p)) {
                    found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn routes_are_registered_only_in_the_access_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/server/src");
    let found = route_registrations_outside_the_table(&src);
    assert!(
        found.is_empty(),
        "register routes in apps/server/src/routes/mod.rs `endpoints()` with their access \
         rule, not here:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_route_scan_sees_a_stray_route() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("routes")).unwrap();
    std::fs::write(dir.path().join("routes/mod.rs"), "cfg.route(\"/ok\", web::get());").unwrap();
    std::fs::write(dir.path().join("extra.rs"), "cfg.route(\"/sneaky\", web::get());").unwrap();
    let found = route_registrations_outside_the_table(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("extra.rs:1"));
}
