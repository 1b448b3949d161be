-- KEYS: announce announcements leader ; ARGV: token olderThan now limit
-- The leader's claim on cancellations whose announcement their caller did not say it published
-- (kept at olderThan or before): each is kept again from now (so a leader that dies before publishing
-- it leaves it for the next look), and returned as id, announcement pairs. One without its
-- announcement (there is none to publish) is dropped.
--@keys 3
--@include lib/leader.lua

if leader_refused(KEYS[3], ARGV[1]) then return redis.error_reply('NOT_LEADER') end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  local a = redis.call('HGET', KEYS[2], id)
  if a then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = a
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
