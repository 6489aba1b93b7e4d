// The Lua scripts the Redis engine runs. Each runs atomically in Redis, so an event's id, its
// history entries and its announcement to every node happen as one step, in one order.
//
// Keys, under the configured prefix P:
//   P epoch      the epoch of the ids: Redis's clock in microseconds when it was made; made
//                again when the data is gone or behind what nodes have seen, so an id is never
//                reused for another event
//   P seq        the last sequence number given (one counter for every topic)
//   P t:<topic>  the topic's history, a stream whose entry ids are 0-<seq>: fields f (the SSE
//                frame), m (publish time, ms), tp (the event's topics, space separated);
//                expires max_age after its last event
//   P bytes      hash: per topic "<frame bytes retained> <what it costs Redis>" (the cost
//                with its entries, see kPublish; values from before costs were counted hold
//                the bytes alone)
//   P total      what every topic costs: history.max_total_bytes bounds it
//   P horizon    hash: per topic, the highest seq trimmed away (a resume from before it missed)
//   P topics     sorted set: topics by the seq of their last event (history.max_topics bounds
//                it, the lowest first)
//   P fronts     sorted set: topics with entries by the seq of their oldest one (the globally
//                oldest event is evicted first)
//   P names      sorted set, every score 0: the topics of P topics by name, for GET /topics (a
//                topic tracked before it existed is added by kLease's slices)
//   P forgotten  the highest seq of forgotten topics (a pattern resume from before it missed)
//   P fhz        the horizons of forgotten topics by a hash of their names: 2^18 unsigned
//                63-bit fields (2 MiB); two topics in one slot share the higher one, so an
//                exact resume may be told of a miss that was another topic's, never the reverse
//   P events     the channel committed events are announced on, a batch per message: per
//                event "<epoch> <seq> <frame length> <topics>\n" and the frame
#pragma once

#include <string_view>

namespace sidecar::redis_scripts {

// Commits a batch of events (what a node was asked to publish in one loop turn), announcing
// them in one message, then applies the bounds over every topic: past max_topics the least
// recently published topics are forgotten whole, past max_total_bytes the globally oldest
// events are evicted (a topic whose last event goes is forgotten with it), a bounded amount
// per call. What Redis holds is counted as a topic's own cost (its stream key, sorted-set
// members and hash fields) plus each entry's (its frame and topics fields and about 32 bytes),
// and at least the 4 KiB a stream preallocates for its entries.
// ARGV: prefix, the node's epoch, the highest seq the node has seen, max_events, max_bytes,
// max_age (ms), max_total_bytes, max_topics, the count of events, then per event: its frame
// without the id line, its idempotency key ("" = none), its topic count, its topics. Returns
// per event epoch, seq, duplicate (1 when its key was used within max_age: then the first
// publish's id, and nothing added); then the events evicted by max_events, max_bytes, max_age,
// max_total_bytes and max_topics, and the topics forgotten by max_age (found expired),
// max_total_bytes and max_topics.
//   P idem:<key>  the id a key's publish got, for max_age
extern const std::string_view kPublish;

// ARGV: prefix, epoch of the resume id, its seq, mode ("replay" or "catchup"), the count of
// exact topics, the exact topics, then pattern stems ("a.b." for "a.b.*", "" for "*").
// Returns {epoch, seq, missed, n, missed topics (n of them), then frame, topics pairs}. In
// replay mode any gap sets missed and returns no events; in catchup mode the topics with a gap
// are listed ("" for every topic: a topic forgotten since may have had events) and the rest
// are returned.
extern const std::string_view kRead;

// ARGV: prefix, the epoch and seq the newest events are to be up to, the count per topic, the
// count of exact topics, the exact topics, then pattern stems (as kRead). Returns frame,
// topics pairs: the newest entries up to that seq of each topic (a pattern's topics are found
// by a scan of P topics, which history.max_topics bounds), none when Redis has another epoch.
extern const std::string_view kLatest;

// Presence, kept per node so that a node's share can be removed when it goes away:
//   P pres:<topic>      hash: subject -> streams over every node
//   P presnode:<node>   hash: "<topic>\n<subject>" -> streams on that node
//   P nodes             sorted set: node -> when its lease was last renewed (Redis's clock, ms)
// ARGV: prefix, node, "1" (a join) or "0" (a leave), topic, subject. Returns 1 when the change
// is one for the whole service (its first stream anywhere, or its last).
extern const std::string_view kPresence;

// ARGV: prefix, node, lease (ms), the node's epoch, the highest seq it has seen. Renews the
// node's lease, and removes the presence of nodes whose lease expired; starts a new epoch when
// Redis is behind the node (as kPublish does); and forgets the topics, of a slice of them from
// the cursor (the last ARGV), whose history expired. Returns the next cursor, the count of
// topics forgotten, P total and the count of topics after that, then the leaves: topic,
// subject pairs.
//   P forgotten   the highest seq of forgotten topics
extern const std::string_view kLease;

// GET /topics: a page of the topics Redis tracks, by name. ARGV: prefix, the names' prefix
// ("" = every topic), the page's size, then the topics this node's streams subscribe to that
// start with that prefix. Returns the count of tracked topics with the prefix, the count of the
// node's topics Redis does not track, then per topic of the page (the first by name): topic,
// events retained, their frame bytes, the newest one's publish time (Redis's clock, ms; 0 when
// none). Costs the page and the node's topics, not every topic.
extern const std::string_view kTopics;

}  // namespace sidecar::redis_scripts
