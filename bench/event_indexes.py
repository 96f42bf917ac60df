#!/usr/bin/env python3
"""PostgreSQL's index of the events by link, two ways side by side: by link and id (migration
0010) against by link alone (before it), each served by one or more builds. One PostgreSQL
database is seeded through kurz with 1,000 links and EVENTS events written straight into it,
a tenth of them on link 1 (a hot link) and the rest spread over all links; then, for each
round and each index in turn, the index is made the only one by link, and each kurz
(BINARY …) in turn serves while one client reads pages 1 to 100 of a link's events,
`GET /events?url_id=N&page=P&per_page=10`: the hot link, then an ordinary one, each first
alone and then while another client follows redirects. A build that prepares these pages by
name gets PostgreSQL's plan for any link after five runs; a build that plans each filtered
page for its values does not. Also how long each index took to build. Then what each index costs the writes: the same 400,000 events inserted in
batches of 2,000 into a copy of the table with that index, in seconds, and the indexes'
size.

    bench/event_indexes.py BINARY
    bench/event_indexes.py OLD NEW
    bench/event_indexes.py --events 100000 --rounds 1 BINARY
"""

import argparse
import os
import signal
import subprocess
import tempfile
import time

import run
from list_pages import timed_pages
from seed import write_urls_csv

INDEXES = {
    "by link and id": "events_url_id_id ON events (url_id, id)",
    "by link": "events_url_id ON events (url_id)",
}
LINKS = {"hot link": 1, "ordinary link": 500}


def psql(database_url, *commands):
    args = ["psql", "-qAt", "-v", "ON_ERROR_STOP=1", database_url]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def add_events(database_url, events):
    """`events` events on links 1 to 1000, every tenth on link 1, in id order as clicks come."""
    psql(database_url, f"""INSERT INTO events (url_id, user_id, event_type, timestamp, details)
        SELECT CASE WHEN i % 10 = 0 THEN 1 ELSE i % 1000 + 1 END, NULL,
               CASE WHEN i % 50 = 0 THEN 'created' ELSE 'click' END, '2025-06-01 00:00:00',
               '{{"referrer":null,"user_agent":"bench"}}' FROM generate_series(1, {events}) AS i""",
         "VACUUM ANALYZE events")


def use_index(database_url, name):
    """Makes `name` the events' one index by link, built anew, and says how long building it
    took (its lock holds event writes back meanwhile)."""
    psql(database_url, f"DROP INDEX IF EXISTS {INDEXES[name].split()[0]}")
    start = time.perf_counter()
    psql(database_url, f"CREATE INDEX {INDEXES[name]}")
    print(f"{name}: index built in {time.perf_counter() - start:.2f} s")
    for other, definition in INDEXES.items():
        if other != name:
            psql(database_url, f"DROP INDEX IF EXISTS {definition.split()[0]}")
    psql(database_url, "ANALYZE events")


def write_cost(database_url, name):
    """Seconds to insert 400,000 events in batches of 2,000 into a copy of the table with
    `name` as its index by link, and the copy's indexes' size."""
    definition = INDEXES[name].replace(" ON events ", " ON events_copy ").split(" ", 1)[1]
    psql(database_url, "DROP TABLE IF EXISTS events_copy",
         "CREATE TABLE events_copy (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)",
         "ALTER TABLE events_copy ADD PRIMARY KEY (id)",
         "CREATE INDEX ON events_copy (user_id)", "CREATE INDEX ON events_copy (event_type)",
         f"CREATE INDEX {definition}")
    start = time.perf_counter()
    psql(database_url, """DO $$ BEGIN FOR b IN 0..199 LOOP
        INSERT INTO events_copy (url_id, user_id, event_type, timestamp, details)
        SELECT CASE WHEN i % 10 = 0 THEN 1 ELSE i % 1000 + 1 END, NULL, 'click',
               '2025-06-01 00:00:00', '{"referrer":null}' FROM generate_series(b * 2000, b * 2000 + 1999) AS i;
        END LOOP; END $$""")
    seconds = time.perf_counter() - start
    size = psql(database_url, "SELECT pg_size_pretty(pg_indexes_size('events_copy'))")
    psql(database_url, "DROP TABLE events_copy")
    return seconds, size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    run.CURRENT_BUILD = (args.binaries[-1], args.binaries[-1])
    database_url, drop = run.fresh_database("event_indexes")
    env = {"DATABASE_URL": database_url}
    try:
        with tempfile.TemporaryDirectory() as work:
            csv = os.path.join(work, "urls.csv")
            write_urls_csv(csv, 1000)
            data = os.path.join(work, "data")
            os.mkdir(data)
            run.import_seed(env, data, csv)
            add_events(database_url, args.events)
            for _ in range(args.rounds):
                for name in INDEXES:
                    use_index(database_url, name)
                    for binary in args.binaries:
                        run.CURRENT_BUILD = (binary, binary)
                        pages(args, env, data, f"{name}, {os.path.basename(binary)}")
            for _ in range(args.rounds):
                for name in INDEXES:
                    seconds, size = write_cost(database_url, name)
                    print(f"{name}: 400,000 events inserted in {seconds:.2f} s; indexes {size}")
    finally:
        drop()


def pages(args, env, data, name):
    """One kurz serves while each link's pages are timed."""
    process, base = run.start_kurz(env, data)
    port = int(base.rsplit(":", 1)[1])
    try:
        for link, url_id in LINKS.items():
            path = f"/events?url_id={url_id}&page={{page}}&per_page=10"
            timed_pages(port, 20, False, path)  # past the five custom plans
            alone = timed_pages(port, args.pages, False, path)
            busy = timed_pages(port, args.pages, True, path)
            print(f"{name}, {link}: a page of its events, mean / p50 / p99 ms: "
                  f"alone {alone[0]:.2f} / {alone[1]:.2f} / {alone[2]:.2f}, "
                  f"with clicks {busy[0]:.2f} / {busy[1]:.2f} / {busy[2]:.2f}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


if __name__ == "__main__":
    main()
