#!/usr/bin/env python3
"""Prints the results table of BENCHMARKS.md from a results file: every run of it, with
throughput and CPU per request as ratios to the nginx reference measured in the same run.

    bench/report.py bench/results/<name>.jsonl
"""

import json
import sys
from pathlib import Path

COLUMNS = ["scenario", "target", "conn", "req/s", "× nginx", "p50 ms", "p95 ms", "p99 ms",
           "p99 × nginx", "CPU µs/req", "CPU × nginx", "errors", "clicks stored / redirects",
           "peak RSS MiB"]


def main():
    results = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]
    reference = next((r for r in results if "reference" in r["target"]), None)
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in results:
        if "steps" in r:
            continue  # the capacity search: printed below
        scenario = r["scenario"] + (f" ({r['urls']:,} urls)" if "urls" in r else "")
        ratio = lambda key: f"{r[key] / reference[key]:.2f}" if reference else "—"
        clicks = f"{r['clicks_stored']:,} / {r['redirects_answered']:,}" if "clicks_stored" in r else "—"
        rss = f"{r['peak_rss_mib']:.0f}" if "peak_rss_mib" in r else "—"
        print("| " + " | ".join([
            scenario, r["target"], str(r["connections"]), f"{r['rps']:,.0f}", ratio("rps"),
            f"{r['p50_us'] / 1000:.2f}", f"{r['p95_us'] / 1000:.2f}", f"{r['p99_us'] / 1000:.1f}",
            ratio("p99_us"), f"{r['cpu_us_per_request']:.1f}", ratio("cpu_us_per_request"),
            str(r["errors"]), clicks, rss,
        ]) + " |")
    searches = [r for r in results if "steps" in r]
    if searches:
        print("\n| capacity, open loop | highest rate with p99 < bound | per core | p50 / p99 ms there | steps (rate: p99 ms) |")
        print("|---|---|---|---|---|")
        for r in searches:
            steps = ", ".join(f"{s['rate']:,}: {s['p99_ms']}" for s in r["steps"])
            print(f"| {r['target']} | {r['rps']:,} req/s (p99 < {r['p99_bound_ms']} ms) | {r['rps_per_core']:,.0f} | "
                  f"{r['p50_us'] / 1000:.2f} / {r['p99_us'] / 1000:.2f} | {steps} |")
    classes = [r for r in results if "classes" in r]
    if classes:
        print("\n| scenario | target | conn | class | probe requests | p50 ms | p95 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|---|")
        for r in classes:
            for kind, c in r["classes"].items():
                print(f"| {r['scenario']} | {r['target']} | {r['connections']} | {kind} | {c['requests']} | "
                      f"{c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} |")


if __name__ == "__main__":
    main()
