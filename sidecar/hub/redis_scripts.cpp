#include "sidecar/hub/redis_scripts.hpp"

#include <string>

namespace sidecar::redis_scripts {

// Shared by the scripts: what Redis keeps costs, and the horizons of forgotten topics.
//   own_cost(t)        a topic's own memory: its stream key, its members in `topics` and
//                      `fronts`, its fields in `bytes` and `horizon`
//   entry_cost(f, tp)  one history entry: its frame, its topics field, the entry's own fields
//   charged(t, cost)   what a topic whose `cost` is its own plus its entries' counts in `total`:
//                      a stream preallocates 4 KiB (stream-node-max-bytes) for the node its
//                      entries go to, so a topic with entries costs at least that much more
//   sizes/set_sizes    a topic's frame bytes and cost, one field of P bytes
//   fh_get/fh_raise    P fhz, a string of 2^18 unsigned 63-bit horizons indexed by the first
//                      hex digits of a topic's SHA-1 (its slot: changing the slot count would
//                      lose horizons, so it is fixed)
constexpr std::string_view kCosts = R"lua(
local function own_cost(t) return 660 + 6 * #t end
local function entry_cost(f, tp) return 32 + #f + #tp end
local function charged(t, cost)
  local own = own_cost(t)
  if cost > own then return math.max(cost, own + 4096) end
  return cost
end
local function sizes(p, t)
  local v = redis.call('HGET', p .. 'bytes', t)
  if not v then return 0, own_cost(t) end
  local b, c = string.match(v, '^(%d+) (%d+)$')
  if not b then return tonumber(v) or 0, own_cost(t) end  -- as kept before costs were
  return tonumber(b), tonumber(c)
end
local function set_sizes(p, t, b, c) redis.call('HSET', p .. 'bytes', t, b .. ' ' .. c) end
local function fh_slot(t) return '#' .. (tonumber(string.sub(redis.sha1hex(t), 1, 5), 16) % 262144) end
local function fh_get(p, t) return redis.call('BITFIELD_RO', p .. 'fhz', 'GET', 'u63', fh_slot(t))[1] end
local function fh_raise(p, t, seq)
  local slot = fh_slot(t)
  if seq > redis.call('BITFIELD', p .. 'fhz', 'GET', 'u63', slot)[1] then
    redis.call('BITFIELD', p .. 'fhz', 'SET', 'u63', slot, seq)
  end
end
)lua";

