#!/usr/bin/env python3
"""Counts the instructions kurz executes per cached redirect, under valgrind's callgrind: a
count, not a time, so it is the same from run to run whatever else the machine is doing,
and two builds compare exactly where a load test's CPU figures wander by several percent.

    bench/instructions.py BINARY [BINARY …]     # e.g. an old build and target/release/kurz
    bench/instructions.py BINARY --rules 0,10   # plain links, then links with 10 rules each

Each build serves the embedded store with 200 seeded links; one client on loopback follows
them in turn (a keep-alive connection, so every request after the first is a cached
redirect whose click is written in batches). Each build runs twice, with N and 2N requests:
the difference, divided by N, is the cost of one redirect with its click (start-up,
shutdown and pre-warming cancel out). Counts user-space instructions of every kurz thread;
the kernel's share (the socket) is not counted. The cost is also split in three: answering
the request (hyper's connection task, routing and handler included), classifying the
clicks (the click writer's first stage) and writing them (its second stage and SQLite).
Writing depends on how many clicks share a batch, which depends on timing: with one client
under valgrind batches are small, so it is an upper bound of what a click costs under load.

`--rules K` gives every link K redirect rules before the redirects are counted (the same
writes in both runs, so they cancel out). Each rule holds for the client's OS and browser
(the requests send no user agent: `other`) and fails only on its last condition, a query
parameter the visits do not carry: every rule is read to its end, and every visit ends at
the link's own target, as on a plain link.
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seed import code, write_urls_csv

LINKS = 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def follow(port, requests):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(requests):
        connection.request("GET", f"/{code(i % LINKS + 1)}")
        response = connection.getresponse()
        response.read()
        if response.status != 302:
            raise SystemExit(f"expected a redirect, got {response.status}")
    connection.close()


def add_rules(port, count):
    """Gives every link `count` rules that read to their last condition and never match."""
    rules = [{"when": {"os": "other", "browser": "other", "query": {"campaign": f"c{i}"}},
              "target": f"https://example.com/rule/{i}"} for i in range(count)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for link in range(1, LINKS + 1):
        connection.request("PUT", f"/urls/{link}", body=json.dumps({"rules": rules}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"giving link {link} its rules: {response.status}")
    connection.close()


def wait_ready(port, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("kurz did not become healthy under valgrind")


# Inclusive costs callgrind_annotate reports (its entries read `file:function`), by the
# functions that own them: each part is the sum, over its patterns, of the largest entry
# each matches. The connection task's poll is named by whichever of hyper's dispatcher
# methods the compiler kept; SQLite's work is its worker thread's whole entry.
PARTS = {
    "answering": [r"hyper::proto::h1::dispatch::Dispatcher<[^>]*>::poll_\w+"],
    "classifying clicks": [r"kurz::clicks::Writer::classified"],
    "writing clicks": [r"sqlx-sqlite-[\d.]+/src/connection/worker\.rs:std::sys::backtrace::__rust_begin_short_backtrace",
                       r"kurz::clicks::write::\{\{closure\}\}"],
}


def parts(out):
    """Instructions under each of PARTS."""
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True,
                               text=True).stdout
    found = {}
    for name, patterns in PARTS.items():
        found[name] = 0
        for pattern in patterns:
            counts = [int(m[1].replace(",", "")) for m in re.finditer(
                r"^\s*([\d,]+) \([^)]*\)\s+\S*?(?:" + pattern + ")", annotated, re.MULTILINE)]
            found[name] += max(counts, default=0)
    return found


def instructions(binary, requests, rules):
    """Total instructions of one run serving `requests` redirects of links with `rules`
    rules each, and its PARTS."""
    work = tempfile.mkdtemp(prefix="kurz-instructions-")
    csv = os.path.join(work, "urls.csv")
    write_urls_csv(csv, LINKS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "KURZ_"))}
    env.update(KURZ_DATA_DIR=work, KURZ_LOG="warn")
    subprocess.run([binary, "import", "--urls", csv], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    out = os.path.join(work, "callgrind.out")
    env["KURZ_LISTEN"] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        if rules:
            add_rules(port, rules)
        follow(port, requests)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(300)
    totals = re.search(r"^totals:\s+(\d+)", Path(out).read_text(), re.MULTILINE)
    if not totals:
        raise SystemExit(f"no totals in {out}")
    return int(totals[1]), parts(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--requests", type=int, default=2000, help="N (the second run serves 2N)")
    parser.add_argument("--rules", default="0", help="rules per link, one run pair each: 0,10")
    args = parser.parse_args()
    for binary in args.binaries:
        for rules in [int(r) for r in args.rules.split(",")]:
            (few, few_parts), (many, many_parts) = (instructions(binary, args.requests, rules),
                                                    instructions(binary, 2 * args.requests, rules))
            per_redirect = (many - few) / args.requests
            split = ", ".join(f"{name} {(many_parts[name] - few_parts[name]) / args.requests:,.0f}"
                              for name in PARTS)
            print(f"{binary} ({rules} rules per link): {per_redirect:,.0f} instructions per redirect "
                  f"({split}; {few:,} for {args.requests}, {many:,} for {2 * args.requests})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
