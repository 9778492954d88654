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
