#!/usr/bin/env python3
"""Times a page of a list on a large embedded store: one client reads `GET /urls?page=N&per_page=10`
(pages 1 to 100 in turn; or the events, all of them or the clicks alone), first alone, then
while another client follows redirects (each click commits, and a reader's page cache is then
dropped at its next read). The store is seeded once with ROWS urls (and EVENTS click events,
written straight into the file as an earlier release would: a build that keeps their count
counts them again when it starts) and served by each build in turn (a build without a newer
migration accepts the newer schema, as in a rollback).

    bench/list_pages.py OLD NEW                  # 1,000,000 urls, two rounds alternating
    bench/list_pages.py --rows 100000 OLD NEW
    bench/list_pages.py --list events --rows 1000 --events 1000000 OLD NEW
    bench/list_pages.py --list clicks --rows 1000 --events 1000000 OLD NEW
    bench/list_pages.py --store postgres --list clicks --rows 1000 --events 1000000 OLD NEW

With `--store postgres` the store is a fresh PostgreSQL database on the machine's server
(`KURZ_TEST_POSTGRES_URL`, as bench/run.py), dropped afterwards, its events vacuumed after
they are written, as autovacuum would.
"""

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time

import run
from seed import add_clicks, code, write_urls_csv


LISTS = {
    "urls": "/urls?page={page}&per_page=10",
    "events": "/events?page={page}&per_page=10",
    "clicks": "/events?event_type=click&page={page}&per_page=10",
}


def add_events(database_url, data, events):
    """`events` click events on the first 1000 links, straight into the store."""
    if database_url:
        subprocess.run(["psql", "-q", database_url, "-c", f"""INSERT INTO events (url_id, user_id, event_type, timestamp, details)
            SELECT (i % 1000) + 1, NULL, 'click', '2025-06-01 00:00:00',
                   '{{"referrer":null,"user_agent":"bench"}}' FROM generate_series(1, {events}) AS i""",
                        "-c", "VACUUM ANALYZE events"], check=True)
        return
    add_clicks(data, events, 1000)


def timed_pages(port, pages, with_clicks, path):
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
        connection.request("GET", path.format(page=n % 100 + 1))
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
    parser.add_argument("--list", choices=sorted(LISTS), default="urls")
    parser.add_argument("--events", type=int, default=0, help="click events written into the store")
    parser.add_argument("--store", choices=["embedded", "postgres"], default="embedded")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows: at least 1000 (the redirects follow the first 1000 codes)")
    with tempfile.TemporaryDirectory() as work:
        csv = os.path.join(work, "urls.csv")
        write_urls_csv(csv, args.rows)
        data = os.path.join(work, "data")
        os.mkdir(data)
        env, drop = {}, lambda: None
        if args.store == "postgres":
            database_url, drop = run.fresh_database("list_pages")
            env = {"DATABASE_URL": database_url}
        try:
            measure(args, env, data, csv)
        finally:
            drop()


def measure(args, env, data, csv):
    """Each build in turn serves the seeded store while its pages are timed."""
    run.CURRENT_BUILD = (args.binaries[-1], args.binaries[-1])
    run.import_seed(env, data, csv)
    if args.events:
        add_events(env.get("DATABASE_URL"), data, args.events)
    path = LISTS[args.list]
    for _ in range(args.rounds):
        for binary in args.binaries:
            run.CURRENT_BUILD = (binary, binary)
            process, base = run.start_kurz(env, data)
            port = int(base.rsplit(":", 1)[1])
            try:
                time.sleep(2)  # a build that keeps the events' count checks it first
                timed_pages(port, 20, False, path)  # warm
                alone = timed_pages(port, args.pages, False, path)
                busy = timed_pages(port, args.pages, True, path)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            what = f"{args.rows} urls" if args.list == "urls" else f"{args.list} of {args.events} + clicks"
            print(f"{binary}: a page of {what}, mean / p50 / p99 ms: "
                  f"alone {alone[0]:.2f} / {alone[1]:.2f} / {alone[2]:.2f}, "
                  f"with clicks {busy[0]:.2f} / {busy[1]:.2f} / {busy[2]:.2f}")


if __name__ == "__main__":
    main()
