-- KEYS: key ; ARGV: leaseUntil records body now retentionMs
-- new: claimed with a lease (JSON {state = 'pending', lease, records, body});
-- done: its body; a live lease: busy; a lapsed lease: taken over.
--@keys 1

local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], cjson.encode({ state = 'pending', lease = tonumber(ARGV[1]), records = ARGV[2], body = ARGV[3] }),
    'PX', ARGV[5])
  return { 'claimed' }
end
-- done: '=' and the answer (written before as JSON {state = 'done', body})
if string.sub(cur, 1, 1) == '=' then return { 'done', string.sub(cur, 2) } end
local v = cjson.decode(cur)
if v.state == 'done' then return { 'done', v.body } end
if v.lease > tonumber(ARGV[4]) then return { 'busy' } end
v.lease = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(v), 'PX', ARGV[5])
return { 'takeover', v.records, v.body }
