#!/usr/bin/env python3
"""Runs kurz's load scenarios on this machine, side by side with a reference (nginx answering
a static 302), and writes one JSON line per run to bench/results/<name>.jsonl.

    bench/run.py                        # every scenario, full length
    bench/run.py --quick                # seconds, not minutes (what CI runs)
    bench/run.py redirect-hot quest     # some scenarios
    bench/run.py --targets embedded     # some targets: embedded, postgres, stack
    KURZ_BENCH_BIN=target/debug/kurz bench/run.py --quick   # correctness smoke on a debug build
    bench/run.py redirect-hot --compare before=/path/to/old/kurz,after=target/release/kurz
                                        # two builds side by side, in one run

Traffic goes to 127.0.0.1 only; every run is bounded in time (the durations in bench/scenarios.json). Each run is checked:
zero non-2xx/3xx answers and zero socket errors, and the click events stored equal the
redirects kurz answered (its own counter). A failed check exits non-zero. The scenarios (mix,
concurrency steps, durations, error budget) are bench/scenarios.json, shared with bench/k6.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import capacity
import probe
from seed import write_codes, write_urls_csv

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "wrk"
DEFINITIONS = json.loads((BENCH / "scenarios.json").read_text())
SCENARIOS = DEFINITIONS["scenarios"]
TICKS = os.sysconf("SC_CLK_TCK")
PG_ADMIN = os.environ.get("KURZ_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", body=None, timeout=10):
    request = urllib.request.Request(url, method=method, data=body)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_ready(base, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if http(base + "/ready", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base} never became ready")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def thread_times(pids):
    """Nanoseconds each thread of `pids` ran on a CPU and waited for one (schedstat), by
    (pid, thread id) with the thread's name."""
    times = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                ran, waited = map(int, Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[:2])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            times[(pid, tid)] = (name, ran, waited)
    return times


def busiest_threads(before, after, duration, count=4):
    """The `count` threads that ran longest between two `thread_times`: each one's name and
    the share of the run's wall clock it spent running and waiting for a CPU. A thread
    that waits more than it runs is starved: the machine has no CPU left for it."""
    rows = []
    for key, (name, ran, waited) in after.items():
        _, ran_before, waited_before = before.get(key, (name, 0, 0))
        rows.append({"thread": name, "running": round((ran - ran_before) / 1e9 / duration, 3),
                     "waiting": round((waited - waited_before) / 1e9 / duration, 3)})
    return sorted(rows, key=lambda row: row["running"], reverse=True)[:count]


def peak_rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return None


def pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def postgres_pids():
    out = subprocess.run(["pgrep", "-u", "postgres", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


# The build under test when --compare runs several (label, path); None: the usual one.
CURRENT_BUILD = None


def kurz_binary():
    if CURRENT_BUILD is not None:
        return CURRENT_BUILD[1]
    # The smoke run in CI checks correctness only and uses the debug build it already has.
    override = os.environ.get("KURZ_BENCH_BIN")
    if override:
        return override
    path = ROOT / "target" / "release" / "kurz"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    return str(path)


def metric_sum(base, name, labels):
    """Sum of a counter over the series whose labels include `labels`."""
    return series_sum(http(base + "/metrics")[2].decode(), name, labels)


def series_sum(text, name, labels):
    """`metric_sum` over an exposition already read."""
    total = 0.0
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# Histograms read around each step: waits for pooled connections by pool, and store calls by
# operation (the request classes' own), as mean ms per call over the step.
TIMINGS = {
    "pool_waits": ("kurz_store_pool_acquire_seconds", "pool", ("postgres", "sqlite_readers", "sqlite_writer")),
    "store_calls": ("kurz_store_operation_duration_seconds", "op", ("find_link", "list_urls", "create_url")),
}


# Counters read around each step: visits that missed L1 (and waited for a lookup below it),
# and the L1 refreshes made in the background (no visit waits for those).
COUNTS = {
    "l1_misses": ("kurz_cache_requests_total", {"tier": "l1", "result": "miss"}),
    "l1_refreshes": ("kurz_cache_refreshes_total", {}),
}


def counts(bases):
    """Each COUNTS counter so far, summed over `bases`."""
    texts = [http(b + "/metrics")[2].decode() for b in bases]
    return {key: sum(series_sum(t, name, labels) for t in texts) for key, (name, labels) in COUNTS.items()}


def timings(bases):
    """(seconds, calls) so far of each TIMINGS histogram's series, summed over `bases`."""
    texts = [http(b + "/metrics")[2].decode() for b in bases]
    totals = {}
    for key, (name, label, values) in TIMINGS.items():
        for value in values:
            seconds = sum(series_sum(t, name + "_sum", {label: value}) for t in texts)
            calls = sum(series_sum(t, name + "_count", {label: value}) for t in texts)
            totals[(key, value)] = (seconds, calls)
    return totals


def mean_timings(before, after):
    """Mean ms per call between two `timings`, for the series called in between."""
    means = {key: {} for key in TIMINGS}
    for (key, value), (seconds, calls) in after.items():
        seconds_before, calls_before = before.get((key, value), (0.0, 0.0))
        if calls > calls_before:
            means[key][value] = {"calls": int(calls - calls_before),
                                 "mean_ms": round((seconds - seconds_before) / (calls - calls_before) * 1000, 2)}
    return means


def clicks_stored(bases):
    """Click events in the store once every replica has flushed its queue (each GET /events
    waits for its own replica's queue)."""
    total = 0
    for base in bases:
        status, headers, _ = http(base + "/events?event_type=click&per_page=1", timeout=60)
        assert status == 200, status
        total = int(headers.get("x-total-count") or headers.get("X-Total-Count"))
    return total


class Deployment:
    """A running target: base URL, the pids whose CPU counts, the kurz bases for checks."""

    def __init__(self, name, base, pids, kurz_bases, cleanup):
        self.name, self.base, self.pids, self.kurz_bases, self._cleanup = name, base, pids, kurz_bases, cleanup

    def stop(self):
        self._cleanup()


# One load generator is one client: per-client write limits would turn its creates into 429s
# (which is what they are for). The benchmarks measure throughput, so they lift them.
# Where a scenario runs unless it names its targets.
MAIN_TARGETS = ("embedded", "postgres", "stack")

UNLIMITED = {"KURZ_RATE_CREATES_PER_SEC": "0", "KURZ_RATE_WRITES_PER_SEC": "0"}


def start_kurz(env, data_dir):
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL"))}
    full_env.update(UNLIMITED)
    full_env.update(env)
    full_env.update({"KURZ_LISTEN": f"127.0.0.1:{port}", "KURZ_LOG": "warn", "KURZ_DATA_DIR": data_dir})
    process = subprocess.Popen([kurz_binary(), "serve"], env=full_env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    return process, base


def import_seed(env, data_dir, csv):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_URL"))}
    full_env.update(env)
    full_env.update({"KURZ_LOG": "warn", "KURZ_DATA_DIR": data_dir})
    subprocess.run([kurz_binary(), "import", "--urls", csv], env=full_env, check=True, stdout=subprocess.DEVNULL)


def fresh_database(tag):
    name = f"kurz_bench_{tag}_{os.getpid()}"
    subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    drop = lambda: subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    return url, drop


def deploy_embedded(rows, work):
    data = tempfile.mkdtemp(dir=work)
    csv = os.path.join(work, f"urls-{rows}.csv")
    write_urls_csv(csv, rows)
    import_seed({}, data, csv)
    process, base = start_kurz({}, data)

    def cleanup():
        process.send_signal(signal.SIGTERM)
        process.wait(60)

    return Deployment("kurz (embedded)", base, [process.pid], [base], cleanup), process


def grow_urls(database_url, size):
    """Adds generated urls so that every code c0000001 … c{size} exists (bench/seed.py's format),
    directly in SQL (ids after the largest one: other scenarios may have created urls in between)."""
    subprocess.run(["psql", database_url, "-qc", f"""
        INSERT INTO urls (id, short_code, original_url, is_active, created_at, updated_at)
        SELECT base.max_id + i, 'c' || lpad(to_hex(i), 7, '0'), 'https://example.com/' || i, true, now(), now()
        FROM (SELECT coalesce(max(id), 0) AS max_id FROM urls) AS base, generate_series(1, {size}) AS i
        ON CONFLICT (short_code) DO NOTHING;
        SELECT setval(pg_get_serial_sequence('urls', 'id'), (SELECT max(id) FROM urls));
        ANALYZE urls;"""], check=True, stdout=subprocess.DEVNULL)


def deploy_postgres(rows, work, cached=True):
    url, drop = fresh_database("pg" if cached else "uncached")
    csv = os.path.join(work, f"urls-{rows}.csv")
    write_urls_csv(csv, rows)
    prefix = f"bench{os.getpid()}"
    env = {"DATABASE_URL": url, "KURZ_DB_POOL_SIZE": "16"}
    # Uncached: no Redis and no L1, so every redirect is a database lookup (how the cost
    # grows with the data, caches aside).
    env.update({"REDIS_URL": REDIS, "KURZ_REDIS_PREFIX": prefix} if cached else {"KURZ_L1": "off"})
    import_seed(env, work, csv)
    process, base = start_kurz(env, work)
    pids = [process.pid] + postgres_pids() + (pids_of("redis-server") if cached else [])

    def cleanup():
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        drop()

    name = "kurz + PostgreSQL + Redis" if cached else "kurz + PostgreSQL, no cache"
    deployment = Deployment(name, base, pids, [base], cleanup)
    deployment.database_url = url
    return deployment, process


def deploy_stack(rows, work):
    stack = ROOT / "deploy" / "local" / "stack"
    if not stack.exists():
        raise SystemExit("deploy/local/stack is missing")
    url, drop = fresh_database("stack")
    csv = os.path.join(work, f"urls-{rows}.csv")
    write_urls_csv(csv, rows)
    prefix = f"benchstack{os.getpid()}"
    env = {"DATABASE_URL": url, "REDIS_URL": REDIS, "KURZ_REDIS_PREFIX": prefix}
    import_seed(env, work, csv)
    state = tempfile.mkdtemp(dir=work)
    port = free_port()
    replica_ports = [free_port(), free_port()]
    stack_env = dict(os.environ, **UNLIMITED, **env, STACK_DIR=state, STACK_PORT=str(port), KURZ_BIN=kurz_binary(),
                     STACK_REPLICA_PORTS=" ".join(map(str, replica_ports)), KURZ_LOG="warn")
    subprocess.run([str(stack), "up"], env=stack_env, check=True, stdout=subprocess.DEVNULL)
    status = subprocess.run([str(stack), "status"], env=stack_env, capture_output=True, text=True).stdout
    replicas = re.findall(r"^replica=\d+ port=(\d+) pid=(\d+)", status, re.MULTILINE)
    nginx_pid = int(re.search(r"^nginx port=\d+ pid=(\d+)", status, re.MULTILINE)[1])
    nginx_workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(nginx_pid)], capture_output=True,
                                                    text=True).stdout.split()]
    bases = [f"http://127.0.0.1:{p}" for p, _ in replicas]
    pids = [int(pid) for _, pid in replicas] + [nginx_pid] + nginx_workers + postgres_pids() + pids_of("redis-server")

    def cleanup():
        subprocess.run([str(stack), "down"], env=stack_env, stdout=subprocess.DEVNULL)
        drop()

    return Deployment("nginx + 2 kurz + PostgreSQL + Redis", f"http://127.0.0.1:{port}", pids, bases, cleanup), None


