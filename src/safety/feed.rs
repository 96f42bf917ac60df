//! The blocklist's text format, which is also what public feeds publish, so a feed can be
//! used as it is or merged by `kurz blocklist import`. One entry a line:
//!
//! - a host: `evil.example` (blocks its subdomains too), also written `*.evil.example` or,
//!   as ad-block lists do, `||evil.example^`;
//! - a hosts-file line: `0.0.0.0 evil.example other.example` (every name after the address;
//!   the usual `localhost`-style boilerplate is skipped);
//! - a URL: `http://evil.example/path` blocks its host (the path and port are not kept);
//! - an IP address: `203.0.113.7`, `2001:db8::1`.
//!
//! `#` starts a comment (at the start of a line or after a space), as does `!` at the start
//! of a line. Blank lines are ignored. A line that is none of the above is skipped and counted.

use super::host::HostName;
use std::net::IpAddr;

/// How many invalid line numbers are kept for the log.
const INVALID_LINES_KEPT: usize = 5;

/// Names that hosts files map to local addresses for the machine's own sake; a feed in
/// hosts-file form carries them without meaning to block them.
const HOSTS_FILE_BOILERPLATE: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// The entries of one list, in the order written (duplicates kept).
#[derive(Debug, Default)]
pub struct ParsedList {
    pub hosts: Vec<HostName<'static>>,
    /// Lines that are none of the accepted forms.
    pub invalid_lines: usize,
    /// The first few of them (1-based), for the log.
    pub first_invalid: Vec<usize>,
}

/// Reads a whole list.
pub fn parse(text: &str) -> ParsedList {
    let mut list = ParsedList::default();
    for (index, line) in text.lines().enumerate() {
        match parse_line(line) {
            Some(hosts) => list.hosts.extend(hosts),
            None => {
                list.invalid_lines += 1;
                if list.first_invalid.len() < INVALID_LINES_KEPT {
                    list.first_invalid.push(index + 1);
                }
            }
        }
    }
    list
}

/// The hosts one line names (none for a blank or comment line); `None` for a line in no
/// accepted form.
fn parse_line(line: &str) -> Option<Vec<HostName<'static>>> {
    let mut tokens = line
        .split_whitespace()
        .take_while(|token| !token.starts_with('#'));
    let Some(first) = tokens.next() else {
        return Some(Vec::new());
    };
    if first.starts_with('!') {
        return Some(Vec::new());
    }
    let rest: Vec<&str> = tokens.collect();
    if rest.is_empty() {
        return entry(first).map(|host| vec![host]);
    }
    // More than one token: only a hosts-file line (an address, then names) has that form.
    first.parse::<IpAddr>().ok()?;
    rest.into_iter()
        .filter(|name| {
            !HOSTS_FILE_BOILERPLATE
                .iter()
                .any(|b| b.eq_ignore_ascii_case(name))
        })
        .map(entry)
        .collect()
}

/// One entry: a URL (its host), an ad-block `||host^`, a `*.`-wildcard, a host or an address.
fn entry(token: &str) -> Option<HostName<'static>> {
    if token.contains("://") {
        return host_of_url(token);
    }
    let token = match token.strip_prefix("||") {
        Some(anchored) => anchored.trim_end_matches('^'),
        None => token,
    };
    let token = token.strip_prefix("*.").unwrap_or(token);
    if token.contains('/') {
        // A URL written without its scheme: `evil.example/path`.
        return host_of_url(&format!("http://{token}"));
    }
    HostName::parse(token)
}

fn host_of_url(text: &str) -> Option<HostName<'static>> {
    let url = url::Url::parse(text).ok()?;
    // Through `HostName::parse` so that hosts of non-http schemes are normalised too.
    HostName::parse(url.host_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> Vec<String> {
        parse(text)
            .hosts
            .iter()
            .map(|h| h.as_str().to_owned())
            .collect()
    }

    #[test]
    fn plain_hosts_wildcards_and_adblock_anchors() {
        assert_eq!(
            hosts("evil.example\n*.Other.Example.\n||third.example^\n"),
            ["evil.example", "other.example", "third.example"]
        );
    }

    #[test]
    fn hosts_file_lines_name_every_host_after_the_address() {
        let text = "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n\
                    0.0.0.0 0.0.0.0\n0.0.0.0 ads.example tracker.example # inline comment\n\
                    127.0.0.1\tevil.example\n";
        assert_eq!(
            hosts(text),
            ["ads.example", "tracker.example", "evil.example"]
        );
    }

    #[test]
    fn urls_contribute_their_host() {
        assert_eq!(
            hosts(
                "http://Evil.Example:8080/malware.exe\nhttps://user@phish.example/login#x\n\
                 http://203.0.113.7/i\nhttp://[2001:db8::1]/x\nbare.example/path/page.html\n"
            ),
            [
                "evil.example",
                "phish.example",
                "203.0.113.7",
                "[2001:db8::1]",
                "bare.example"
            ]
        );
    }

    #[test]
    fn unicode_hosts_are_stored_as_punycode() {
        assert_eq!(hosts("bücher.example"), ["xn--bcher-kva.example"]);
    }

    #[test]
    fn addresses_alone_are_entries() {
        assert_eq!(
            hosts("198.51.100.1\n2001:DB8::2\n"),
            ["198.51.100.1", "[2001:db8::2]"]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        let list = parse("# a feed\n\n   \n! adblock comment\n  # indented\nok.example # why\n");
        assert_eq!(list.invalid_lines, 0);
        assert_eq!(list.hosts.len(), 1);
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        let list =
            parse("good.example\ntwo words.example\nbad host!\nhttp://\n[::zz]\nalso.example\n");
        assert_eq!(list.invalid_lines, 4);
        assert_eq!(list.first_invalid, [2, 3, 4, 5]);
        assert_eq!(
            list.hosts.iter().map(HostName::as_str).collect::<Vec<_>>(),
            ["good.example", "also.example"]
        );
    }

    #[test]
    fn windows_line_endings_are_fine() {
        assert_eq!(
            hosts("a.example\r\nb.example\r\n"),
            ["a.example", "b.example"]
        );
    }
}
