-- One atomic rate-limit decision per key, for every key of one batch (all in one hash slot on Redis Cluster).
-- The algorithms mirror dev.ratelimit.limiter exactly; see each function.
--
-- KEYS[i]  the state of counter i (a hash).
-- ARGV[1]  the time in epoch milliseconds, or "" to take it from Redis TIME (production: one clock for all replicas).
-- then, for each key in order: algorithm name, hits, limit, number of parameters n, n parameters.
-- Returns {now, then for each key: over (0/1), current, remaining, reset (epoch ms)}.

-- Integers as exact decimal strings (Lua's default number formatting keeps only 14 digits).
local function int(x)
  return string.format('%d', x)
end

local function now_millis()
  if ARGV[1] ~= '' then
    return tonumber(ARGV[1])
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- SlidingWindowLimiter: P slots of slot_ms; hash fields are absolute slot numbers holding counts, plus 'n', the
-- newest slot seen. Counted slots: newest-P .. newest (a ring of P+1). A hit ages out at its slot's end plus the
-- window; rejected hits are not recorded; a clock that stepped back counts into the newest slot.
local function sliding_window(key, now, hits, limit, params)
  local slot_ms = tonumber(params[1])
  local precision = tonumber(params[2])
  local slot = math.floor(now / slot_ms)
  local raw = redis.call('HGETALL', key)
  local exists = #raw > 0
  local newest = 0
  local counts = {}
  for i = 1, #raw, 2 do
    if raw[i] == 'n' then
      newest = tonumber(raw[i + 1])
    else
      counts[tonumber(raw[i])] = tonumber(raw[i + 1])
    end
  end
  local advanced = slot > newest
  if advanced then
    newest = slot
  end
  local oldest = newest - precision
  local current = 0
  local stale = {}
  for s, c in pairs(counts) do
    if s < oldest then
      stale[#stale + 1] = s
      counts[s] = nil
    else
      current = current + c
    end
  end
  local admitted = hits <= limit - current
  local record = admitted and hits > 0
  if record or exists then
    if #stale > 0 then
      redis.call('HDEL', key, unpack(stale))
    end
    if advanced or not exists then
      redis.call('HSET', key, 'n', int(newest))
    end
  end
  if record then
    redis.call('HINCRBY', key, int(newest), int(hits))
    counts[newest] = (counts[newest] or 0) + hits
    current = current + hits
    -- The state expires when its newest slot ages out, relative to this script's clock.
    redis.call('PEXPIRE', key, int((newest + 1 + precision) * slot_ms - now))
  end
  local reset = now
  for s = oldest, newest do
    if counts[s] and counts[s] ~= 0 then
      reset = (s + 1 + precision) * slot_ms
      break
    end
  end
  return admitted and 0 or 1, current, limit - current, reset
end

local algorithms = { sliding_window = sliding_window }

-- Parse and check the whole batch before writing anything, so a bad argument cannot leave it half applied.
local calls = {}
local a = 2
for k = 1, #KEYS do
  local algorithm = algorithms[ARGV[a]]
  if not algorithm then
    return redis.error_reply('ERR unknown rate-limit algorithm ' .. tostring(ARGV[a]))
  end
  local n = tonumber(ARGV[a + 3])
  local params = {}
  for i = 1, n do
    params[i] = ARGV[a + 3 + i]
  end
  calls[k] = { algorithm, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), params }
  a = a + 4 + n
end
if a - 1 ~= #ARGV then
  return redis.error_reply('ERR rate-limit arguments do not match the keys')
end

local now = now_millis()
local out = { now }
for k = 1, #KEYS do
  local c = calls[k]
  local over, current, remaining, reset = c[1](KEYS[k], now, c[2], c[3], c[4])
  out[#out + 1] = over
  out[#out + 1] = current
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
