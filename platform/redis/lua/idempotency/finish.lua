-- KEYS: key ; ARGV: retentionMs
-- Marks a claim done, keeping only its answer ('=' .. body), for retentionMs.
--@keys 1

local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if string.sub(cur, 1, 1) == '=' then return 0 end
local v = cjson.decode(cur)
if v.state ~= 'pending' then return 0 end
-- only the answer is kept, as it is, behind '=' (JSON inside JSON would escape every quote)
redis.call('SET', KEYS[1], '=' .. v.body, 'PX', ARGV[1])
return 1
