//! `kurz blocklist import`: merges feed files (host lists, hosts files, URL lists; see
//! [`super::feed`]) into one blocklist file, normalised, deduplicated and sorted. Feeds are
//! files the operator downloaded: the service itself never needs the network for this.

use super::feed;
use super::host::{HostKind, HostName};
use clap::Subcommand;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Merge feed files into a blocklist file (written atomically; running services pick it
    /// up by themselves). Prints a JSON summary.
    Import {
        /// Feed files: hosts, hosts-file lines, URLs or IP addresses, one a line.
        #[arg(required = true)]
        feeds: Vec<PathBuf>,
        /// The blocklist file to write.
        #[arg(long, short)]
        output: PathBuf,
        /// Hosts never to block, in the same format: they, their subdomains, and any
        /// feed entry that would block them are left out. Repeatable.
        #[arg(long)]
        exclude: Vec<PathBuf>,
    },
}

impl BlocklistCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Import {
                feeds,
                output,
                exclude,
            } => {
                let feeds = read_all(&feeds)?;
                let exclude = read_all(&exclude)?;
                let merged = merge(&feeds, &exclude);
                write_atomically(&output, &merged.render(feeds.len()))?;
                println!(
                    "{}",
                    serde_json::json!({
                        "hosts": merged.hosts.len(),
                        "invalid_lines": merged.invalid_lines,
                        "excluded": merged.excluded,
                        "too_broad": merged.too_broad,
                    })
                );
                Ok(())
            }
        }
    }
}

/// The result of merging feeds.
#[derive(Debug, Default)]
pub struct Merged {
    /// Sorted, without duplicates or entries a parent domain already covers.
    pub hosts: BTreeSet<HostName<'static>>,
    pub invalid_lines: usize,
    /// Entries dropped by the exclusions.
    pub excluded: usize,
    /// Top-level domains (`com`): a feed line that would block a whole TLD is a mistake.
    pub too_broad: usize,
}

impl Merged {
    fn render(&self, feeds: usize) -> String {
        let mut text = format!(
            "# kurz blocklist: one host a line; a host also blocks its subdomains.\n\
             # Written by `kurz blocklist import` from {feeds} feed(s): {} entries.\n",
            self.hosts.len()
        );
        for host in &self.hosts {
            text.push_str(host.as_str());
            text.push('\n');
        }
        text
    }
}

/// Merges feed texts, leaving out what `exclude` lists (with its subdomains) and any
/// entry that would block an excluded host.
pub fn merge(feeds: &[String], exclude: &[String]) -> Merged {
    let mut merged = Merged::default();
    let excluded: Vec<HostName<'static>> = exclude
        .iter()
        .flat_map(|text| feed::parse(text).hosts)
        .collect();
    let excluded_names: HashSet<&str> = excluded.iter().map(HostName::as_str).collect();
    // An entry for any of these would block an excluded host.
    let covering_excluded: HashSet<&str> =
        excluded.iter().flat_map(HostName::with_parents).collect();
    let mut all = BTreeSet::new();
    for text in feeds {
        let parsed = feed::parse(text);
        merged.invalid_lines += parsed.invalid_lines;
        for host in parsed.hosts {
            if host.kind() == HostKind::Domain && !host.as_str().contains('.') {
                merged.too_broad += 1;
            } else if covering_excluded.contains(host.as_str())
                || host
                    .with_parents()
                    .any(|name| excluded_names.contains(name))
            {
                merged.excluded += 1;
            } else {
                all.insert(host);
            }
        }
    }
    // A subdomain of an entry is already blocked by it. (Domain and IP entries never share
    // a name: a domain's last label is never numeric.)
    let names: HashSet<&str> = all.iter().map(HostName::as_str).collect();
    merged.hosts = all
        .iter()
        .filter(|host| {
            !host
                .with_parents()
                .skip(1)
                .any(|parent| names.contains(parent))
        })
        .cloned()
        .collect();
    merged
}

fn read_all(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    files
        .iter()
        .map(|file| {
            std::fs::read(file)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))
        })
        .collect()
}

/// Writes beside the target and renames over it, so a service polling the file never
/// reads half of it.
fn write_atomically(output: &Path, text: &str) -> anyhow::Result<()> {
    let name = output
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("--output must name a file"))?;
    let temporary = output.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&temporary, text)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, output)
        .map_err(|e| anyhow::anyhow!("replacing {}: {e}", output.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(feeds: &[&str], exclude: &[&str]) -> (Vec<String>, Merged) {
        let own = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let merged = merge(&own(feeds), &own(exclude));
        let hosts = merged.hosts.iter().map(|h| h.as_str().to_owned()).collect();
        (hosts, merged)
    }

    #[test]
    fn feeds_are_normalised_deduplicated_and_sorted() {
        let hosts_file = "# hosts\n127.0.0.1 localhost\n0.0.0.0 Zeta.Example ads.example\n";
        let url_list =
            "http://ads.example/x\nhttps://bücher.example/login\nhttp://203.0.113.7:8080/i\n";
        let host_list = "beta.example\nbeta.example.\n";
        let (hosts, _) = merged(&[hosts_file, url_list, host_list], &[]);
        assert_eq!(
            hosts,
            [
                "203.0.113.7",
                "ads.example",
                "beta.example",
                "xn--bcher-kva.example",
                "zeta.example"
            ]
        );
    }

    #[test]
    fn subdomains_of_an_entry_are_dropped() {
        let (hosts, _) = merged(&["a.evil.example\nevil.example\nb.a.evil.example\n"], &[]);
        assert_eq!(hosts, ["evil.example"]);
    }

    #[test]
    fn exclusions_win_over_feeds() {
        let feed = "https://raw.githubusercontent.com/x/y/malware.sh\n\
                    githubusercontent.com\nevil.example\nsub.docs.example\n";
        let (hosts, merged) = merged(&[feed], &["raw.githubusercontent.com\ndocs.example\n"]);
        assert_eq!(hosts, ["evil.example"]);
        assert_eq!(merged.excluded, 3);
    }

    #[test]
    fn top_level_domains_and_bad_lines_are_counted_not_kept() {
        let (hosts, merged) = merged(&["com\nok.example\nnot a host\n"], &[]);
        assert_eq!(hosts, ["ok.example"]);
        assert_eq!((merged.too_broad, merged.invalid_lines), (1, 1));
    }

    #[test]
    fn the_output_reads_back_as_the_same_list() {
        let (_, merged) = merged(&["0.0.0.0 b.example a.example\n"], &[]);
        let reread = feed::parse(&merged.render(1));
        assert_eq!(reread.invalid_lines, 0);
        assert_eq!(
            reread
                .hosts
                .iter()
                .map(HostName::as_str)
                .collect::<Vec<_>>(),
            ["a.example", "b.example"]
        );
    }
}
