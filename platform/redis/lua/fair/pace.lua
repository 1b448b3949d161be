--@keys 3
-- Paces the creators of one channel: weighted fair share of its rate, by creator. KEYS[1] a hash,
-- field `n:<creator>`, value `tat:weight:start`: the time its booked notifications are paced to
-- (GCRA's theoretical arrival time, ms on Redis's clock), its weight, and when its booking began.
-- A creator is paced while its booked work reaches more than the burst beyond now; the paced
-- creators share the rate by weight. Work for more than a minute ahead is booked in that
-- minute's own bucket: KEYS[2] a hash, field `<minute>:<creator>`, the same value; read only by
-- the field an item needs (it holds every creator's future minutes, so never read whole) and
-- pruned a few fields per call from the HSCAN cursor kept in KEYS[3]. (Fields `a:<minute>:<creator>`
-- in KEYS[1] are such buckets as an earlier version kept them; they go once their time passes.)
-- ARGV[1] the channel's rate (notifications/s), ARGV[2] the burst (ms), ARGV[3] the caller's
-- clock (ms), then per item four values: creator, weight, cost (notifications), the item's send
-- time on the caller's clock (ms).
-- Returns, per item, when it may go: ms after the caller's clock reading (the send times are
-- taken relative to it, so the two clocks need not agree).
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local caller = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- work for later than this is booked in the minute it falls in, apart from today's pace
local AHEAD = 60000

-- a booking's state (nil when its time has passed)
local function parse(v)
  local tat, weight, start = string.match(v or '', '^([^:]+):([^:]+):([^:]+)$')
  tat = tonumber(tat)
  if tat == nil or tat < now then return nil end
  return { tat = tat, weight = tonumber(weight), start = tonumber(start) }
end

local state = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local st = parse(flat[i + 1])
  if st == nil then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    state[flat[i]] = st
  end
end

-- a few of the buckets booked ahead whose time has passed go, from where the last call stopped
local scan = redis.call('HSCAN', KEYS[2], redis.call('GET', KEYS[3]) or '0', 'COUNT', 50)
for i = 1, #scan[2], 2 do
  if parse(scan[2][i + 1]) == nil then redis.call('HDEL', KEYS[2], scan[2][i]) end
end

-- a creator paced now (booked beyond the burst, and begun) weighs in the sharing
local function weighs(s)
  if s ~= nil and s.start <= now and s.tat > now + burst then return s.weight end
  return 0
end
-- the weights of the creators paced now, kept as bookings change them (not summed per item)
local paced = 0
for _, s in pairs(state) do paced = paced + weighs(s) end

local ahead = {}
local aheadLatest = 0
-- fields changed, written once each at the end
local written = { {}, {} }
local out = {}
local latest = now
for i = 4, #ARGV, 4 do
  local creator = ARGV[i]
  local weight = tonumber(ARGV[i + 1])
  local cost = tonumber(ARGV[i + 2])
  local at = now + math.max(0, tonumber(ARGV[i + 3]) - caller)
  local later = at > now + AHEAD
  local field, s
  if later then
    -- the minute of its send time as the caller gave it: the same bucket whenever it is booked
    field = math.floor(tonumber(ARGV[i + 3]) / 60000) .. ':' .. creator
    if ahead[field] == nil then ahead[field] = parse(redis.call('HGET', KEYS[2], field)) or false end
    s = ahead[field] or nil
  else
    field = 'n:' .. creator
    s = state[field]
  end
  local own = weighs(s)
  local share = rate * weight / (weight + paced - own)
  local begin = at
  if s ~= nil and s.tat > at then begin = s.tat end
  local tat = begin + cost * 1000 / share
  local go = at
  if tat - at > burst then go = tat - burst end
  local first = at
  if s ~= nil then first = math.min(s.start, at) end
  local value = string.format('%.0f:%s:%.0f', tat, ARGV[i + 1], first)
  if later then
    ahead[field] = { tat = tat, weight = weight, start = first }
    written[2][field] = value
    if tat > aheadLatest then aheadLatest = tat end
  else
    state[field] = { tat = tat, weight = weight, start = first }
    paced = paced - own + weighs(state[field])
    written[1][field] = value
    if tat > latest then latest = tat end
  end
  out[#out + 1] = math.floor(go - now + 0.5)
end
for k = 1, 2 do
  for field, value in pairs(written[k]) do redis.call('HSET', KEYS[k], field, value) end
end
-- kept while any creator's booked work lasts (not only this call's)
for _, st in pairs(state) do
  if st.tat > latest then latest = st.tat end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(latest - now) + 60000)
-- the buckets ahead, and the cursor over them, while the latest of them lasts
local keep = math.max(redis.call('PTTL', KEYS[2]), math.ceil(aheadLatest - now) + 60000)
if keep > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], keep)
  redis.call('SET', KEYS[3], scan[1], 'PX', keep)
else
  redis.call('DEL', KEYS[3])
end
return out
