-- Gated lanes (see lib/lanes.lua): a leased item keeps its entry in `lanes` until it is released.

-- Puts `id` back to wait at `at`: in its lane if it has one, else in `due`.
local function requeue_to(due, lanes, gated, id, at)
  local v = redis.call('HGET', lanes, id)
  if v then
    redis.call('ZADD', gated[tonumber(string.match(v, '^(%d+):'))], at, id)
  else
    redis.call('ZADD', due, at, id)
  end
end
