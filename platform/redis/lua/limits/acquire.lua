--@keys 2
-- Takes a permit of a provider account's limits, shared by every instance: KEYS[1] a sorted set
-- of the permits under way (member: holder id, score: when its lease lapses, µs), KEYS[2] the
-- time the next start slot is free (µs, Redis's own clock so instances need no common clock).
-- ARGV: holder, window (0: none), lease µs, interval µs between starts, slots to book.
-- Returns {1, wait µs before the first booked slot} or {0, µs worth waiting before asking again}.
local holder = ARGV[1]
local window = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
local slots = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

if window > 0 then
  -- leases of holders that died lapse
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= window then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return { 0, tonumber(first[2]) - now }
  end
end

local free = tonumber(redis.call('GET', KEYS[2]) or '0')
local at = math.max(now, free)
local after = at + interval * slots
redis.call('SET', KEYS[2], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1000)
if window > 0 then
  redis.call('ZADD', KEYS[1], string.format('%.0f', at + lease), holder)
  redis.call('PEXPIRE', KEYS[1], math.ceil((at + lease - now) / 1000) + 1000)
end
return { 1, at - now }
