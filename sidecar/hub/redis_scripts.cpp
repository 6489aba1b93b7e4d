#include "sidecar/hub/redis_scripts.hpp"

namespace sidecar::redis_scripts {

const std::string_view kPublish = R"lua(
local p = ARGV[1]
local ikey = ARGV[8]
if ikey ~= '' then
  -- A retry of a publish already made: its id, and no second event.
  local prior = redis.call('GET', p .. 'idem:' .. ikey)
  if prior then
    local dash = string.find(prior, '-', 1, true)
    return {string.sub(prior, 1, dash - 1), string.sub(prior, dash + 1), 1}
  end
end
local epoch = redis.call('GET', p .. 'epoch')
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
if (not epoch) or (epoch == ARGV[2] and seq < tonumber(ARGV[3])) then
  -- No epoch (new data, or the data was lost), or a server behind what a node has seen (a
  -- failover to a replica that missed writes): the ids start a new epoch.
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', p .. 'epoch', epoch)
  -- The sequence never goes back, across epochs too: streams compare ids by it.
  seq = math.max(seq, tonumber(ARGV[3]))
  redis.call('SET', p .. 'seq', seq)
end
seq = redis.call('INCR', p .. 'seq')
local max_events = tonumber(ARGV[4])
local max_bytes = tonumber(ARGV[5])
local max_age = tonumber(ARGV[6])
local frame = 'id: ' .. epoch .. '-' .. seq .. '\n' .. ARGV[7]
local topics = table.concat(ARGV, ' ', 9)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 9, #ARGV do
  local topic = ARGV[i]
  local key = p .. 't:' .. topic
  if redis.call('EXISTS', key) == 0 then
    -- Its history expired: every event it had lies behind its horizon now.
    local last = redis.call('ZSCORE', p .. 'topics', topic)
    if last then redis.call('HSET', p .. 'horizon', topic, last) end
    redis.call('HSET', p .. 'bytes', topic, 0)
  end
  if max_events > 0 and max_bytes > 0 then
    redis.call('XADD', key, '0-' .. seq, 'f', frame, 'm', now, 'tp', topics)
    local len = redis.call('XLEN', key)
    local bytes = redis.call('HINCRBY', p .. 'bytes', topic, #frame)
    local cut = nil
    while len > 0 do
      local front = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
      local fields = front[2]
      local size = #fields[2]
      if len <= max_events and bytes <= max_bytes and now - tonumber(fields[4]) <= max_age then
        break
      end
      redis.call('XDEL', key, front[1])
      len = len - 1
      bytes = bytes - size
      cut = front[1]
    end
    if cut then
      redis.call('HSET', p .. 'horizon', topic, string.sub(cut, 3))
      redis.call('HSET', p .. 'bytes', topic, bytes)
    end
    redis.call('PEXPIRE', key, max_age)
  else
    redis.call('HSET', p .. 'horizon', topic, seq)
  end
  redis.call('ZADD', p .. 'topics', seq, topic)
end
redis.call('PUBLISH', p .. 'events', epoch .. ' ' .. seq .. ' ' .. topics .. '\n' .. frame)
if ikey ~= '' then redis.call('SET', p .. 'idem:' .. ikey, epoch .. '-' .. seq, 'PX', max_age) end
return {epoch, tostring(seq), 0}
)lua";

const std::string_view kRead = R"lua(
local p = ARGV[1]
local epoch = redis.call('GET', p .. 'epoch') or ''
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
local after = tonumber(ARGV[3])
local catchup = ARGV[4] == 'catchup'
if catchup and epoch == ARGV[2] and after > seq then
  -- Redis is behind what this node received (a failover to a replica that missed writes): a
  -- new epoch now, before any publish could give out an id those writes had.
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  seq = after
  redis.call('SET', p .. 'epoch', epoch)
  redis.call('SET', p .. 'seq', seq)
end
if epoch ~= ARGV[2] or after > seq then
  return {epoch, tostring(seq), 1, 0}
end
local wanted, order = {}, {}
local function want(t)
  if not wanted[t] then wanted[t] = true; order[#order + 1] = t end
end
local exact = tonumber(ARGV[5])
for i = 6, 5 + exact do want(ARGV[i]) end
if #ARGV > 5 + exact then
  -- Patterns: the topics that had events after the resume point.
  for _, t in ipairs(redis.call('ZRANGEBYSCORE', p .. 'topics', '(' .. after, '+inf')) do
    for i = 6 + exact, #ARGV do
      local stem = ARGV[i]
      if stem == '' or string.sub(t, 1, #stem) == stem then want(t); break end
    end
  end
end
local forgotten = tonumber(redis.call('GET', p .. 'forgotten') or '0')
local gaps, entries = {}, {}
for _, t in ipairs(order) do
  local key = p .. 't:' .. t
  local horizon = tonumber(redis.call('HGET', p .. 'horizon', t) or '0')
  local last = redis.call('ZSCORE', p .. 'topics', t)
  if not last then
    if forgotten > after then horizon = forgotten end
  elseif redis.call('EXISTS', key) == 0 and tonumber(last) > horizon then
    horizon = tonumber(last)
  end
  if horizon > after then
    if not catchup then return {epoch, tostring(seq), 1, 0} end
    gaps[#gaps + 1] = t
  else
    for _, e in ipairs(redis.call('XRANGE', key, '(0-' .. after, '+')) do
      entries[#entries + 1] = e[2][2]
      entries[#entries + 1] = e[2][6]
    end
  end
end
local out = {epoch, tostring(seq), 0, #gaps}
for _, t in ipairs(gaps) do out[#out + 1] = t end
for _, v in ipairs(entries) do out[#out + 1] = v end
return out
)lua";

const std::string_view kPresence = R"lua(
local p, node, topic, subject = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local mine_key = p .. 'presnode:' .. node
local field = topic .. '\n' .. subject
local t = redis.call('TIME')
redis.call('ZADD', p .. 'nodes', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), node)
if ARGV[3] == '1' then
  redis.call('HINCRBY', mine_key, field, 1)
  return redis.call('HINCRBY', p .. 'pres:' .. topic, subject, 1) == 1 and 1 or 0
end
local mine = redis.call('HINCRBY', mine_key, field, -1)
if mine <= 0 then redis.call('HDEL', mine_key, field) end
if mine < 0 then return 0 end  -- its join was never counted (Redis lost it meanwhile)
local all = redis.call('HINCRBY', p .. 'pres:' .. topic, subject, -1)
if all <= 0 then
  redis.call('HDEL', p .. 'pres:' .. topic, subject)
  return 1
end
return 0
)lua";

const std::string_view kLease = R"lua(
local p, node, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local epoch = redis.call('GET', p .. 'epoch')
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
if epoch and epoch == ARGV[4] and seq < tonumber(ARGV[5]) then
  -- Behind what this node has seen (a failover to a replica that missed writes): a new epoch
  -- now, before a publisher could reuse an id the lost writes had.
  local t = redis.call('TIME')
  redis.call('SET', p .. 'epoch', t[1] .. string.format('%06d', tonumber(t[2])))
  redis.call('SET', p .. 'seq', tonumber(ARGV[5]))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. 'nodes', now, node)
local leaves = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', p .. 'nodes', '-inf', '(' .. (now - lease))) do
  local share = redis.call('HGETALL', p .. 'presnode:' .. dead)
  for i = 1, #share, 2 do
    local nl = string.find(share[i], '\n', 1, true)
    local topic, subject = string.sub(share[i], 1, nl - 1), string.sub(share[i], nl + 1)
    local all = redis.call('HINCRBY', p .. 'pres:' .. topic, subject, -tonumber(share[i + 1]))
    if all <= 0 then
      redis.call('HDEL', p .. 'pres:' .. topic, subject)
      leaves[#leaves + 1] = topic
      leaves[#leaves + 1] = subject
    end
  end
  redis.call('DEL', p .. 'presnode:' .. dead)
  redis.call('ZREM', p .. 'nodes', dead)
end
return leaves
)lua";

}  // namespace sidecar::redis_scripts
