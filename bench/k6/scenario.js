// Builds a k6 test from one scenario of bench/scenarios.json, the definitions bench/run.py
// drives wrk with, so that both tools send the same mix at the same concurrency steps, for
// the same durations, under the same error budget.
//
// Environment (k6 run -e NAME=value):
//   KURZ_URL    base URL of kurz (default http://127.0.0.1:5000)
//   KURZ_CODES  codes file, one a line (bench/seed.py writes it), for scenarios over seeded codes
//   KURZ_ROWS   for generated codes (cold): how many urls were seeded (default the first size)
//   KURZ_QUICK  1: the quick durations (seconds), as bench/run.py --quick
import http from 'k6/http';
import { sleep } from 'k6';
import { SharedArray } from 'k6/data';

// The entry scripts sit beside this file, so the path means the same whether k6 resolves
// open() from the entry script or from this module.
const definitions = JSON.parse(open('../scenarios.json'));

const baseUrl = (__ENV.KURZ_URL || 'http://127.0.0.1:5000').replace(/\/+$/, '');
const length = __ENV.KURZ_QUICK === '1' ? 'quick' : 'full';
const timeoutSeconds = definitions.request_timeout_s;

// k6 resolves a relative open() path from the script, not from where k6 was started: take
// the shell's directory so that KURZ_CODES=seed/codes.txt means what it says.
function fromWorkingDirectory(path) {
  return path.startsWith('/') || !__ENV.PWD ? path : `${__ENV.PWD}/${path}`;
}

function seededCodes() {
  if (!__ENV.KURZ_CODES) {
    throw new Error('KURZ_CODES is required: the codes file bench/seed.py wrote for the seeded urls');
  }
  const path = fromWorkingDirectory(__ENV.KURZ_CODES);
  // One copy for every VU, not one each.
  const codes = new SharedArray('codes', () => open(path).split('\n').filter((line) => line !== ''));
  return () => codes[Math.floor(Math.random() * codes.length)];
}

function generatedCodes(spec) {
  const rows = Number(__ENV.KURZ_ROWS || spec.rows[0]);
  // bench/seed.py's format: any of them exists, and few are cached.
  return () => `c${(1 + Math.floor(Math.random() * rows)).toString(16).padStart(7, '0')}`;
}

function usesCodes(spec) {
  return Object.keys(spec.mix).some((kind) => {
    const request = definitions.requests[kind];
    return `${request.path}${JSON.stringify(request.body || '')}`.includes('{code}');
  });
}

// One test step per concurrency step, one after the other: a closed model like wrk's, where
// a VU is a connection sending its next request when the answer to the last one arrives.
function stepOptions(name, spec) {
  const durationSeconds = (spec.duration_s || definitions.duration_s)[length];
  const scenarios = {};
  const failedRate = definitions.max_error_rate === 0 ? 'rate==0' : `rate<=${definitions.max_error_rate}`;
  const thresholds = { http_req_failed: [failedRate] };
  spec.connections.forEach((vus, index) => {
    const step = `${name}-c${vus}`;
    scenarios[step] = {
      executor: 'constant-vus',
      vus,
      duration: `${durationSeconds}s`,
      // Requests still out when a step ends get the request timeout before the next starts.
      startTime: `${index * (durationSeconds + timeoutSeconds)}s`,
      gracefulStop: `${timeoutSeconds}s`,
    };
    thresholds[`http_req_failed{scenario:${step}}`] = [failedRate];
    // Always true: a threshold on the step's own latencies is what puts its p95 and p99 in
    // the end-of-test summary.
    thresholds[`http_req_duration{scenario:${step}}`] = ['max>=0'];
  });
  return {
    scenarios,
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
    // A 302 is the answer being measured, not a step towards another page.
    maxRedirects: 0,
    // Like wrk: bodies are read, never kept.
    discardResponseBodies: true,
  };
}

export function scenarioTest(name) {
  const spec = definitions.scenarios[name];
  if (!spec) {
    throw new Error(`no scenario ${name} in bench/scenarios.json`);
  }
  let randomCode = () => {
    throw new Error(`scenario ${name} has no codes`);
  };
  if (usesCodes(spec)) {
    randomCode = spec.codes === 'generated' ? generatedCodes(spec) : seededCodes();
  }
  let created = 0;
  const startedAt = Math.floor(Date.now() / 1000);
  const placeholders = {
    code: () => randomCode(),
    page: () => 1 + Math.floor(Math.random() * definitions.list_pages),
    // __VU is only meaningful once the VU runs; the start time tells runs apart.
    seed: () => __VU * 7919 + startedAt,
    n: () => {
      created += 1;
      return created;
    },
  };
  const fill = (template) =>
    template.replace(/\{(\w+)\}/g, (_, placeholder) => {
      if (!placeholders[placeholder]) {
        throw new Error(`unknown placeholder {${placeholder}} in bench/scenarios.json`);
      }
      return String(placeholders[placeholder]());
    });

  let totalWeight = 0;
  const kinds = Object.entries(spec.mix).map(([kind, weight]) => {
    const request = definitions.requests[kind];
    totalWeight += weight;
    const body = request.body === undefined ? null : JSON.stringify(request.body);
    return {
      upTo: totalWeight,
      method: request.method,
      path: request.path,
      body,
      params: {
        redirects: 0,
        timeout: `${timeoutSeconds}s`,
        // One series per kind of request, not one per URL.
        tags: { name: kind },
        headers: body === null ? {} : { 'Content-Type': 'application/json' },
      },
    };
  });

  function iteration() {
    const dice = Math.random() * totalWeight;
    const kind = kinds.find((candidate) => dice < candidate.upTo);
    http.request(kind.method, `${baseUrl}${fill(kind.path)}`, kind.body === null ? null : fill(kind.body), kind.params);
    // A scenario with a pause: each VU is a user who waits after each answer.
    if (spec.pause_ms) {
      sleep(spec.pause_ms / 1000);
    }
  }

  // Fails fast when the store was not seeded as the scenario expects (every redirect would
  // be a 404) or kurz is not there.
  function setup() {
    if (!usesCodes(spec)) {
      return;
    }
    const code = randomCode();
    const answer = http.get(`${baseUrl}/${code}`, { redirects: 0, timeout: `${timeoutSeconds}s` });
    if (answer.status !== 302) {
      throw new Error(`GET ${baseUrl}/${code} answered ${answer.status}, not 302: seed the urls first (bench/k6/README.md)`);
    }
  }

  return { options: stepOptions(name, spec), iteration, setup };
}
