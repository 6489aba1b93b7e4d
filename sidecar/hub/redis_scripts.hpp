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
//   P bytes      hash: frame bytes retained per topic
//   P horizon    hash: per topic, the highest seq trimmed away (a resume from before it missed)
//   P topics     sorted set: topics by the seq of their last event
//   P events     the channel committed events are announced on, a batch per message: per
//                event "<epoch> <seq> <frame length> <topics>\n" and the frame
#pragma once

#include <string_view>

namespace sidecar::redis_scripts {

// Commits a batch of events (what a node was asked to publish in one loop turn), announcing
// them in one message. ARGV: prefix, the node's epoch, the highest seq the node has seen,
// max_events, max_bytes, max_age (ms), the count of events, then per event: its frame without
// the id line, its idempotency key ("" = none), its topic count, its topics. Returns per event
// epoch, seq, duplicate (1 when its key was used within max_age: then the first publish's id,
// and nothing added).
//   P idem:<key>  the id a key's publish got, for max_age
extern const std::string_view kPublish;

// ARGV: prefix, epoch of the resume id, its seq, mode ("replay" or "catchup"), the count of
// exact topics, the exact topics, then pattern stems ("a.b." for "a.b.*", "" for "*").
// Returns {epoch, seq, missed, n, missed topics (n of them), then frame, topics pairs}. In
// replay mode any gap sets missed and returns no events; in catchup mode the topics with a gap
// are listed and the rest are returned.
extern const std::string_view kRead;

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
// the cursor (the last ARGV), whose history expired. Returns the next cursor, then the leaves:
// topic, subject pairs.
//   P forgotten   the highest seq of forgotten topics
extern const std::string_view kLease;

}  // namespace sidecar::redis_scripts
