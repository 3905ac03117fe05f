-- One atomic rate-limit decision per key, for every key of one batch (all in one hash slot on Redis Cluster).
-- The algorithms mirror dev.ratelimit.limiter exactly; see each function.
--
-- KEYS[i]  the state of counter i (a hash).
-- ARGV[1]  the clock, "<time>" or "<time> <deadline>": time in epoch milliseconds, or "" to take it from Redis TIME
--          (production: one clock for all replicas); deadline, Redis TIME in epoch ms after which the call must not
--          run (the caller has given up and answered by its failure mode), or absent/"" for none.
-- ARGV[2]  the batch mode: 'independent' (each key decided on its own), 'nowhere' (when an enforcing key rejects, the
--          hits the other keys admitted are taken back in this same call: a rejected request counts nowhere),
--          'rejected' (the request is rejected already, e.g. by the caller's over-limit cache: decide every key, then
--          take every admitted hit back) or 'refund' (take back each key's hits, recorded earlier at ARGV[1]'s time).
-- then, for each key in order: algorithm name, hits, limit, enforcing (1/0), number of parameters n, n parameters.
-- Returns {now, then for each key: over (0/1), current, remaining, reset (epoch ms)} ({now} for 'refund').

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

-- Takes back hits recorded at 'now': from the slot of that time, where they went unless a newer slot had started
-- (then into the newest slot of that moment), the remainder from the following slots, oldest first. A slot taken
-- from in error is older than the right one, so the error can only keep a hit longer, never free one early.
local function sliding_window_refund(key, now, hits, limit, params)
  local newest = tonumber(redis.call('HGET', key, 'n'))
  if not newest then
    return
  end
  local remaining = hits
  local s = math.max(math.floor(now / tonumber(params[1])), newest - tonumber(params[2]))
  while s <= newest and remaining > 0 do
    local count = tonumber(redis.call('HGET', key, int(s))) or 0
    local taken = math.min(remaining, count)
    if taken > 0 then
      if taken == count then
        redis.call('HDEL', key, int(s))
      else
        redis.call('HINCRBY', key, int(s), int(-taken))
      end
      remaining = remaining - taken
    end
    s = s + 1
  end
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

-- Takes back hits from the window they went to; a newer window has forgotten them anyway.
local function fixed_window_refund(key, now, hits, limit, params)
  local raw = redis.call('HMGET', key, 'w', 'c')
  if tonumber(raw[1]) == math.floor(now / tonumber(params[1])) then
    redis.call('HSET', key, 'c', int(math.max(0, (tonumber(raw[2]) or 0) - hits)))
  end
end

local function ceil_div(a, b)
  if a <= 0 then
    return 0
  end
  return math.floor((a - 1) / b) + 1
end

