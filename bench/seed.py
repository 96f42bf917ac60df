#!/usr/bin/env python3
"""Writes the urls the load scenarios ask for: a urls CSV for `kurz import --urls` with codes
c0000001, c0000002, … (row number in 7 hex digits), and the list of those codes, one a line.
bench/run.py seeds its targets with it; with k6, seed by hand:

    bench/seed.py --rows 10000 DIR      # DIR/urls.csv and DIR/codes.txt

Ids run from 1, and import upserts by id: import into an empty store.
"""

import argparse
import os
import sqlite3
from pathlib import Path


def code(row):
    # The cold scenario names codes by row number alone (bench/wrk/scenario.lua,
    # bench/k6/scenario.js and run.py's SQL spell the same format).
    return f"c{row:07x}"


def write_urls_csv(path, rows):
    with open(path, "w") as out:
        out.write("id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n")
        for i in range(1, rows + 1):
            out.write(f"{i},,{code(i)},https://example.com/{i},,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n")


def add_clicks(data, events, links):
    """`events` click events spread over links 1 to `links`, written straight into the
    embedded store in the data directory `data`, as an earlier release would write them (a
    build that keeps their count counts them again when it starts); then the write-ahead log
    folded into the file, as in a store that has been serving."""
    db = sqlite3.connect(os.path.join(data, "kurz.db"))
    db.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO events (url_id, user_id, event_type, timestamp, details)
        SELECT (i % ?) + 1, NULL, 'click', '2025-06-01T00:00:00',
               '{"referrer":null,"user_agent":"bench"}' FROM n""", (events, links))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def write_codes(path, rows):
    Path(path).write_text("".join(f"{code(i)}\n" for i in range(1, rows + 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True, help="how many urls (codes c0000001 … )")
    parser.add_argument("directory", help="where to write urls.csv and codes.txt")
    args = parser.parse_args()
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_urls_csv(directory / "urls.csv", args.rows)
    write_codes(directory / "codes.txt", args.rows)
    print(f"{directory / 'urls.csv'}\n{directory / 'codes.txt'}")


if __name__ == "__main__":
    main()
