-- KEYS: due leased items final outcome passing lanes gated1 gated2 announce announcements
-- ARGV: now id announcement ('' for none)
-- An announcement (what the caller will publish of the cancellation, opaque here) is kept with
-- the cancellation until the caller says it is published (`announced`): a caller that dies or
-- gives up between the two leaves it for the releaser's leader to publish (`claim-announcements`),
-- so a cancelled item's order is never left shown waiting. A first one is kept; its time, too.
--@keys 11
--@include lib/lanes.lua

local function keep_announcement()
  if ARGV[3] == '' then return end
  redis.call('ZADD', KEYS[10], 'NX', ARGV[1], ARGV[2])
  redis.call('HSETNX', KEYS[11], ARGV[2], ARGV[3])
end

local state = redis.call('HGET', KEYS[5], ARGV[2])
if state == 'cancelled' then
  -- written again, the same: a write replicated, so the caller's WAIT after it covers the first
  -- cancellation too, whichever connection (another gateway's) made it. (Redis 7.0 moves a
  -- connection's WAIT offset to the newest write after any command it runs; later versions only
  -- after a command of its own that replicates something.)
  redis.call('HSET', KEYS[5], ARGV[2], 'cancelled')
  keep_announcement()
  return 'already-cancelled'
end
if state == 'released' then return 'released' end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) or redis.call('ZSCORE', KEYS[6], ARGV[2]) then return 'in-flight' end
local waited = redis.call('ZREM', KEYS[1], ARGV[2]) == 1
if ungate(KEYS[7], { KEYS[8], KEYS[9] }, ARGV[2]) then waited = true end
if waited then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[5], ARGV[2], 'cancelled')
  keep_announcement()
  return 'cancelled'
end
-- Not scheduled yet (its order record is still on the way): a tombstone keeps it from ever
-- being scheduled.
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], 'cancelled')
keep_announcement()
return 'cancelled-before-scheduled'
