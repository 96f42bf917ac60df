-- create: POST /urls with a generated code each time (the audit event in the same transaction).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require("common")
local counter = 0

request = function()
  counter = counter + 1
  local body = string.format('{"original_url":"https://example.com/bench/%d/%d"}', seed, counter)
  return wrk.format("POST", "/urls", {["Content-Type"] = "application/json"}, body)
end
