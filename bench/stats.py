#!/usr/bin/env python3
"""How fast a link's stats answer when it has a million clicks, side by side with one that
has a thousand: the counters make both cost one row per hour and value.

    bench/stats.py                          # 1,000,000 and 1,000 clicks, embedded and PostgreSQL
    bench/stats.py --big 100000 --targets embedded

For each target: an embedded store gets two links and their click events, spread over the
last 29 days (inside the default period) with a mix of visit classes, browsers, systems,
devices, referrers and languages, written straight into SQLite; `kurz migrate-store` then copies them into the
store that serves (a fresh SQLite file, or a fresh PostgreSQL database), which rebuilds the
hourly counters from the events as every move does. kurz serves that store, and one client
asks `GET /urls/{id}/stats` (30 days, by day) of each link in turn, after a warm-up, then
the first page of each link's events (`GET /events?url_id=`, the total counted); the
latency percentiles of each and their ratio go to bench/results/stats-<date>.jsonl.
"""

import argparse
import datetime
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from run import fresh_database, kurz_binary, start_kurz

ROOT = Path(__file__).resolve().parent.parent

CLASSES = ["human"] * 7 + ["bot", "bot", "preview"]
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Samsung Internet", "other"]
SYSTEMS = ["Windows", "iOS", "Android", "macOS", "Linux"]
DEVICES = ["desktop", "mobile", "tablet"]
REFERRERS = [None, "google.com", "t.co", "news.ycombinator.com", "reddit.com", "lobste.rs"] + [
    f"blog{n}.example" for n in range(30)]
LANGUAGES = [None, "en", "de", "fr", "es", "ja", "pt", "it"]


