#include "sidecar/hub/redis_scripts.hpp"

namespace sidecar::redis_scripts {

const std::string_view kPublish = R"lua(
local p = ARGV[1]
local max_events, max_bytes, max_age = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local epoch = redis.call('GET', p .. 'epoch')
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
if (not epoch) or (epoch == ARGV[2] and seq < tonumber(ARGV[3])) then
  -- No epoch (new data, or the data was lost), or a server behind what a node has seen (a
  -- failover to a replica that missed writes): the ids start a new epoch. The sequence never
  -- goes back, across epochs too: streams compare ids by it.
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', p .. 'epoch', epoch)
  seq = math.max(seq, tonumber(ARGV[3]))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, announce, touched, order = {}, {}, {}, {}
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local body, ikey, k = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + k
  local prior = ikey ~= '' and redis.call('GET', p .. 'idem:' .. ikey)
  if prior then
    -- A retry of a publish already made: its id, and no second event.
    local dash = string.find(prior, '-', 1, true)
    out[#out + 1] = string.sub(prior, 1, dash - 1)
    out[#out + 1] = string.sub(prior, dash + 1)
    out[#out + 1] = 1
  else
    seq = seq + 1
    local frame = 'id: ' .. epoch .. '-' .. seq .. '\n' .. body
    local topics = table.concat(ARGV, ' ', first, first + k - 1)
    for j = first, first + k - 1 do
      local topic = ARGV[j]
      local st = touched[topic]
      if not st then
        st = {key = p .. 't:' .. topic, len = 0, bytes = 0}
        if redis.call('EXISTS', st.key) == 0 then
          -- Its history expired: every event it had lies behind its horizon now.
          local last = redis.call('ZSCORE', p .. 'topics', topic)
          if last then redis.call('HSET', p .. 'horizon', topic, last) end
        else
          st.len = redis.call('XLEN', st.key)
          st.bytes = tonumber(redis.call('HGET', p .. 'bytes', topic) or '0')
        end
        touched[topic] = st
        order[#order + 1] = topic
      end
      if max_events > 0 and max_bytes > 0 then
        redis.call('XADD', st.key, '0-' .. seq, 'f', frame, 'm', now, 'tp', topics)
        st.len = st.len + 1
        st.bytes = st.bytes + #frame
      else
        st.nothing_kept = seq
      end
      st.last = seq
    end
    announce[#announce + 1] = epoch .. ' ' .. seq .. ' ' .. #frame .. ' ' .. topics .. '\n' .. frame
    if ikey ~= '' then
      redis.call('SET', p .. 'idem:' .. ikey, epoch .. '-' .. seq, 'PX', max_age)
    end
    out[#out + 1] = epoch
    out[#out + 1] = tostring(seq)
    out[#out + 1] = 0
  end
end
redis.call('SET', p .. 'seq', seq)
-- Each topic the batch touched: trimmed once, from the front, to its bounds.
for _, topic in ipairs(order) do
  local st = touched[topic]
  if st.nothing_kept then
    redis.call('HSET', p .. 'horizon', topic, st.nothing_kept)
  else
    local cut = nil
    while st.len > 0 do
      local front = redis.call('XRANGE', st.key, cut and ('(' .. cut) or '-', '+', 'COUNT', 64)
      local kept = false
      for _, e in ipairs(front) do
        local f = e[2]
        if st.len <= max_events and st.bytes <= max_bytes and now - tonumber(f[4]) <= max_age then
          kept = true
          break
        end
        st.len = st.len - 1
        st.bytes = st.bytes - #f[2]
        cut = e[1]
      end
      if kept or #front < 64 then break end
    end
    if cut then
      redis.call('XTRIM', st.key, 'MINID', '0-' .. (tonumber(string.sub(cut, 3)) + 1))
      redis.call('HSET', p .. 'horizon', topic, string.sub(cut, 3))
    end
    redis.call('HSET', p .. 'bytes', topic, st.bytes)
    redis.call('PEXPIRE', st.key, max_age)
  end
  redis.call('ZADD', p .. 'topics', st.last, topic)
end
if #announce > 0 then redis.call('PUBLISH', p .. 'events', table.concat(announce)) end
return out
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
-- A slice of the topics: one whose history expired is forgotten, so that Redis keeps nothing
-- for topics no longer used; `forgotten` remembers how far they went (a resume from before
-- that on a topic Redis does not know is told it missed events).
local scan = redis.call('ZSCAN', p .. 'topics', ARGV[6], 'COUNT', 100)
local forgotten = tonumber(redis.call('GET', p .. 'forgotten') or '0')
local forgot = false
for i = 1, #scan[2], 2 do
  local topic, last = scan[2][i], tonumber(scan[2][i + 1])
  if redis.call('EXISTS', p .. 't:' .. topic) == 0 then
    redis.call('ZREM', p .. 'topics', topic)
    redis.call('HDEL', p .. 'horizon', topic)
    redis.call('HDEL', p .. 'bytes', topic)
    if last > forgotten then forgotten = last end
    forgot = true
  end
end
if forgot then redis.call('SET', p .. 'forgotten', forgotten) end
table.insert(leaves, 1, scan[1])
return leaves
)lua";

}  // namespace sidecar::redis_scripts
