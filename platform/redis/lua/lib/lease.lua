-- Leases `id` (due at `due`) to a releaser until `lease_until`: out of its waiting set, into
-- `leased`, its due time kept for a requeue; appends id, due time and payload to `out`.
local function lease(waiting, leased, items, due_at, id, due, lease_until, out)
  redis.call('ZREM', waiting, id)
  redis.call('ZADD', leased, lease_until, id)
  redis.call('HSET', due_at, id, due)
  out[#out + 1] = id
  out[#out + 1] = due
  out[#out + 1] = redis.call('HGET', items, id) or ''
end
