-- Plays one scenario of bench/scenarios.json, as bench/run.py passes it: the script arguments
-- are its mix, four per request kind (weight, method, path, body or ""); the environment names
-- the codes (BENCH_CODES, a file of seeded codes, or else any of the first BENCH_ROWS generated
-- ones) and BENCH_LIST_PAGES. Redirects are never followed (wrk does not).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require("result")

local codes, generated_rows, list_pages = {}, nil, 1
local created = 0

local placeholders = {
  code = function()
    if generated_rows then
      -- bench/seed.py's format: any of them exists, and few are cached.
      return string.format("c%07x", math.random(generated_rows))
    end
    return codes[math.random(#codes)]
  end,
  page = function() return math.random(list_pages) end,
  seed = function() return seed end,
  n = function() created = created + 1; return created end,
}

-- Turned once into a string.format pattern and its value functions, so that a request costs
-- a format call, as in hand-written scripts, not a pattern substitution.
local function compile(template)
  local fill = {}
  local pattern = template:gsub("%%", "%%%%"):gsub("{(%w+)}", function(name)
    fill[#fill + 1] = assert(placeholders[name], "unknown placeholder {" .. name .. "}")
    return "%s"
  end)
  return {pattern = pattern, fill = fill}
end

local function render(compiled)
  local values = {}
  for i, value in ipairs(compiled.fill) do values[i] = value() end
  return string.format(compiled.pattern, unpack(values))
end

local kinds, total_weight = {}, 0

local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("seed", thread_counter * 7919 + os.time())
end

function init(args)
  math.randomseed(seed)
  local path = os.getenv("BENCH_CODES")
  if path then
    for line in io.lines(path) do codes[#codes + 1] = line end
  else
    generated_rows = tonumber(os.getenv("BENCH_ROWS"))
  end
  list_pages = tonumber(os.getenv("BENCH_LIST_PAGES") or "1")
  for i = 1, #args, 4 do
    total_weight = total_weight + tonumber(args[i])
    local kind = {upto = total_weight, method = args[i + 1], path = compile(args[i + 2])}
    if args[i + 3] ~= "" then
      kind.body = compile(args[i + 3])
      kind.headers = {["Content-Type"] = "application/json"}
    end
    kinds[#kinds + 1] = kind
  end
  assert(total_weight > 0, "no request mix given after --")
end

function request()
  local dice = math.random(total_weight)
  for _, kind in ipairs(kinds) do
    if dice <= kind.upto then
      return wrk.format(kind.method, render(kind.path), kind.headers, kind.body and render(kind.body))
    end
  end
end

-- A scenario with a pause (BENCH_PAUSE_MS) makes each connection a user who waits that long
-- after each answer before the next request, as the original team's load test did.
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")
if pause then
  function delay() return pause end
end
