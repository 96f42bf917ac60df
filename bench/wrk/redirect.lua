-- redirect-hot / cold: GET /<code> for random codes of the list; redirects are not followed.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require("common")

request = function()
  return wrk.format("GET", "/" .. random_code())
end
