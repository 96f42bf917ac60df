-- quest: the hackathon's load quests' mix — mostly redirects, some list reads, some creates.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require("common")
local counter = 0

request = function()
  local dice = math.random(100)
  if dice <= 90 then
    return wrk.format("GET", "/" .. random_code())
  elseif dice <= 95 then
    return wrk.format("GET", string.format("/urls?page=%d&per_page=10", math.random(50)))
  else
    counter = counter + 1
    local body = string.format('{"original_url":"https://example.com/quest/%d/%d"}', seed, counter)
    return wrk.format("POST", "/urls", {["Content-Type"] = "application/json"}, body)
  end
end
