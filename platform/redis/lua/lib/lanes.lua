-- Gated lanes of a schedule: items a releaser takes only as fast as its lane's budget allows
-- (e.g. paced orders, by the channel's send backlog). `lanes` is a HASH id → "<lane>:<cost>"
-- (lane 1 or 2, cost in the lane's units); each lane is a ZSET id → due time, like `due`.
-- A leased item keeps its entry in `lanes`, so a requeue puts it back in its lane.

-- Takes `id` out of its lane (if it waits in one) and forgets its lane; true if it waited there.
local function ungate(lanes, gated, id)
  local v = redis.call('HGET', lanes, id)
  if not v then return false end
  redis.call('HDEL', lanes, id)
  return redis.call('ZREM', gated[tonumber(string.match(v, '^(%d+):'))], id) == 1
end
