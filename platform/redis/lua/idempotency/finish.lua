-- KEYS: key ; ARGV: retentionMs
-- Marks a claim done, keeping only its answer, for retentionMs.
--@keys 1

local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local v = cjson.decode(cur)
redis.call('SET', KEYS[1], cjson.encode({ state = 'done', body = v.body }), 'PX', ARGV[1])
return 1
