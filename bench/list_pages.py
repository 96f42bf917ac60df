#!/usr/bin/env python3
"""Times a page of the list of all urls on a large embedded store: one client reads
`GET /urls?page=N&per_page=10` (pages 1 to 100 in turn), first alone, then while another
client follows redirects (each click commits, and a reader's page cache is then dropped at
its next read). The store is seeded once with ROWS urls and served by each build in turn
(a build without a newer migration accepts the newer schema, as in a rollback).

    bench/list_pages.py OLD NEW                  # 1,000,000 urls, two rounds alternating
    bench/list_pages.py --rows 100000 OLD NEW
"""

import argparse
import http.client
import os
import signal
import statistics
import tempfile
import threading
import time

import run
from seed import code, write_urls_csv


def timed_pages(port, pages, with_clicks):
    stop = threading.Event()

    def clicks():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while not stop.is_set():
            n += 1
            connection.request("GET", f"/{code(n % 1000 + 1)}")
            connection.getresponse().read()

    clicker = threading.Thread(target=clicks)
    if with_clicks:
        clicker.start()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for n in range(pages):
        start = time.perf_counter()
        connection.request("GET", f"/urls?page={n % 100 + 1}&per_page=10")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"a list page answered {response.status}")
        times.append((time.perf_counter() - start) * 1000)
        if with_clicks:
            time.sleep(0.005)  # room for clicks to commit between pages
    stop.set()
    if with_clicks:
        clicker.join()
    times.sort()
    return statistics.mean(times), times[len(times) // 2], times[int(len(times) * 0.99)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows: at least 1000 (the redirects follow the first 1000 codes)")
    with tempfile.TemporaryDirectory() as work:
        csv = os.path.join(work, "urls.csv")
        write_urls_csv(csv, args.rows)
        data = os.path.join(work, "data")
        os.mkdir(data)
        run.CURRENT_BUILD = (args.binaries[-1], args.binaries[-1])
        run.import_seed({}, data, csv)
        for _ in range(args.rounds):
            for binary in args.binaries:
                run.CURRENT_BUILD = (binary, binary)
                process, base = run.start_kurz({}, data)
                port = int(base.rsplit(":", 1)[1])
                try:
                    timed_pages(port, 20, False)  # warm
                    alone = timed_pages(port, args.pages, False)
                    busy = timed_pages(port, args.pages, True)
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(60)
                print(f"{binary}: a page of {args.rows} urls, mean / p50 / p99 ms: "
                      f"alone {alone[0]:.2f} / {alone[1]:.2f} / {alone[2]:.2f}, "
                      f"with clicks {busy[0]:.2f} / {busy[1]:.2f} / {busy[2]:.2f}")


if __name__ == "__main__":
    main()
