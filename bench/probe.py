"""Per-class latency under load: while wrk plays a scenario's mix (and reports one latency
distribution for all of it), one probe per request kind sends that kind alone at a fixed,
low rate on its own keep-alive connection and times each answer. The probes' requests are
a small share of the load (25 a second per kind against thousands), so they measure what
that kind of request waits for in the mix, without changing the mix.

Each latency is one request's, from sending it to reading the whole answer (as wrk counts);
a probe that falls behind its schedule sends at once rather than charging the backlog to
the next requests, so its figures compare with wrk's. (The open-loop view, where waiting
to be sent counts too, is the capacity scenario's.)"""

import http.client
import json
import random
import threading
import time

RATE_PER_KIND = 25  # requests a second, per kind


class Probe(threading.Thread):
    def __init__(self, host, port, kind, request, codes, list_pages):
        super().__init__(daemon=True)
        self.host, self.port, self.kind, self.request = host, port, kind, request
        self.codes, self.list_pages = codes, list_pages
        self.latencies, self.errors = [], 0
        self._halt = threading.Event()
        self._n = 0

    def _render(self, template):
        self._n += 1
        return (template.replace("{code}", random.choice(self.codes))
                .replace("{page}", str(random.randint(1, self.list_pages)))
                .replace("{seed}", f"probe-{self.kind}").replace("{n}", str(self._n)))

    def run(self):
        connection = None
        interval = 1.0 / RATE_PER_KIND
        due = time.perf_counter()
        while not self._halt.is_set():
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            method = self.request["method"]
            path = self._render(self.request["path"])
            body = self._render(json.dumps(self.request["body"])) if "body" in self.request else None
            headers = {"Content-Type": "application/json"} if body else {}
            sent = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    self.errors += 1
                else:
                    self.latencies.append(time.perf_counter() - sent)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                connection = None
            due = max(due + interval, time.perf_counter())

    def stop(self):
        self._halt.set()
        self.join(15)


def start(base, requests, kinds, codes, list_pages):
    host, port = base.removeprefix("http://").split(":")
    probes = [Probe(host, int(port), kind, requests[kind], codes, list_pages) for kind in kinds]
    for probe in probes:
        probe.start()
    return probes


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def finish(probes):
    """{kind: {requests, errors, p50_ms, p95_ms, p99_ms, max_ms}} of the probes, stopped."""
    figures = {}
    for probe in probes:
        probe.stop()
        values = sorted(probe.latencies)
        figures[probe.kind] = {
            "requests": len(values),
            "errors": probe.errors,
            **{f"p{int(q * 100)}_ms": round(percentile(values, q) * 1000, 2) if values else None
               for q in (0.5, 0.95, 0.99)},
            "max_ms": round(values[-1] * 1000, 2) if values else None,
        }
    return figures
