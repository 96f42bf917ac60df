//! The documentation stays true: the settings tables of docs/CONFIGURATION.md and the README
//! say what `kurz --help` says (the same command-line declaration, read in process): every
//! variable, its default, and no variable kurz does not read. The metrics reference of
//! docs/RUNBOOK.md says what kurz's catalogue of metrics says, and the alert rules, the
//! dashboard and the documents name no metric kurz does not record.

use clap::CommandFactory;
use kurz::telemetry::catalogue::METRICS;
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

/// The row of docs/RUNBOOK.md's metrics table for a metric, as the catalogue describes it.
fn runbook_row(metric: &kurz::telemetry::catalogue::Metric) -> String {
    let labels = if metric.labels.is_empty() {
        "—".to_owned()
    } else {
        metric
            .labels
            .iter()
            .map(|label| format!("`{label}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "| `{}` | {} | {labels} | {} |",
        metric.name,
        metric.kind.as_str(),
        metric.help
    )
}

#[test]
fn the_runbook_lists_every_metric_as_kurz_describes_it() {
    let runbook = read("docs/RUNBOOK.md");
    let documented: Vec<&str> = runbook
        .lines()
        .filter(|line| line.starts_with("| `kurz_"))
        .collect();
    let described: Vec<String> = METRICS.iter().map(runbook_row).collect();
    assert!(described.len() > 40, "the catalogue lost its metrics");
    assert_eq!(
        documented, described,
        "docs/RUNBOOK.md's table differs from src/telemetry/catalogue.rs"
    );
}

/// Names in the documents that look like metrics and are not: the web UI's cookies.
const NOT_METRICS: [&str; 2] = ["kurz_csrf", "kurz_session"];

/// Every `kurz_…` name in `text`.
fn kurz_names(text: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = Vec::new();
    for (at, _) in text.match_indices("kurz_") {
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| word(c) || c == '$')
        {
            continue;
        }
        let rest = &text[at..];
        let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
        names.push(rest[..end].to_owned());
    }
    names
}

#[test]
fn alerts_dashboards_and_documents_name_only_metrics_kurz_records() {
    let files = [
        "deploy/prometheus/rules/kurz.yml",
        "deploy/grafana/dashboards/kurz.json",
        "docs/RUNBOOK.md",
        "docs/FAILURE_MODES.md",
        "docs/ARCHITECTURE.md",
        "docs/CONFIGURATION.md",
    ];
    let recorded = |name: &str| METRICS.iter().any(|metric| metric.name == name);
    let mut unknown = Vec::new();
    let mut seen = 0;
    for file in files {
        for name in kurz_names(&read(file)) {
            seen += 1;
            let series_of = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix));
            if !recorded(&name)
                && !series_of.is_some_and(recorded)
                && !NOT_METRICS.contains(&name.as_str())
            {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(seen > 50, "found only {seen} metric names");
    assert!(unknown.is_empty(), "not recorded by kurz: {unknown:#?}");
}