constexpr std::string_view kPublishBody = R"lua(
local p = ARGV[1]
local max_events, max_bytes, max_age = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local max_total, max_topics = tonumber(ARGV[7]), tonumber(ARGV[8])
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
-- What history costs over every topic (see charged).
local total = tonumber(redis.call('GET', p .. 'total') or '0')
-- Events evicted by max_events, max_bytes, max_age, max_total_bytes, max_topics; topics
-- forgotten by max_age (found expired), max_total_bytes, max_topics.
local evicted, forgot = {0, 0, 0, 0, 0}, {0, 0, 0}
local forgotten = tonumber(redis.call('GET', p .. 'forgotten') or '0')
local forgotten_was = forgotten
local out, announce, touched, order = {}, {}, {}, {}
local i = 10
for _ = 1, tonumber(ARGV[9]) do
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
        st = {key = p .. 't:' .. topic, len = 0, bytes = 0, cost = own_cost(topic)}
        if redis.call('EXISTS', st.key) == 1 then
          st.len = redis.call('XLEN', st.key)
          st.bytes, st.cost = sizes(p, topic)
          total = total - charged(topic, st.cost)
        else
          -- New, expired or forgotten: (again) in the index of names GET /topics reads.
          redis.call('ZADD', p .. 'names', 0, topic)
          local last = redis.call('ZSCORE', p .. 'topics', topic)
          if last then
            -- Its history expired: every event it had lies behind its horizon now, and what
            -- it cost is gone but for the topic itself.
            redis.call('HSET', p .. 'horizon', topic, last)
            redis.call('ZREM', p .. 'fronts', topic)
            local _, cost = sizes(p, topic)
            total = total - charged(topic, cost)
          elseif forgotten > 0 then
            -- Not tracked: new, or forgotten, and then it lost its events up to its horizon.
            local lost = fh_get(p, topic)
            if lost > 0 then redis.call('HSET', p .. 'horizon', topic, lost) end
          end
        end
        touched[topic] = st
        order[#order + 1] = topic
      end
      if max_events > 0 and max_bytes > 0 then
        redis.call('XADD', st.key, '0-' .. seq, 'f', frame, 'm', now, 'tp', topics)
        if st.len == 0 then redis.call('ZADD', p .. 'fronts', seq, topic) end
        st.len = st.len + 1
        st.bytes = st.bytes + #frame
        st.cost = st.cost + entry_cost(frame, topics)
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
    local cut, front = nil, nil
    while st.len > 0 do
      local batch = redis.call('XRANGE', st.key, cut and ('(' .. cut) or '-', '+', 'COUNT', 64)
      for _, e in ipairs(batch) do
        local f = e[2]
        local reason = nil
        if st.len > max_events then
          reason = 1
        elseif st.bytes > max_bytes then
          reason = 2
        elseif now - tonumber(f[4]) > max_age then
          reason = 3
        end
        if not reason then
          front = e[1]
          break
        end
        evicted[reason] = evicted[reason] + 1
        st.len = st.len - 1
        st.bytes = st.bytes - #f[2]
        st.cost = st.cost - entry_cost(f[2], f[6])
        cut = e[1]
      end
      if front or #batch < 64 then break end
    end
    if cut then
      redis.call('XTRIM', st.key, 'MINID', '0-' .. (tonumber(string.sub(cut, 3)) + 1))
      redis.call('HSET', p .. 'horizon', topic, string.sub(cut, 3))
      if front then
        redis.call('ZADD', p .. 'fronts', string.sub(front, 3), topic)
      else
        redis.call('ZREM', p .. 'fronts', topic)
      end
    end
    redis.call('PEXPIRE', st.key, max_age)
  end
  set_sizes(p, topic, st.bytes, st.cost)
  total = total + charged(topic, st.cost)
  redis.call('ZADD', p .. 'topics', st.last, topic)
end
-- Bounds over every topic, the oldest first; a call evicts a bounded amount, so a lowered
-- bound is reached over the next few publishes instead of holding Redis in one long call.
local budget = 1024 + 4 * tonumber(ARGV[9])
-- A topic forgotten whole (why: 1 found expired, 2 max_total_bytes, 3 max_topics), with
-- `entries` when known. Every event it had is gone: its horizon is its last seq.
local function forget(topic, why, entries)
  local key = p .. 't:' .. topic
  local horizon = tonumber(redis.call('ZSCORE', p .. 'topics', topic) or '0')
  if why > 1 then
    entries = entries or redis.call('XLEN', key)
    evicted[why + 2] = evicted[why + 2] + entries
  end
  forgot[why] = forgot[why] + 1
  local _, cost = sizes(p, topic)
  total = total - charged(topic, cost)
  redis.call('DEL', key)
  redis.call('ZREM', p .. 'topics', topic)
  redis.call('ZREM', p .. 'names', topic)
  redis.call('ZREM', p .. 'fronts', topic)
  redis.call('HDEL', p .. 'bytes', topic)
  redis.call('HDEL', p .. 'horizon', topic)
  fh_raise(p, topic, horizon)
  if horizon > forgotten then forgotten = horizon end
end
-- max_topics: the least recently published topics go whole (`topics` is scored by last seq).
local excess = math.min(redis.call('ZCARD', p .. 'topics') - max_topics, budget)
if excess > 0 then
  for _, topic in ipairs(redis.call('ZRANGE', p .. 'topics', 0, excess - 1)) do forget(topic, 3) end
  budget = budget - excess
end
-- max_total_bytes: the globally oldest event goes (`fronts` is scored by each topic's oldest).
while total > max_total and budget > 0 do
  budget = budget - 1
  local oldest = redis.call('ZRANGE', p .. 'fronts', 0, 0, 'WITHSCORES')
  if #oldest == 0 then
    -- Only topics without events are left: the least recently published goes.
    local lru = redis.call('ZRANGE', p .. 'topics', 0, 0)
    if #lru == 0 then break end
    forget(lru[1], 2)
  else
    local topic = oldest[1]
    local key = p .. 't:' .. topic
    local e = redis.call('XRANGE', key, '0-' .. oldest[2], '+', 'COUNT', 2)
    if #e == 0 then
      forget(topic, 1)  -- its history expired meanwhile
    elseif #e == 1 then
      -- Its last event: the topic goes with it, as an empty topic only keeps a horizon, and
      -- its forgotten horizon keeps that.
      forget(topic, 2, 1)
    else
      local gone = tonumber(string.sub(e[1][1], 3))
      local bytes, was = sizes(p, topic)
      local cost = was - entry_cost(e[1][2][2], e[1][2][6])
      set_sizes(p, topic, bytes - #e[1][2][2], cost)
      redis.call('XTRIM', key, 'MINID', '0-' .. (gone + 1))
      redis.call('HSET', p .. 'horizon', topic, gone)
      redis.call('ZADD', p .. 'fronts', string.sub(e[2][1], 3), topic)
      total = total - charged(topic, was) + charged(topic, cost)
      evicted[4] = evicted[4] + 1
    end
  end
end
redis.call('SET', p .. 'total', math.max(total, 0))
if forgotten > forgotten_was then redis.call('SET', p .. 'forgotten', forgotten) end
if #announce > 0 then redis.call('PUBLISH', p .. 'events', table.concat(announce)) end
for _, n in ipairs(evicted) do out[#out + 1] = n end
for _, n in ipairs(forgot) do out[#out + 1] = n end
return out
)lua";

constexpr std::string_view kReadBody = R"lua(
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
local exact = tonumber(ARGV[5])
-- Patterns: the topics that had events after the resume point.
local order = asked_topics(exact, function()
  return redis.call('ZRANGEBYSCORE', p .. 'topics', '(' .. after, '+inf')
end)
local gaps, entries = {}, {}
if #ARGV > 5 + exact and tonumber(redis.call('GET', p .. 'forgotten') or '0') > after then
  -- A pattern cannot tell which of the topics Redis forgot since it would have matched.
  if not catchup then return {epoch, tostring(seq), 1, 0} end
  gaps[1] = ''  -- every topic
end
for _, t in ipairs(order) do
  local key = p .. 't:' .. t
  local horizon = tonumber(redis.call('HGET', p .. 'horizon', t) or '0')
  local last = redis.call('ZSCORE', p .. 'topics', t)
  if not last then
    -- Not tracked: never published, or forgotten, with its horizon kept by slot.
    horizon = math.max(horizon, fh_get(p, t))
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

constexpr std::string_view kLatestBody = R"lua(
local p = ARGV[1]
if (redis.call('GET', p .. 'epoch') or '') ~= ARGV[2] then return {} end
local upto, count, exact = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local order = asked_topics(exact, function()
  local names = p .. 'names'
  if redis.call('ZCARD', names) < redis.call('ZCARD', p .. 'topics') then
    -- The index of names is still being filled in (topics from before it existed): every topic.
    return redis.call('ZRANGE', p .. 'topics', 0, -1)
  end
  -- Only the topics under each stem, from the index: a pattern's cost is what it matches, not
  -- every topic Redis tracks.
  local found = {}
  for i = 6 + exact, #ARGV do
    local lo, hi = names_under(ARGV[i])
    for _, t in ipairs(redis.call('ZRANGEBYLEX', names, lo, hi)) do found[#found + 1] = t end
  end
  return found
end)
local out = {}
for _, t in ipairs(order) do
  for _, e in ipairs(redis.call('XREVRANGE', p .. 't:' .. t, '0-' .. upto, '-', 'COUNT', count)) do
    out[#out + 1] = e[2][2]
    out[#out + 1] = e[2][6]
  end
end
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

constexpr std::string_view kLeaseBody = R"lua(
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
local forgot = 0
local freed = 0
for i = 1, #scan[2], 2 do
  local topic, last = scan[2][i], tonumber(scan[2][i + 1])
  if redis.call('EXISTS', p .. 't:' .. topic) == 0 then
    local _, cost = sizes(p, topic)
    freed = freed + charged(topic, cost)
    redis.call('ZREM', p .. 'topics', topic)
    redis.call('ZREM', p .. 'names', topic)
    redis.call('ZREM', p .. 'fronts', topic)
    redis.call('HDEL', p .. 'horizon', topic)
    redis.call('HDEL', p .. 'bytes', topic)
    fh_raise(p, topic, last)
    if last > forgotten then forgotten = last end
    forgot = forgot + 1
  elseif not redis.call('ZSCORE', p .. 'names', topic) then
    -- Tracked since before the index of names existed: added as the slice passes it.
    redis.call('ZADD', p .. 'names', 0, topic)
  end
end
local total = tonumber(redis.call('GET', p .. 'total') or '0')
if forgot > 0 then
  redis.call('SET', p .. 'forgotten', forgotten)
  total = math.max(total - freed, 0)
  redis.call('SET', p .. 'total', total)
end
table.insert(leaves, 1, scan[1])
table.insert(leaves, 2, forgot)
table.insert(leaves, 3, total)
table.insert(leaves, 4, redis.call('ZCARD', p .. 'topics'))
return leaves
)lua";

// What the latest read and GET /topics share: the range of the sorted index of names (every
// score 0, so ordered by name) that holds the names starting with `stem`.
constexpr std::string_view kNamesUnder = R"lua(
local function names_under(stem)
  if stem == '' then return '-', '+' end
  return '[' .. stem, '(' .. stem .. '\255'
end
)lua";

// What the two reads share: ARGV[5] is the count of exact topics, ARGV[6...] the exact topics,
// then pattern stems ("" for "*").
constexpr std::string_view kAskedTopics = R"lua(
-- The topics a read asks for, each once: the exact ones, then those of candidates() (called only
-- when there are patterns) under one of the stems.
local function asked_topics(exact, candidates)
  local wanted, order = {}, {}
  local function want(t)
    if not wanted[t] then wanted[t] = true; order[#order + 1] = t end
  end
  for i = 6, 5 + exact do want(ARGV[i]) end
  if #ARGV > 5 + exact then
    for _, t in ipairs(candidates()) do
      for i = 6 + exact, #ARGV do
        local stem = ARGV[i]
        if stem == '' or string.sub(t, 1, #stem) == stem then want(t); break end
      end
    end
  end
  return order
end
)lua";

constexpr std::string_view kTopicsBody = R"lua(
local p, pre, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lo, hi = names_under(pre)
local out = {redis.call('ZLEXCOUNT', p .. 'names', lo, hi), 0}
-- The node's subscribed topics that Redis does not track: counted, as they are listed too.
for i = 4, #ARGV do
  if not redis.call('ZSCORE', p .. 'names', ARGV[i]) then out[2] = out[2] + 1 end
end
for _, t in ipairs(redis.call('ZRANGEBYLEX', p .. 'names', lo, hi, 'LIMIT', 0, limit)) do
  local key = p .. 't:' .. t
  local events, bytes, last = redis.call('XLEN', key), 0, 0
  if events > 0 then
    bytes = sizes(p, t)
    local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    if #newest > 0 then last = tonumber(newest[1][2][4]) or 0 end
  end
  out[#out + 1] = t
  out[#out + 1] = events
  out[#out + 1] = bytes
  out[#out + 1] = last
end
return out
)lua";

static std::string with_costs(std::string_view body) {
  std::string script(kCosts);
  script += body;
  return script;
}

// Built once, before main: the engine hashes them when it starts.
const std::string kPublishText = with_costs(kPublishBody);
const std::string kReadText = with_costs(std::string(kAskedTopics) + std::string(kReadBody));
const std::string kLatestText =
    std::string(kNamesUnder) + std::string(kAskedTopics) + std::string(kLatestBody);
const std::string kLeaseText = with_costs(kLeaseBody);
const std::string kTopicsText = with_costs(std::string(kNamesUnder) + std::string(kTopicsBody));

const std::string_view kPublish = kPublishText;
const std::string_view kRead = kReadText;
const std::string_view kLatest = kLatestText;
const std::string_view kLease = kLeaseText;
const std::string_view kTopics = kTopicsText;

}  // namespace sidecar::redis_scripts