def kurz(args, env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL"))}
    full.update(env, KURZ_LOG="warn")
    return subprocess.run([kurz_binary(), *args], env=full, check=True, capture_output=True, text=True)


def source_store(work, sizes):
    """An embedded store with one link per size and that many click events on it."""
    data = os.path.join(work, "source")
    kurz(["migrate"], {"KURZ_DATA_DIR": data})
    db = sqlite3.connect(os.path.join(data, "kurz.db"))
    now = int(time.time())
    rng = random.Random(2026)
    for url_id, clicks in enumerate(sizes, start=1):
        db.execute("INSERT INTO urls (id, user_id, short_code, original_url, title, is_active, created_at, updated_at) "
                   "VALUES (?, NULL, ?, 'https://example.com/', NULL, 1, '2026-01-01T00:00:00', '2026-01-01T00:00:00')",
                   (url_id, f"stats{url_id}"))
        rows = []
        for _ in range(clicks):
            at = datetime.datetime.fromtimestamp(now - rng.randrange(29 * 86400), datetime.timezone.utc)
            details = {"short_code": f"stats{url_id}", "original_url": "https://example.com/",
                       "referrer": None, "user_agent": "bench", "visit_class": rng.choice(CLASSES),
                       "browser": rng.choice(BROWSERS), "os": rng.choice(SYSTEMS),
                       "device": rng.choice(DEVICES), "referrer_host": rng.choice(REFERRERS),
                       "language": rng.choice(LANGUAGES), "country": None}
            rows.append((url_id, "click", at.strftime("%Y-%m-%dT%H:%M:%S"), json.dumps(details)))
            if len(rows) == 50_000:
                db.executemany("INSERT INTO events (url_id, user_id, event_type, timestamp, details) "
                               "VALUES (?, NULL, ?, ?, ?)", rows)
                rows.clear()
        db.executemany("INSERT INTO events (url_id, user_id, event_type, timestamp, details) "
                       "VALUES (?, NULL, ?, ?, ?)", rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return data


def latencies(base, url_id, n):
    """Milliseconds of n sequential stats requests."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}/urls/{url_id}/stats", timeout=30) as response:
            body = json.loads(response.read())
        out.append((time.perf_counter() - started) * 1000)
    return out, body


def event_page_latencies(base, url_id, n):
    """Milliseconds of n sequential first pages of the link's events (10 a page, with the
    total counted), and the total the last one gave."""
    out, total = [], None
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}/events?url_id={url_id}&page=1&per_page=10", timeout=60) as response:
            response.read()
            total = int(response.headers["X-Total-Count"])
        out.append((time.perf_counter() - started) * 1000)
    return out, total


def wait_indexed(served, limit=300):
    """On the embedded store, until its index file holds every event (builds before it have
    no such file)."""
    index, database = os.path.join(served, "kurz.db-index"), os.path.join(served, "kurz.db")
    deadline = time.time() + limit
    while os.path.exists(index) and time.time() < deadline:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            newest = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as db:
            upto = db.execute("SELECT upto FROM indexed").fetchone()[0]
        if upto >= newest:
            return
        time.sleep(1)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=500, help="stats requests per link")
    parser.add_argument("--event-requests", type=int, default=50,
                        help="first pages of each link's events (GET /events?url_id=)")
    parser.add_argument("--targets", default="embedded,postgres")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    output = args.output or str(ROOT / "bench" / "results" / f"stats-{datetime.date.today()}.jsonl")
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_WORK")) as work:
        source = source_store(work, [args.big, args.small])
        for target in args.targets.split(","):
            drop = lambda: None
            if target == "embedded":
                served = os.path.join(work, "served")
                os.makedirs(served, exist_ok=True)
                kurz(["migrate-store", "--to", f"sqlite://{served}/kurz.db", "--force"], {"KURZ_DATA_DIR": source})
                process, base = start_kurz({}, served)
            else:
                url, drop = fresh_database("stats")
                kurz(["migrate-store", "--to", url], {"KURZ_DATA_DIR": source})
                process, base = start_kurz({"DATABASE_URL": url}, os.path.join(work, "unused"))
            try:
                for url_id in (1, 2):
                    latencies(base, url_id, 20)  # warm-up
                timings = {1: [], 2: []}
                bodies = {}
                for _ in range(args.requests // 50):
                    for url_id in (1, 2):
                        ms, bodies[url_id] = latencies(base, url_id, 50)
                        timings[url_id] += ms
                # The link's events, a page at a time: on the embedded store read through
                # its index file once the indexer has caught up (the warm-up waits for it).
                events = {1: [], 2: []}
                totals = {}
                if target == "embedded":
                    wait_indexed(served)
                for url_id in (1, 2):
                    event_page_latencies(base, url_id, 5)
                for _ in range(args.event_requests // 10):
                    for url_id in (1, 2):
                        ms, totals[url_id] = event_page_latencies(base, url_id, 10)
                        events[url_id] += ms
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
                drop()
            for url_id, clicks in ((1, args.big), (2, args.small)):
                assert bodies[url_id]["total"] == clicks, (target, bodies[url_id]["total"], clicks)
                assert totals[url_id] == clicks, (target, totals[url_id], clicks)
            row = {"target": target, "big_clicks": args.big, "small_clicks": args.small,
                   "requests": len(timings[1]),
                   "big_p50_ms": round(percentile(timings[1], 50), 2), "big_p99_ms": round(percentile(timings[1], 99), 2),
                   "small_p50_ms": round(percentile(timings[2], 50), 2), "small_p99_ms": round(percentile(timings[2], 99), 2)}
            row["p99_ratio"] = round(row["big_p99_ms"] / row["small_p99_ms"], 2)
            row.update({"events_big_p50_ms": round(percentile(events[1], 50), 2),
                        "events_big_p99_ms": round(percentile(events[1], 99), 2),
                        "events_small_p50_ms": round(percentile(events[2], 50), 2),
                        "events_small_p99_ms": round(percentile(events[2], 99), 2)})
            results.append(row)
            print(json.dumps(row), flush=True)
    with open(output, "w") as out:
        for row in results:
            out.write(json.dumps(row) + "\n")
    print("\n| store | clicks (big / small) | p50 ms big / small | p99 ms big / small | p99 ratio |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['target']} | {r['big_clicks']:,} / {r['small_clicks']:,} | {r['big_p50_ms']} / {r['small_p50_ms']} | "
              f"{r['big_p99_ms']} / {r['small_p99_ms']} | {r['p99_ratio']} |")
    print("\n| store | events of the link (big / small) | first page p50 ms big / small | p99 ms big / small |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['target']} | {r['big_clicks']:,} / {r['small_clicks']:,} | {r['events_big_p50_ms']} / "
              f"{r['events_small_p50_ms']} | {r['events_big_p99_ms']} / {r['events_small_p99_ms']} |")
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
