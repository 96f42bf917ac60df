#!/usr/bin/env python3
"""Measures what a click waiting in the click queue costs in memory: each build serves the
embedded store with 1,000 seeded links; once every link is cached, another connection holds
SQLite's write lock (`BEGIN IMMEDIATE`), so that no click can be written, and wrk sends
redirects for 3 s (enough to fill the queue's 100,000 clicks on a 2-core machine; the
figure holds for however many were queued). The growth of kurz's resident memory,
divided by the clicks queued, is the memory of one queued click with what it holds.

    bench/queued_clicks.py BINARY [BINARY …]    # e.g. an old build and target/release/kurz
    bench/queued_clicks.py --runs 3 OLD NEW      # alternating, several runs each

The requests are bench/run.py's redirects, with a browser's user agent. The figure moves
by tens of bytes between runs (how much of the memory the allocator already held is reused);
compare builds alternating in one invocation.
"""

import argparse
import os
import signal
import sqlite3
import tempfile
import time

import run
from seed import write_codes, write_urls_csv

LINKS = 1000


def redirects(base, codes, seconds):
    run.wrk(base, "redirect-hot", 50, seconds, {"BENCH_CODES": codes})


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def queued(base):
    return run.metric_sum(base, "kurz_click_queue_depth", {})


def measure(binary, work):
    run.CURRENT_BUILD = (binary, binary)
    data = tempfile.mkdtemp(dir=work)
    run.import_seed({}, data, os.path.join(work, "urls.csv"))
    process, base = run.start_kurz({}, data)
    codes = os.path.join(work, "codes")
    try:
        redirects(base, codes, 2)  # every link cached, the first clicks written
        time.sleep(2)
        lock = sqlite3.connect(os.path.join(data, "kurz.db"), timeout=30, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        before, depth_before = rss_kib(process.pid), queued(base)
        redirects(base, codes, 3)
        time.sleep(0.5)
        after, depth_after = rss_kib(process.pid), queued(base)
        lock.execute("ROLLBACK")
        lock.close()
        clicks = depth_after - depth_before
        return clicks, (after - before) * 1024 / max(clicks, 1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        write_urls_csv(os.path.join(work, "urls.csv"), LINKS)
        write_codes(os.path.join(work, "codes"), LINKS)
        for attempt in range(args.runs):
            for binary in args.binaries:
                clicks, per_click = measure(binary, work)
                print(f"{binary}  run {attempt + 1}: {clicks:.0f} clicks queued, {per_click:.0f} bytes of RSS each")


if __name__ == "__main__":
    main()
