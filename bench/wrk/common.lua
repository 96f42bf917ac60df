-- Shared by every scenario: a per-thread random seed, the list of codes to ask for, and a
-- JSON summary at the end (latency percentiles in microseconds, counts).
local codes = {}

function load_codes()
  local path = os.getenv("BENCH_CODES")
  if path then
    for line in io.lines(path) do codes[#codes + 1] = line end
  end
end

function random_code()
  return codes[math.random(#codes)]
end

local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("seed", thread_counter * 7919 + os.time())
end

function init(args)
  math.randomseed(seed)
  load_codes()
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_s":%.3f,"non_2xx_3xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration / 1e6, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
