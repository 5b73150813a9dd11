//! The workspace's dependency direction (DESIGN.md, "Layout"): `sovereign-linux` and
//! `sovereign-sim` depend on `sovereign-hal`, never on each other, and the core never
//! depends on either.

use std::path::Path;

fn manifest(krate: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(krate)
        .join("Cargo.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn depends_on(krate: &str, dep: &str) -> bool {
    manifest(krate)
        .lines()
        .map(str::trim_start)
        .any(|l| l.starts_with(&format!("{dep} ")) || l.starts_with(&format!("{dep}=")))
}

#[test]
fn linux_and_sim_never_depend_on_each_other() {
    assert!(!depends_on("sovereign-linux", "sovereign-sim"));
    assert!(!depends_on("sovereign-sim", "sovereign-linux"));
}

#[test]
fn the_core_depends_on_neither_binding() {
    assert!(!depends_on("sovereign-hal", "sovereign-linux"));
    assert!(!depends_on("sovereign-hal", "sovereign-sim"));
}

#[test]
fn both_bindings_stand_on_the_core() {
    assert!(depends_on("sovereign-linux", "sovereign-hal"));
    assert!(depends_on("sovereign-sim", "sovereign-hal"));
}