def deploy_reference(work):
    port = free_port()
    prefix = tempfile.mkdtemp(dir=work)
    conf = Path(prefix) / "nginx.conf"
    conf.write_text(
        (BENCH / "nginx-static-302.conf").read_text().replace("LISTEN_PORT", str(port)).replace("PREFIX", prefix)
    )
    process = subprocess.Popen(["nginx", "-p", prefix, "-c", str(conf), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if http(base + "/x")[0] == 302:
                break
        except OSError:
            time.sleep(0.05)

    def cleanup():
        process.send_signal(signal.SIGQUIT)
        process.wait(30)

    time.sleep(0.2)
    pids = [process.pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()]
    return Deployment("nginx static 302 (reference)", base, pids, [], cleanup)


def wrk_mix(scenario):
    """The scenario's request mix as bench/wrk/scenario.lua takes it: weight, method, path and
    body (compact JSON, or "") of each request kind."""
    args = []
    for kind, weight in SCENARIOS[scenario]["mix"].items():
        request = DEFINITIONS["requests"][kind]
        body = json.dumps(request["body"], separators=(",", ":")) if "body" in request else ""
        args += [str(weight), request["method"], request["path"], body]
    return args


# Every request says it comes from a browser: each click is then a person's, which takes the
# click writer's whole way (classification, and a counter per dimension).
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")


def wrk(base, scenario, connections, duration, env):
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-H", f"User-Agent: {BROWSER}",
               "--timeout", f"{DEFINITIONS['request_timeout_s']}s", "-s", str(LUA / "scenario.lua"), base,
               "--", *wrk_mix(scenario)]
    run_env = dict(os.environ, BENCH_LUA_DIR=str(LUA), BENCH_LIST_PAGES=str(DEFINITIONS["list_pages"]), **env)
    out = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=duration + 60).stdout
    line = next((l for l in out.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{out}")
    return json.loads(line[len("BENCH_RESULT "):])


def measure(deployment, scenario, connections, duration, env, check_clicks=True):
    redirects_before = sum(metric_sum(b, "kurz_http_requests_total", {"route": "/{code}", "status": "302"})
                           for b in deployment.kurz_bases)
    clicks_before = clicks_stored(deployment.kurz_bases) if deployment.kurz_bases and check_clicks else 0
    dropped_before = sum(metric_sum(b, "kurz_clicks_dropped_total", {}) for b in deployment.kurz_bases)
    # Redirects that waited for room in a full click queue: the click writer set their pace.
    waits_before = sum(metric_sum(b, "kurz_click_queue_waits_total", {}) for b in deployment.kurz_bases)
    ticks_before = cpu_ticks(deployment.pids)
    timings_before = timings(deployment.kurz_bases)
    counts_before = counts(deployment.kurz_bases)
    threads_before = thread_times(deployment.pids[:1]) if deployment.kurz_bases else {}
    # A mix of kinds gets one probe per kind, for latency per request class.
    kinds = list(SCENARIOS[scenario]["mix"])
    probes = []
    if len(kinds) > 1 and "BENCH_CODES" in env:
        codes = Path(env["BENCH_CODES"]).read_text().split()
        probes = probe.start(deployment.base, DEFINITIONS["requests"], kinds, codes, DEFINITIONS["list_pages"])
    result = wrk(deployment.base, scenario, connections, duration, env)
    classes = probe.finish(probes)
    ticks = cpu_ticks(deployment.pids) - ticks_before
    result.update(mean_timings(timings_before, timings(deployment.kurz_bases)))
    if deployment.kurz_bases:
        counts_after = counts(deployment.kurz_bases)
        result.update({key: int(counts_after[key] - counts_before[key]) for key in COUNTS})
    if threads_before:
        result["threads"] = busiest_threads(threads_before, thread_times(deployment.pids[:1]), result["duration_s"])
    # Requests wrk abandoned at the end may still be finishing behind nginx: let them land
    # before comparing kurz's redirect counter with the clicks stored.
    time.sleep(1.0)
    result.update(scenario=scenario, target=deployment.name, connections=connections)
    result["rps"] = result["requests"] / result["duration_s"]
    result["cpu_us_per_request"] = ticks / TICKS * 1e6 / max(result["requests"], 1)
    result["errors"] = sum(result[k] for k in ("non_2xx_3xx", "connect_errors", "read_errors", "write_errors", "timeouts"))
    if classes:
        result["classes"] = classes
        result["errors"] += sum(c["errors"] for c in classes.values())
    if deployment.kurz_bases and check_clicks:
        redirects = sum(metric_sum(b, "kurz_http_requests_total", {"route": "/{code}", "status": "302"})
                        for b in deployment.kurz_bases) - redirects_before
        # The writer may still be catching up with a backlog: wait until the count settles.
        clicks, settled_at = -1, time.time()
        while time.time() - settled_at < 3 and clicks != redirects:
            latest = clicks_stored(deployment.kurz_bases) - clicks_before
            if latest != clicks:
                clicks, settled_at = latest, time.time()
            time.sleep(0.5)
        dropped = sum(metric_sum(b, "kurz_clicks_dropped_total", {}) for b in deployment.kurz_bases) - dropped_before
        waits = sum(metric_sum(b, "kurz_click_queue_waits_total", {}) for b in deployment.kurz_bases) - waits_before
        result.update(redirects_answered=int(redirects), clicks_stored=clicks, clicks_dropped=int(dropped),
                      click_queue_waits=int(waits))
    print(
        f"  {scenario:13} {deployment.name:38} c={connections:<4} {result['rps']:>9.0f} req/s  "
        f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:7.2f} ms  "
        f"cpu {result['cpu_us_per_request']:6.1f} µs/req  errors {result['errors']}"
        + (f"  clicks {result['clicks_stored']}/{result['redirects_answered']} (dropped {result['clicks_dropped']})"
           if "clicks_stored" in result else ""),
        flush=True,
    )
    for thread in result.get("threads", []):
        print(f"    thread {thread['thread']:16} running {thread['running']:.2f} of the time, "
              f"waiting for a CPU {thread['waiting']:.2f}", flush=True)
    if "l1_misses" in result:
        print(f"    L1: {result['l1_misses']} visits missed it, {result['l1_refreshes']} links refreshed in the background",
              flush=True)
    for key in TIMINGS:
        for value, mean in result[key].items():
            print(f"    {key[:-1].replace('_', ' ')} {value:14} {mean['calls']:7} calls, {mean['mean_ms']} ms each",
                  flush=True)
    for kind, figures in classes.items():
        print(f"    {kind:11} probe: {figures['requests']:5} requests  p50 {figures['p50_ms']} ms  "
              f"p95 {figures['p95_ms']} ms  p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms  "
              f"errors {figures['errors']}", flush=True)
    return result


def open_loop(deployment, scenario, spec, length, codes_file, work):
    """The capacity search (bench/capacity.py) as one result line: rps is the highest rate passed."""
    codes = Path(codes_file).read_text().split()
    ticks_before = cpu_ticks(deployment.pids)
    result = capacity.search(deployment.base, codes, spec["p99_ms"], spec["start_rps"], spec["step_s"][length],
                             SCENARIOS[scenario]["connections"][0], work)
    ticks = cpu_ticks(deployment.pids) - ticks_before
    result.update(scenario=scenario, target=deployment.name, connections=SCENARIOS[scenario]["connections"][0],
                  duration_s=sum(spec["step_s"][length] for _ in result["steps"]),
                  cpu_us_per_request=ticks / TICKS * 1e6 / max(result["requests"], 1),
                  rps_per_core=result["rps"] / os.cpu_count())
    print(f"  {scenario:13} {deployment.name:38} open loop: {result['rps']} req/s with p99 < {spec['p99_ms']} ms "
          f"({result['rps_per_core']:.0f} per core of {os.cpu_count()}, the load generator included)", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="short runs, small data (CI smoke)")
    parser.add_argument("--targets", default="embedded,postgres,uncached,stack",
                        help="embedded, postgres, uncached (PostgreSQL without Redis or L1), stack")
    parser.add_argument("--output", default=None, help="results file (default bench/results/<name>.jsonl)")
    parser.add_argument("--compare", default=None,
                        help="label=binary,label=binary: run every kurz target once per build, side by side")
    parser.add_argument("--cold-rows", default=",".join(map(str, SCENARIOS["cold"]["rows"])),
                        help="url counts for the cold scenario (PostgreSQL), e.g. 10000,1000000,10000000")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is required (Debian packages: wrk nginx postgresql-client)")
    length = "quick" if args.quick else "full"
    duration = DEFINITIONS["duration_s"][length]
    rows = DEFINITIONS["seeded_urls"][length]
    targets = args.targets.split(",")
    name = "quick" if args.quick else time.strftime("%Y%m%d-%H%M%S")
    output = Path(args.output) if args.output else BENCH / "results" / f"{name}.jsonl"
    output.parent.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    work = tempfile.mkdtemp(prefix="kurz-bench-")
    codes = os.path.join(work, "codes.txt")
    write_codes(codes, rows)
    seeded = {"BENCH_CODES": codes}
    deployers = {"embedded": deploy_embedded, "postgres": deploy_postgres,
                 "uncached": lambda rows, work: deploy_postgres(rows, work, cached=False), "stack": deploy_stack}

    def record(result):
        results.append(result)
        if result["errors"] > DEFINITIONS["max_error_rate"] * result["requests"]:
            failures.append(f"{result['scenario']} on {result['target']}: {result['errors']} errors")
        if "clicks_stored" in result and result["clicks_stored"] != result["redirects_answered"]:
            failures.append(f"{result['scenario']} on {result['target']}: {result['clicks_stored']} clicks stored "
                            f"for {result['redirects_answered']} redirects")

    try:
        if "redirect-hot" in args.scenarios or "reference" in args.scenarios:
            print("reference: nginx answering a static 302", flush=True)
            reference = deploy_reference(work)
            try:
                for connections in SCENARIOS["redirect-hot"]["connections"]:
                    record(measure(reference, "redirect-hot", connections, duration, seeded, check_clicks=False))
            finally:
                reference.stop()
        builds = [tuple(item.split("=", 1)) for item in args.compare.split(",")] if args.compare else [None]
        for target, build in [(t, b) for t in targets for b in builds]:
            if not any(target in spec.get("targets", MAIN_TARGETS)
                       for scenario, spec in SCENARIOS.items() if scenario in args.scenarios):
                continue
            global CURRENT_BUILD
            CURRENT_BUILD = build
            print(f"target: {target}" + (f" [{build[0]}]" if build else ""), flush=True)
            deployment, process = deployers[target](rows, work)
            if build:
                deployment.name += f" [{build[0]}]"
            try:
                for scenario, spec in SCENARIOS.items():
                    if scenario not in args.scenarios or target not in spec.get("targets", MAIN_TARGETS):
                        continue
                    # Only redirects make clicks.
                    check_clicks = "redirect" in spec["mix"]
                    if spec.get("codes") == "generated":
                        for size in sorted(int(n) for n in args.cold_rows.split(",")):
                            grow_urls(deployment.database_url, size)
                            for connections in spec["connections"]:
                                result = measure(deployment, scenario, connections, duration,
                                                 {"BENCH_ROWS": str(size)}, check_clicks)
                                result["urls"] = size
                                record(result)
                    elif "open_loop" in spec:
                        record(open_loop(deployment, scenario, spec["open_loop"], length, codes, work))
                    else:
                        env = dict(seeded)
                        if "pause_ms" in spec:
                            env["BENCH_PAUSE_MS"] = str(spec["pause_ms"])
                        length_s = spec.get("duration_s", {}).get(length, duration)
                        for connections in spec["connections"]:
                            record(measure(deployment, scenario, connections, length_s, env, check_clicks))
                if process is not None:
                    for result in results:
                        if result["target"] == deployment.name:
                            result["peak_rss_mib"] = peak_rss_mib(process.pid)
            finally:
                deployment.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(output, "w") as out:
        for result in results:
            out.write(json.dumps(result) + "\n")
    print(f"results: {output}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"{len(results)} passed, 0 failed")


if __name__ == "__main__":
    main()
