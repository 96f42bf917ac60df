//! The documentation stays true: the settings tables of docs/CONFIGURATION.md and the README
//! say what `kurz --help` says (the same command-line declaration, read in process): every
//! variable, its default, and no variable kurz does not read.

use clap::CommandFactory;
use std::collections::BTreeMap;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Read by kurz but not a flag of its own: the log filter's conventional fallback.
const OTHER_VARIABLES: [&str; 1] = ["RUST_LOG"];

/// Every environment variable of `kurz` (serving), with its default (`None`: unset).
fn declared() -> BTreeMap<String, Option<String>> {
    kurz::cli::Cli::command()
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((name, default))
        })
        .collect()
}

/// The rows of a markdown settings table: (variables, default column).
fn table_rows(markdown: &str) -> Vec<(Vec<String>, String)> {
    markdown
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let (variables, default) = (cells.first()?, cells.get(1)?);
            let names = variables
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| {
                    name.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .map(str::to_owned)
                .collect();
            Some((names, (*default).to_owned()))
        })
        .collect()
}

/// Checks one table: each variable it names is declared, with the default it states.
/// Returns the variables it documents.
fn check_table(path: &str, markdown: &str) -> Vec<String> {
    let declared = declared();
    let mut documented = Vec::new();
    for (names, default) in table_rows(markdown) {
        for name in names {
            if OTHER_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let Some(declared_default) = declared.get(&name) else {
                panic!("{path} documents {name}, which kurz does not read");
            };
            match declared_default {
                Some(value) => assert!(
                    default.contains(&format!("`{value}`")),
                    "{path}: {name} defaults to `{value}`, the table says {default:?}"
                ),
                None => assert!(
                    default.starts_with("unset"),
                    "{path}: {name} has no default, the table says {default:?}"
                ),
            }
            documented.push(name);
        }
    }
    documented
}

#[test]
fn configuration_md_documents_every_variable_with_its_default() {
    let documented = check_table("docs/CONFIGURATION.md", &read("docs/CONFIGURATION.md"));
    let declared = declared();
    assert!(declared.len() > 20, "found only {declared:?}");
    let missing: Vec<_> = declared
        .keys()
        .filter(|name| !documented.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/CONFIGURATION.md lacks {missing:?}"
    );
}

#[test]
fn the_readme_s_settings_are_true() {
    let documented = check_table("README.md", &read("README.md"));
    assert!(documented.len() >= 8, "the README table lost its rows");
}
