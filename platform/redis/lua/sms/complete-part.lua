-- KEYS: parts ; ARGV: partId stat now leaseMs holder
-- Records a part's receipt. When that completes the notification (no part pending), claims its
-- report for leaseMs and returns { 'report', id1, state1, id2, state2, ... }; the caller
-- publishes, then marks it reported. Otherwise returns { 'pending' } (parts still to come),
-- { 'reported' } (published already), or { 'busy' } (another receipt of it is being reported
-- now: the caller does not acknowledge this one, so the SMSC delivers it again, and by then the
-- report is done, or its holder died and its claim has lapsed). One script, so two receipts
-- completing the same notification at once report it once.
-- A claim records its holder (a tracker's token): the same holder, which passes its token only
-- when it has no publish of this notification under way, takes its own claim again at once (its
-- publish failed, or Redis went away before the claim could be let go), instead of waiting out
-- the lease with the partition behind it. An empty holder is never its own.
-- The parts of a notification reported already are let go soon after its report (its refs are
-- deleted, its parts kept an hour): a receipt that found a ref just before, and finds no parts
-- now, gets { 'reported' } and writes nothing.
--@keys 1

if redis.call('EXISTS', KEYS[1]) == 0 then return { 'reported' } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local states = { 'report' }
local reported, claim, holder = false, nil, nil
for i = 1, #all, 2 do
  local k, v = all[i], all[i + 1]
  if k == '_reported' then
    reported = true
  elseif k == '_claim' then
    claim = tonumber(v)
  elseif k == '_claimBy' then
    holder = v
  elseif string.sub(k, 1, 1) ~= '_' then
    if v == 'pending' then return { 'pending' } end
    states[#states + 1] = k
    states[#states + 1] = v
  end
end
if reported then return { 'reported' } end
local own = ARGV[5] ~= nil and ARGV[5] ~= '' and holder == ARGV[5]
if claim and claim > tonumber(ARGV[3]) and not own then return { 'busy' } end
redis.call('HSET', KEYS[1], '_claim', tonumber(ARGV[3]) + tonumber(ARGV[4]), '_claimBy', ARGV[5] or '')
return states
