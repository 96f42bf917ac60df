//! The documentation stays true: every environment variable the code reads is documented.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Names given as `env = "NAME"` in clap attributes (however rustfmt wrapped them).
fn variables_in_code() -> BTreeSet<String> {
    let code = read("src/config.rs");
    code.split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_environment_variable_is_documented_in_configuration_md() {
    let docs = read("docs/CONFIGURATION.md");
    let variables = variables_in_code();
    assert!(variables.len() > 20, "found only {variables:?}");
    let missing: Vec<_> = variables
        .iter()
        .filter(|v| !docs.contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/CONFIGURATION.md lacks {missing:?}"
    );
}

#[test]
fn every_environment_variable_is_listed_in_the_config_module_docs() {
    let code = read("src/config.rs");
    let header: String = code
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<_> = variables_in_code()
        .into_iter()
        .filter(|v| !header.contains(v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the //! table of src/config.rs lacks {missing:?}"
    );
}
