-- Compare-and-set of one key's raw state bytes, for the state updates that run in Java (the dynamic quota ledger):
-- read with 'get', compute, write back with 'cas', retry when another replica won.
--
-- KEYS[1]  the state (a string).
-- ARGV[1]  'get': returns {now, state or ''}, now being ARGV[2] (caller millis) or Redis TIME when ARGV[2] is ''.
--          'cas': ARGV[2] the state read ('' = none), ARGV[3] the new state ('' = delete), ARGV[4] its time to live
--          in ms, ARGV[5] the clock as for 'get', optionally followed by " <deadline>" (Redis TIME in epoch ms after
--          which the write must not happen: the caller gave up); returns {1} when written, else {0, now, state} to
--          retry on, or the error EXPIRED past the deadline.
local key = KEYS[1]
local function redis_millis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function now_millis(arg)
  local time = string.match(arg, '^(%d*)')
  if time ~= '' then
    return tonumber(time)
  end
  return redis_millis()
end
if ARGV[1] == 'get' then
  return { now_millis(ARGV[2]), redis.call('GET', key) or '' }
end
if ARGV[1] == 'cas' then
  local deadline = string.match(ARGV[5], ' (%d+)$')
  if deadline and redis_millis() > tonumber(deadline) then
    return redis.error_reply('EXPIRED the caller gave up on this write before Redis ran it; nothing was written')
  end
  local current = redis.call('GET', key) or ''
  if current ~= ARGV[2] then
    return { 0, now_millis(ARGV[5]), current }
  end
  if ARGV[3] == '' then
    redis.call('DEL', key)
  else
    redis.call('SET', key, ARGV[3], 'PX', ARGV[4])
  end
  return { 1 }
end
return redis.error_reply('ERR unknown state operation ' .. tostring(ARGV[1]))
