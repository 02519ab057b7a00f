-- GCRA (the algorithm actix-governor implements in memory) on one client's key, atomically.
-- KEYS[1]: the client's key. ARGV[1]: emission interval in microseconds (one request per interval
-- in the long run). ARGV[2]: burst (requests allowed at once).
-- Returns 0 when the request is allowed (and counted), else the microseconds until it would be.
-- The clock is the Redis server's, so instances with skewed clocks share one schedule. (Redis before 5
-- refuses a write after TIME unless effects are replicated; from 5 on this is the default.)
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
  tat = now
end
if tat - tolerance > now then
  return tat - tolerance - now
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 0
