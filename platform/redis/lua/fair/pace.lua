--@keys 1
-- Paces the creators of one channel: weighted fair share of its rate, by creator. KEYS[1] a hash,
-- field: `n:<creator>` (or `a:<minute>:<creator>` for work booked ahead, below), value `tat:weight:start`:
-- the time its booked notifications are paced to (GCRA's theoretical arrival time, ms on Redis's
-- clock), its weight, and when its booking began. A creator is paced while its booked work
-- reaches more than the burst beyond now; the paced creators share the rate by weight.
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

local state = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local tat, weight, start = string.match(flat[i + 1], '^([^:]+):([^:]+):([^:]+)$')
  tat = tonumber(tat)
  if tat == nil or tat < now then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    state[flat[i]] = { tat = tat, weight = tonumber(weight), start = tonumber(start) }
  end
end

-- the weights of the creators paced now (booked beyond the burst, and begun)
local function pacedWeight(except)
  local sum = 0
  for field, s in pairs(state) do
    if field ~= except and s.start <= now and s.tat > now + burst then sum = sum + s.weight end
  end
  return sum
end

local out = {}
local latest = now
for i = 4, #ARGV, 4 do
  local creator = ARGV[i]
  local weight = tonumber(ARGV[i + 1])
  local cost = tonumber(ARGV[i + 2])
  local at = now + math.max(0, tonumber(ARGV[i + 3]) - caller)
  local field = 'n:' .. creator
  if at > now + AHEAD then field = 'a:' .. math.floor(at / 60000) .. ':' .. creator end
  local s = state[field]
  local share = rate * weight / (weight + pacedWeight(field))
  local begin = at
  if s ~= nil and s.tat > at then begin = s.tat end
  local tat = begin + cost * 1000 / share
  local go = at
  if tat - at > burst then go = tat - burst end
  local first = at
  if s ~= nil then first = math.min(s.start, at) end
  state[field] = { tat = tat, weight = weight, start = first }
  redis.call('HSET', KEYS[1], field, string.format('%.0f:%s:%.0f', tat, ARGV[i + 1], first))
  if tat > latest then latest = tat end
  out[#out + 1] = math.floor(go - now + 0.5)
end
-- kept while any creator's booked work lasts (not only this call's)
for _, st in pairs(state) do
  if st.tat > latest then latest = st.tat end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(latest - now) + 60000)
return out
