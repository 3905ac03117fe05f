-- One atomic rate-limit decision per key, for every key of one batch (all in one hash slot on Redis Cluster).
-- The algorithms mirror dev.ratelimit.limiter exactly; see each function.
--
-- KEYS[i]  the state of counter i (a hash).
-- ARGV[1]  the clock, "<time>" or "<time> <deadline>": time in epoch milliseconds, or "" to take it from Redis TIME
--          (production: one clock for all replicas); deadline, Redis TIME in epoch ms after which the call must not
--          run (the caller has given up and answered by its failure mode), or absent/"" for none.
-- then, for each key in order: algorithm name, hits, limit, number of parameters n, n parameters.
-- Returns {now, then for each key: over (0/1), current, remaining, reset (epoch ms)}.

-- Integers as exact decimal strings (Lua's default number formatting keeps only 14 digits).
local function int(x)
  return string.format('%d', x)
end

local clock_time, clock_deadline = string.match(ARGV[1], '^(%d*) ?(%d*)$')

local function redis_millis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function now_millis()
  if clock_time ~= '' then
    return tonumber(clock_time)
  end
  return redis_millis()
end

-- SlidingWindowLimiter: P slots of slot_ms; hash fields are absolute slot numbers holding counts, plus 'n', the
-- newest slot seen. Counted slots: newest-P .. newest (a ring of P+1). A hit ages out at its slot's end plus the
-- window; rejected hits are not recorded; a clock that stepped back counts into the newest slot; a hit that would not
-- fit the embedded store's slot counter (1, 2 or 4 bytes, counter_max) is rejected there, so it is here too.
local function sliding_window(key, now, hits, limit, params)
  local slot_ms = tonumber(params[1])
  local precision = tonumber(params[2])
  local counter_max = tonumber(params[3])
  local slot = math.floor(now / slot_ms)
  local raw = redis.call('HGETALL', key)
  local exists = #raw > 0
  local newest = 0
  local counts = {}
  for i = 1, #raw, 2 do
    if raw[i] == 'n' then
      newest = tonumber(raw[i + 1])
    else
      local s = tonumber(raw[i])
      if s then -- other fields (a penalty's) are not slots
        counts[s] = tonumber(raw[i + 1])
      end
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
  local admitted = hits <= limit - current and hits <= counter_max - (counts[newest] or 0)
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

-- FixedWindowLimiter: windows aligned to the epoch; fields 'w' (window index) and 'c' (hits admitted in it). A clock
-- that stepped back keeps counting into the newest window.
local function fixed_window(key, now, hits, limit, params)
  local window_ms = tonumber(params[1])
  local window = math.floor(now / window_ms)
  local raw = redis.call('HMGET', key, 'w', 'c')
  local stored = tonumber(raw[1]) or 0
  local current = window
  if window < stored then
    current = stored
  end
  local count = 0
  if current == stored then
    count = tonumber(raw[2]) or 0
  end
  local admitted = hits <= limit - count
  if admitted and hits > 0 then
    count = count + hits
    redis.call('HSET', key, 'w', int(current), 'c', int(count))
    redis.call('PEXPIRE', key, int((current + 1) * window_ms - now))
  end
  return admitted and 0 or 1, count, limit - count, (current + 1) * window_ms
end

local function ceil_div(a, b)
  if a <= 0 then
    return 0
  end
  return math.floor((a - 1) / b) + 1
end

-- TokenBucketLimiter: fields 't' (tokens) and 's' (start of the current refill interval); the key expires when the
-- bucket is full again and then restarts at the initial tokens. The capacity is the limit.
local function token_bucket(key, now, hits, limit, params)
  local initial = tonumber(params[1])
  local refill = tonumber(params[2])
  local interval = tonumber(params[3])
  local raw = redis.call('HMGET', key, 't', 's')
  local fresh = raw[1] == false
  local tokens, start
  if fresh then
    tokens = math.min(initial, limit)
    start = now
  else
    tokens = math.min(tonumber(raw[1]), limit)
    start = tonumber(raw[2])
    -- A clock that stepped back refills nothing until it passes the interval start again.
    local elapsed = 0
    if now > start then
      elapsed = math.floor((now - start) / interval)
    end
    if elapsed > 0 then
      if elapsed >= ceil_div(limit - tokens, refill) then
        tokens = limit
      else
        tokens = tokens + elapsed * refill
      end
      start = start + elapsed * interval
    end
  end
  local admitted = hits <= tokens
  if admitted then
    tokens = tokens - hits
  end
  if hits > 0 or not fresh then
    local full_at = start + math.max(1, ceil_div(limit - tokens, refill)) * interval
    redis.call('HSET', key, 't', int(tokens), 's', int(start))
    redis.call('PEXPIRE', key, int(full_at - now))
  end
  local reset = start + interval
  if tokens >= limit then
    reset = now
  end
  return admitted and 0 or 1, limit - tokens, tokens, reset
end

local algorithms = { sliding_window = sliding_window, fixed_window = fixed_window, token_bucket = token_bucket }

-- The key's expiry on the script's clock (0 when it has none or does not exist).
local function expiry(key, now)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    return 0
  end
  return now + ttl
end

local function expire_at_least(key, now, at)
  if at > now and expiry(key, now) < at then
    redis.call('PEXPIRE', key, int(at - now))
  end
end

-- PenaltyLimiter around any algorithm above, in the same hash: 'pu' (penalty end), 'pw' (window the rejected hits
-- are counted in), 'ph' (rejected hits there). Parameters: threshold (rejected hits in one window beyond which the
-- penalty starts, computed by the caller for this limit), duration, window, inner algorithm name, then the inner
-- algorithm's parameters. The key expires at the latest of the inner expiry, the penalty end and the rejection
-- window's end.
local function penalty(key, now, hits, limit, params)
  local threshold = tonumber(params[1])
  local duration = tonumber(params[2])
  local window_ms = tonumber(params[3])
  local inner = algorithms[params[4]]
  local inner_params = {}
  for i = 5, #params do
    inner_params[#inner_params + 1] = params[i]
  end
  local raw = redis.call('HMGET', key, 'pu', 'pw', 'ph')
  local untl = tonumber(raw[1]) or 0
  local rejected_window = tonumber(raw[2]) or 0
  local rejected_hits = tonumber(raw[3]) or 0
  if untl > now then
    local over, current, remaining, reset = inner(key, now, 0, limit, inner_params)
    -- Reading may move the inner algorithm's expiry (a refilled bucket expires early); the penalty must outlive it.
    expire_at_least(key, now, untl)
    return 1, current, math.min(0, remaining), math.max(untl, reset)
  end
  local over, current, remaining, reset = inner(key, now, hits, limit, inner_params)
  if over == 0 or hits == 0 then
    -- The inner algorithm may have set an expiry before the end of a window that still counts rejections.
    if rejected_hits > 0 then
      expire_at_least(key, now, (rejected_window + 1) * window_ms)
    end
    return over, current, remaining, reset
  end
  local window = math.floor(now / window_ms)
  local rejected = hits
  if rejected_window == window then
    rejected = rejected_hits + hits
  end
  local keep = (window + 1) * window_ms
  if rejected > threshold then
    untl = now + duration
    redis.call('HSET', key, 'pu', int(untl), 'pw', int(window), 'ph', '0')
    expire_at_least(key, now, math.max(keep, untl))
    return 1, current, math.min(0, remaining), math.max(untl, reset)
  end
  redis.call('HSET', key, 'pw', int(window), 'ph', int(rejected))
  expire_at_least(key, now, keep)
  return over, current, remaining, reset
end

algorithms.penalty = penalty

-- A call Redis runs after its deadline was already answered by the caller's failure mode: it must not count.
if clock_time == nil then
  return redis.error_reply('ERR the clock argument must be "<time>" or "<time> <deadline>"')
end
if clock_deadline ~= '' and redis_millis() > tonumber(clock_deadline) then
  return redis.error_reply('EXPIRED the caller gave up on this call before Redis ran it; nothing was counted')
end

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
