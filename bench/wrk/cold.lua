-- cold: every request a random code among BENCH_ROWS generated ones (c0000001 …), so
-- nearly every lookup misses the caches and reaches the database.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require("common")
local rows = tonumber(os.getenv("BENCH_ROWS") or "10000")

request = function()
  return wrk.format("GET", string.format("/c%07x", math.random(rows)))
end
