-- Makes `id` final: its payload and due time dropped, recorded in `final` at `at` with `result`.
local function finalize(items, due_at, final, outcome, id, at, result)
  redis.call('HDEL', items, id)
  redis.call('HDEL', due_at, id)
  redis.call('ZADD', final, at, id)
  redis.call('HSET', outcome, id, result)
end
