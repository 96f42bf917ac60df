"""Capacity, open loop: the highest constant arrival rate of cached redirects at which p99
stays under a bound. wrk is a closed loop (a connection sends its next request when the last
answer arrives), so a slow server slows the load and hides its own queue; oha with a rate
(`-q`) and `--latency-correction` sends on a schedule and counts each request's latency from
when it was due, queueing included.

The search doubles the rate while a step passes, then halves the interval between the last
rate that passed and the first that failed a few times. A step passes when every answer
was a 302 and p99 is under the bound."""

import json
import shutil
import subprocess

BISECTIONS = 4
MAX_RATE = 400_000


def step(base, urls_file, rate, seconds, connections):
    """One constant-rate step: (p50, p99 in ms, requests, failed requests)."""
    command = ["oha", "-z", f"{seconds}s", "-q", str(rate), "-c", str(connections), "--latency-correction",
               "--no-tui", "--output-format", "json", "--redirect", "0", "--urls-from-file", urls_file]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    report = json.loads(out)
    statuses = report.get("statusCodeDistribution") or {}
    # Requests still out when the step's time is up are cut off by oha, not failed by kurz.
    errors = {k: v for k, v in (report.get("errorDistribution") or {}).items() if k != "aborted due to deadline"}
    total = sum(statuses.values()) + sum(errors.values())
    failed = total - statuses.get("302", 0)
    percentiles = report["latencyPercentiles"]
    p50 = (percentiles.get("p50") or 0) * 1000
    p99 = (percentiles.get("p99") or float("inf")) * 1000
    return p50, p99, total, failed


def search(base, codes, p99_ms, start_rate, seconds, connections, work):
    """{rps, p50_us, p99_us, steps: [...]} for the highest passing rate (rps 0: none passed)."""
    if not shutil.which("oha"):
        raise SystemExit("the capacity scenario needs oha (cargo install oha --locked)")
    urls_file = f"{work}/capacity-urls.txt"
    with open(urls_file, "w") as out:
        out.writelines(f"{base}/{code}\n" for code in codes)
    steps = []

    def passes(rate):
        p50, p99, total, failed = step(base, urls_file, rate, seconds, connections)
        ok = failed == 0 and p99 < p99_ms
        steps.append({"rate": rate, "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "requests": total,
                      "failed": failed, "passed": ok})
        print(f"    open loop {rate:>7} req/s: p50 {p50:7.2f} ms  p99 {p99:8.2f} ms  failed {failed}"
              f"  {'pass' if ok else 'FAIL'}", flush=True)
        return ok

    good, bad = 0, None
    rate = start_rate
    while rate <= MAX_RATE:
        if not passes(rate):
            bad = rate
            break
        good, rate = rate, rate * 2
    for _ in range(BISECTIONS if bad else 0):
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    best = next((s for s in steps if s["rate"] == good and s["passed"]), None)
    return {
        "rps": good,
        "p50_us": best["p50_ms"] * 1000 if best else 0,
        "p99_us": best["p99_ms"] * 1000 if best else 0,
        "requests": sum(s["requests"] for s in steps),
        "errors": 0,  # a failing step bounds the search; it is not a failed run
        "steps": steps,
        "p99_bound_ms": p99_ms,
    }
