#!/usr/bin/env python3
"""Draws bench/results/<name>.png from a results file: throughput and p99 per scenario,
target and concurrency, from the same run. Needs matplotlib (pip install matplotlib).

    bench/plot.py bench/results/<name>.jsonl
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    source = Path(sys.argv[1])
    results = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    labels = [f"{r['scenario']}" + (f" {r['urls']:,} urls" if "urls" in r else "") + f"\n{r['target']}\nc={r['connections']}"
              for r in results]
    rps = [r["rps"] for r in results]
    p99 = [r["p99_us"] / 1000 for r in results]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(10, len(results) * 1.1), 9), sharex=True)
    colors = ["#888888" if "reference" in r["target"] else "#2a6fb0" for r in results]
    top.bar(range(len(results)), rps, color=colors)
    top.set_ylabel("requests per second")
    top.set_title(f"kurz load scenarios ({source.stem}); grey = nginx static 302 reference")
    bottom.bar(range(len(results)), p99, color=colors)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_yscale("log")
    bottom.set_xticks(range(len(results)))
    bottom.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    out = source.with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
