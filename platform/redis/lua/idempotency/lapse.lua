-- KEYS: key
-- Ends the lease of a claim whose holder could not finish it (its write failed, or whether the
-- write took is unknown), so the next request for the key takes it over at once and writes the
-- claimed records again, instead of waiting out the lease. A done key is left as it is.
--@keys 1

local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) == '=' then return 0 end
local v = cjson.decode(cur)
if v.state ~= 'pending' then return 0 end
v.lease = 0
redis.call('SET', KEYS[1], cjson.encode(v), 'KEEPTTL')
return 1
