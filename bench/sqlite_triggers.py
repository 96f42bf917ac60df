#!/usr/bin/env python3
"""What a row trigger on `events` would cost SQLite's one writer per click: the click batch's
insert of 1,024 events (one multi-row statement, as kurz writes them) into a table shaped
like kurz's, timed with no trigger, with a trigger whose `WHEN` on the new row skips it,
with one whose `WHEN` asks another table (a flag a batch could set), and with one that
counts every row in all and by type. 200 batches each, three rounds alternating; only the
insert statement is timed, in microseconds a row. Python's `sqlite3`, a file in a temporary
directory, WAL and `synchronous = NORMAL` as kurz opens it.

    bench/sqlite_triggers.py
"""

import json
import os
import sqlite3
import tempfile
import time

TRIGGERS = {
    "none": "",
    "WHEN on the row, false": """CREATE TRIGGER t AFTER INSERT ON events WHEN new.event_type <> 'click'
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'events'; END""",
    "WHEN asks a table, false": """CREATE TRIGGER t AFTER INSERT ON events
        WHEN NOT EXISTS (SELECT 1 FROM row_counts WHERE name = 'click batch')
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'events'; END""",
    "counts every row": """CREATE TRIGGER t AFTER INSERT ON events BEGIN
        UPDATE row_counts SET n = n + 1 WHERE name = 'events';
        INSERT INTO row_counts (name, n) VALUES ('events:' || new.event_type, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1; END""",
}
ROWS, BATCHES = 1024, 200


def per_row(work, trigger):
    path = os.path.join(work, "events.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("""CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, url_id INTEGER,
        user_id INTEGER, event_type TEXT NOT NULL, timestamp TEXT NOT NULL, details TEXT NOT NULL)""")
    db.execute("CREATE INDEX events_event_type ON events (event_type)")
    db.execute("CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO row_counts VALUES ('events', 0), ('events:click', 0)")
    if trigger:
        db.execute(trigger)
    details = json.dumps({"short_code": "abc123", "original_url": "https://example.com/x",
                          "referrer": None, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"})
    values = []
    for i in range(ROWS):
        values += [i % 10_000, i % 100, "click", "2026-12-05 00:00:00", details]
    insert = ("INSERT INTO events (url_id, user_id, event_type, timestamp, details) SELECT * FROM (VALUES "
              + ", ".join(["(?, ?, ?, ?, ?)"] * ROWS) + ")")
    spent = 0.0
    for _ in range(BATCHES):
        db.execute("BEGIN IMMEDIATE")
        start = time.perf_counter()
        db.execute(insert, values)
        spent += time.perf_counter() - start
        db.execute("COMMIT")
    db.close()
    return spent / (ROWS * BATCHES) * 1e6


def main():
    results = {name: [] for name in TRIGGERS}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(3):
            for name, trigger in TRIGGERS.items():
                results[name].append(per_row(work, trigger))
    for name, times in results.items():
        print(f"{name:26} " + ", ".join(f"{t:.2f}" for t in times) + " µs a row")


if __name__ == "__main__":
    main()
