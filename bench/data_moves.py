#!/usr/bin/env python3
"""Rows per second and peak memory of kurz's data moves, at growing event counts.

    bench/data_moves.py                       # 1 M and 10 M events
    bench/data_moves.py --events 100000       # smaller, for a quick look

For each count: an embedded store with the generated seed (`kurz seed`: 400 users, 2000
urls) plus that many click events, then `kurz migrate-store` into a fresh PostgreSQL
database (PostgreSQL on 127.0.0.1, `KURZ_TEST_POSTGRES_URL` to change it), timed, with
kurz's peak RSS from `/usr/bin/time`-style rusage of the child. Memory should not grow with
the data: the copy streams in batches. Writes one JSON line per run to
bench/results/data-moves-<date>.jsonl and prints a table.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import fresh_database, kurz_binary
from seed import add_clicks

ROOT = Path(__file__).resolve().parent.parent


def kurz(args, env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL"))}
    full.update(env, KURZ_LOG="warn")
    return subprocess.run([kurz_binary(), *args], env=full, check=True, capture_output=True, text=True)


def embedded_store(work, events):
    """A data directory with the seed and `events` more click events."""
    seed, data = os.path.join(work, "seed"), os.path.join(work, "data")
    kurz(["seed", "--output", seed], {})
    kurz(["import", "--users", f"{seed}/users.csv", "--urls", f"{seed}/urls.csv",
          "--events", f"{seed}/events.csv"], {"KURZ_DATA_DIR": data})
    add_clicks(data, events, 2000)
    return data


def timed(args, env):
    """Runs kurz; wall seconds, that process's own peak RSS in MiB (wait4's rusage), stdout."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL"))}
    full.update(env, KURZ_LOG="warn")
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out:
        child = subprocess.Popen([kurz_binary(), *args], env=full, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        if child.returncode != 0:
            raise SystemExit(f"kurz {' '.join(args)} failed ({child.returncode})")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read()


def summary_of(out):
    """The command's JSON summary: the last stdout line that is one (logs may come first)."""
    for line in reversed(out.splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "copied" in value or "exported" in value:
            return value
    raise SystemExit(f"no summary in the output:\n{out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1000000,10000000", help="event counts, comma-separated")
    parser.add_argument("--commands", default="migrate-store,export", help="which commands to time")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    output = args.output or str(ROOT / "bench" / "results" / f"data-moves-{datetime.date.today()}.jsonl")
    rows = []
    for events in [int(n) for n in args.events.split(",")]:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_WORK")) as work:
            data = embedded_store(work, events)
            for command in args.commands.split(","):
                if command == "migrate-store":
                    url, drop = fresh_database("moves")
                    try:
                        seconds, rss, out = timed(["migrate-store", "--to", url], {"KURZ_DATA_DIR": data})
                    finally:
                        drop()
                    summary = summary_of(out)
                    tables, to = summary["copied"], "postgres"
                else:
                    target = os.path.join(work, "export")
                    seconds, rss, out = timed(["export", "--output", target], {"KURZ_DATA_DIR": data})
                    summary = summary_of(out)
                    tables, to = summary["exported"], "csv files"
                    shutil.rmtree(target)
                total = sum(t["rows"] for t in tables)
                row = {"command": command, "from": "embedded", "to": to,
                       "events": events, "rows": total, "seconds": round(seconds, 1),
                       "rows_per_second": round(total / seconds), "peak_rss_mib": round(rss, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    with open(output, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print("\n| command | events | rows in all | seconds | rows/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['command']} (embedded → {r['to']}) | {r['events']:,} | {r['rows']:,} | "
              f"{r['seconds']} | {r['rows_per_second']:,} | {r['peak_rss_mib']} |")
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