-- TokenBucketLimiter: fields 't' (tokens), 's' (start of the current refill interval), 'e' (forget time) and 'c'
-- (capacity at the last write). The capacity is the limit; the initial tokens may exceed it, refills never go above
-- it. A key whose forget time has come (e <= now, on this script's clock) is a new bucket, whether or not Redis has
-- expired it yet: the TTL only frees memory, it never decides.
local NEVER = 2 ^ 53 -- a forget time this far means never (TokenBucketLimiter.NEVER, Limiter.MAX_EXACT)

local function token_bucket(key, now, hits, limit, params)
  local initial = tonumber(params[1])
  local refill = tonumber(params[2])
  local interval = tonumber(params[3])
  local raw = redis.call('HMGET', key, 't', 's', 'e', 'c')
  local forget_at = tonumber(raw[3]) or 0
  local fresh = forget_at == 0 or forget_at <= now
  local tokens, start
  if fresh then
    tokens = initial
    start = now
  else
    -- A lowered capacity clamps at once, initial burst included; otherwise at most max(capacity, initial tokens).
    local ceiling = math.max(limit, initial)
    if limit < tonumber(raw[4]) then
      ceiling = limit
    end
    tokens = math.min(tonumber(raw[1]), ceiling)
    start = tonumber(raw[2])
    -- A clock that stepped back refills nothing until it passes the interval start again.
    local elapsed = 0
    if now > start then
      elapsed = math.floor((now - start) / interval)
    end
    if elapsed > 0 then
      if tokens < limit then
        if elapsed >= ceil_div(limit - tokens, refill) then
          tokens = limit
        else
          tokens = tokens + elapsed * refill
        end
      end
      start = start + elapsed * interval
    end
  end
  local admitted = hits <= tokens
  if admitted then
    tokens = tokens - hits
  end
  -- Only taking tokens writes, and the first request of a new bucket (it starts the refill clock); a read or a
  -- rejection of a known bucket must not move its forget time.
  if hits > 0 and (admitted or fresh) then
    -- Forgotten once an uncapped refill would have reached max(initial, capacity); at least one interval on.
    local intervals = math.max(1, ceil_div(math.max(initial, limit) - tokens, refill))
    forget_at = math.min(start + intervals * interval, NEVER)
    redis.call('HSET', key, 't', int(tokens), 's', int(start), 'e', int(forget_at), 'c', int(limit))
    redis.call('PEXPIRE', key, int(forget_at - now))
  end
  local reset = start + interval
  if tokens >= limit then
    reset = now
  end
  return admitted and 0 or 1, limit - tokens, tokens, reset
end

-- Gives tokens back (TokenBucketLimiter.refund): exact unless a later refill interval began meanwhile (then not above
-- the capacity); a bucket the request created at this very millisecond is forgotten again. The key expires at the new
-- forget time, as after a decision.
local function token_bucket_refund(key, now, hits, limit, params)
  local initial = tonumber(params[1])
  local raw = redis.call('HMGET', key, 't', 's', 'e')
  if (tonumber(raw[3]) or 0) == 0 then
    return
  end
  local tokens = tonumber(raw[1])
  local start = tonumber(raw[2])
  local refunded = tokens + hits
  if start > now then
    refunded = math.min(refunded, math.max(tokens, limit))
  end
  if start == now and refunded == initial then
    redis.call('HDEL', key, 't', 's', 'e', 'c')
    return
  end
  local intervals = math.max(1, ceil_div(math.max(initial, limit) - refunded, tonumber(params[2])))
  local forget_at = math.min(start + intervals * tonumber(params[3]), NEVER)
  redis.call('HSET', key, 't', int(refunded), 'e', int(forget_at))
  redis.call('PEXPIRE', key, int(forget_at - now))
end

-- UnlimitedLimiter: admits everything and keeps nothing.
local function unlimited(key, now, hits, limit, params)
  return 0, 0, limit, now
end

local algorithms = {
  sliding_window = sliding_window, fixed_window = fixed_window, token_bucket = token_bucket, unlimited = unlimited
}
local refunds = {
  sliding_window = sliding_window_refund, fixed_window = fixed_window_refund, token_bucket = token_bucket_refund,
  unlimited = function() end
}

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

-- A penalty's refund goes to the algorithm it wraps; the penalty and its rejected hits stay, and once written they
-- keep the expiry they had (the wrapped algorithm's refund may move it earlier). Without them the key expires as the
-- wrapped algorithm says (PenaltyLimiter.refund).
refunds.penalty = function(key, now, hits, limit, params)
  local inner_params = {}
  for i = 5, #params do
    inner_params[#inner_params + 1] = params[i]
  end
  local ttl = redis.call('PTTL', key)
  refunds[params[4]](key, now, hits, limit, inner_params)
  if ttl > 0 and redis.call('HEXISTS', key, 'pw') == 1 then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- A call Redis runs after its deadline was already answered by the caller's failure mode: it must not count.
if clock_time == nil then
  return redis.error_reply('ERR the clock argument must be "<time>" or "<time> <deadline>"')
end
if clock_deadline ~= '' and redis_millis() > tonumber(clock_deadline) then
  return redis.error_reply('EXPIRED the caller gave up on this call before Redis ran it; nothing was counted')
end

-- Parse and check the whole batch before writing anything, so a bad argument cannot leave it half applied.
local mode = ARGV[2]
if mode ~= 'independent' and mode ~= 'nowhere' and mode ~= 'rejected' and mode ~= 'refund' then
  return redis.error_reply('ERR unknown batch mode ' .. tostring(mode))
end
local calls = {}
local a = 3
for k = 1, #KEYS do
  local name = ARGV[a]
  if not algorithms[name] then
    return redis.error_reply('ERR unknown rate-limit algorithm ' .. tostring(name))
  end
  local n = tonumber(ARGV[a + 4])
  local params = {}
  for i = 1, n do
    params[i] = ARGV[a + 4 + i]
  end
  calls[k] = { name, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3] == '1', params }
  a = a + 5 + n
end
if a - 1 ~= #ARGV then
  return redis.error_reply('ERR rate-limit arguments do not match the keys')
end

local now = now_millis()
local out = { now }
if mode == 'refund' then
  for k = 1, #KEYS do
    local c = calls[k]
    refunds[c[1]](KEYS[k], now, c[2], c[3], c[5])
  end
  return out
end
local rejected = mode == 'rejected'
local admitted = {}
for k = 1, #KEYS do
  local c = calls[k]
  local over, current, remaining, reset = algorithms[c[1]](KEYS[k], now, c[2], c[3], c[5])
  if over == 1 and c[4] then
    rejected = true
  elseif over == 0 and c[2] > 0 then
    admitted[#admitted + 1] = k
  end
  out[#out + 1] = over
  out[#out + 1] = current
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
if rejected and mode ~= 'independent' then
  for _, k in ipairs(admitted) do
    local c = calls[k]
    refunds[c[1]](KEYS[k], now, c[2], c[3], c[5])
  end
end
return out
