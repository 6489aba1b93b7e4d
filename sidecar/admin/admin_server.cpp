#include "sidecar/admin/admin_server.hpp"

#include <event2/keyvalq_struct.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>
#include <sys/queue.h>

#include "sidecar/admin/admin_page.hpp"
#include "sidecar/admin/introspection.hpp"
#include "sidecar/admin/metrics_text.hpp"
#include "sidecar/admin/pending_reply.hpp"
#include "sidecar/admin/process_metrics.hpp"
#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/wall_clock.hpp"
#include "sidecar/ingest/publish_message.hpp"
#include "sidecar/net/listen_socket.hpp"

namespace sidecar {
namespace {

void reply(evhttp_request* req, int status, std::string_view body,
           const char* type = "text/plain; charset=utf-8") {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", type);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  EvBufferPtr buf(evbuffer_new());
  evbuffer_add(buf.get(), body.data(), body.size());
  evhttp_send_reply(req, status, nullptr, buf.get());
}

void reply_json(evhttp_request* req, int status, std::string body) {
  body.push_back('\n');
  reply(req, status, body, "application/json");
}

std::string body_of(evhttp_request* req) {
  evbuffer* in = evhttp_request_get_input_buffer(req);
  std::string body(evbuffer_get_length(in), '\0');
  evbuffer_copyout(in, body.data(), body.size());
  return body;
}

// The decoded value of a query parameter; "" when absent.
std::string query_param(evhttp_request* req, const char* name) {
  const char* query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  evkeyvalq params;
  TAILQ_INIT(&params);
  std::string value;
  if (query && evhttp_parse_query_str(query, &params) == 0) {
    if (const char* v = evhttp_find_header(&params, name)) value = v;
  }
  evhttp_clear_headers(&params);
  return value;
}

// Every decoded query parameter, in order; false when the query string is malformed.
bool query_params(evhttp_request* req, QueryParams& out) {
  const char* query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  if (!query) return true;
  evkeyvalq params;
  TAILQ_INIT(&params);
  bool ok = evhttp_parse_query_str(query, &params) == 0;
  if (ok) {
    for (evkeyval* kv = params.tqh_first; kv; kv = kv->next.tqe_next) {
      out.emplace_back(kv->key, kv->value);
    }
  }
  evhttp_clear_headers(&params);
  return ok;
}

// Reads an introspection request's parameters into `out` with `parse`; answers 400 with the
// reason and returns false when they are malformed, unknown or out of range.
template <typename Request>
bool parse_request(evhttp_request* req, Request& out,
                   std::string (*parse)(const QueryParams&, Request&)) {
  QueryParams params;
  std::string error = "malformed query string";
  if (query_params(req, params)) error = parse(params, out);
  if (error.empty()) return true;
  reply_json(req, 400, publish_error_reply(error, {}));
  return false;
}

// The page holds no data (it asks for a credential and fetches everything itself), so it is
// served to anyone; these headers keep it from being framed, sniffed or made to load anything
// but its own inline code and the admin listener's answers.
void reply_admin_page(evhttp_request* req) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'");
  evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
  evhttp_add_header(headers, "X-Frame-Options", "DENY");
  evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
  reply(req, 200, embedded::kAdminPage, "text/html; charset=utf-8");
}

}  // namespace

AdminServer::AdminServer(event_base* base, Hub& hub, const PresenceTracker& presence,
                         Metrics& metrics, std::shared_ptr<const Config> config,
                         PublisherAccess& publishers, std::function<std::string()> extra_metrics)
    : hub_(hub),
      presence_(presence),
      metrics_(metrics),
      config_(std::move(config)),
      publishers_(publishers),
      extra_metrics_(std::move(extra_metrics)),
      base_(base),
      http_(evhttp_new(base)),
      stats_(base, metrics, hub) {}

bool AdminServer::listen(std::string& error, UniqueFd inherited) {
  UniqueFd fd = inherited ? std::move(inherited)
                          : listen_tcp(config_->listen.admin, config_->listen.backlog, error);
  if (!fd) return false;
  evhttp_bound_socket* bound = evhttp_accept_socket_with_handle(http_.get(), fd.get());
  if (!bound) {
    error = "cannot serve HTTP on " + config_->listen.admin;
    return false;
  }
  fd.release();  // evhttp owns it now
  accept_pause_.emplace(base_, evhttp_bound_socket_get_listener(bound),
                        "admin listener " + config_->listen.admin);
  evhttp_set_gencb(http_.get(), &on_request, this);
  evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
  apply_limits();
  return true;
}

void AdminServer::apply_limits() {
  evhttp_set_max_headers_size(http_.get(),
                              static_cast<ev_ssize_t>(config_->limits.max_request_header_bytes));
  // A publish body is one message or an array of them: the NDJSON line bound applies.
  evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(config_->publish.max_line_bytes));
  evhttp_set_timeout(http_.get(),
                     static_cast<int>((config_->limits.request_timeout.count() + 999) / 1000));
}

void AdminServer::reconfigure(std::shared_ptr<const Config> config) {
  config_ = std::move(config);
  apply_limits();
}

void AdminServer::count_refusal(const PublishCheck& check) {
  metrics_.count_ingest_error(check.status == 429 ? IngestError::kRateLimited
                                                  : IngestError::kForbidden);
}

void AdminServer::on_request(evhttp_request* req, void* self) {
  static_cast<AdminServer*>(self)->handle(req);
}

void AdminServer::handle(evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri ? evhttp_uri_get_path(uri) : nullptr;
  std::string_view path = raw_path ? raw_path : "";
  auto method = evhttp_request_get_command(req);
  bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
  bool post = method == EVHTTP_REQ_POST;

  if (path == "/healthz" && get) return reply(req, 200, "ok\n");
  if (path == "/readyz" && get) {
    if (draining_) return reply(req, 503, "draining\n");
    if (!hub_.engine().ready()) return reply(req, 503, "engine unavailable\n");
    return reply(req, 200, "ready\n");
  }
  if (path == "/metrics" && get) {
    std::string text = render_metrics(metrics_, hub_.history_stats());
    text += hub_.engine().metrics_text();
    if (extra_metrics_) text += extra_metrics_();
    text += render_process_metrics(read_process_sample());
    return reply(req, 200, text, "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/presence" && get) return presence(req);
  if (path == "/admin" && get) return reply_admin_page(req);
  const bool introspection = path == "/topics" || path == "/streams" || path == "/admin/events";
  if (introspection && get) return introspect(req, path);
  bool publish_path = path == "/publish" || path.starts_with("/publish/") || path == "/disconnect";
  bool known = publish_path || introspection || path == "/healthz" || path == "/readyz" ||
               path == "/metrics" || path == "/presence" || path == "/admin";
  if (!known) return reply(req, 404, "not found\n");
  if (publish_path != post) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", post ? "GET" : "POST");
    return reply(req, 405, "method not allowed\n");
  }
  if (draining_) return reply_json(req, 503, publish_error_reply("server is shutting down", {}));
  std::string body = body_of(req);
  auto publisher = authenticate(req, "POST", body);
  if (!publisher) return;
  if (path == "/publish") return publish_json(req, *publisher, body);
  if (path == "/disconnect") return disconnect(req, *publisher);
  // The topic is one path segment after /publish/; percent-decoding keeps it exact.
  std::string_view encoded = path.substr(std::string_view("/publish/").size());
  char* decoded = evhttp_uridecode(std::string(encoded).c_str(), 0, nullptr);
  std::string topic = decoded ? decoded : "";
  free(decoded);
  publish_raw(req, *publisher, topic, std::move(body));
}

void AdminServer::presence(evhttp_request* req) {
  std::string topic = query_param(req, "topic");
  if (auto error = topic_error(topic); !error.empty()) {
    return reply_json(req, 400,
                      publish_error_reply("GET /presence?topic=T needs a topic: " + error, {}));
  }
  // Who is online is the app's data: with publisher credentials configured, one that may
  // publish to the topic is required; without, the listener is as open as /metrics.
  if (publishers_.http_enabled()) {
    auto publisher = authenticate(req, "GET", "");
    if (!publisher) return;
    if (PublishCheck check = PublisherAccess::allows(*publisher, topic); !check.ok()) {
      metrics_.count_ingest_error(IngestError::kForbidden);
      return reply_json(req, check.status, publish_error_reply(check.error, {}));
    }
  }
  auto render = [topic = std::string(topic)](const std::vector<std::string>& subjects) {
    rapidjson::StringBuffer json;
    JsonWriter w(json);
    w.StartObject();
    w.Key("topic");
    write_string(w, topic);
    w.Key("subjects");
    w.StartArray();
    for (const auto& subject : subjects) write_string(w, subject);
    w.EndArray();
    w.EndObject();
    return std::string(json.GetString());
  };
  if (!hub_.engine().shared_presence())
    return reply_json(req, 200, render(presence_.subjects(topic)));
  // Every node's subjects, from the shared engine.
  auto pending = PendingReply::start(req, 1, false);
  hub_.engine().presence_subjects(
      std::string(topic), [pending, render](std::optional<std::vector<std::string>> subjects) {
        if (!subjects)
          return pending->set(0, publish_error_reply("engine unavailable", {}), 503, 1);
        pending->set(0, render(*subjects), 200);
      });
}

void AdminServer::disconnect(evhttp_request* req, const Publisher& publisher) {
  std::string subject = query_param(req, "subject");
  std::string topic = query_param(req, "topic");
  if (subject.empty()) {
    return reply_json(req, 400, publish_error_reply("POST /disconnect needs subject=", {}));
  }
  if (!topic.empty()) {
    if (auto error = topic_error(topic); !error.empty()) {
      return reply_json(req, 400, publish_error_reply(error, {}));
    }
  }
  // A publisher limited to some topics may only end streams on them, one topic at a time.
  if (topic.empty() && !publisher.topics.empty()) {
    metrics_.count_ingest_error(IngestError::kForbidden);
    return reply_json(req, 403,
                      publish_error_reply("a publisher limited to topics must name one", {}));
  }
  // (Without a topic, an unrestricted publisher is the only kind left, and allows() passes.)
  if (PublishCheck check = PublisherAccess::allows(publisher, topic); !check.ok()) {
    metrics_.count_ingest_error(IngestError::kForbidden);
    return reply_json(req, check.status, publish_error_reply(check.error, {}));
  }
  spdlog::info("publisher {} ends the streams of {}{}{}", publisher.name, subject,
               topic.empty() ? "" : " on ", topic);
  if (disconnect_ && !disconnect_(subject, topic)) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    return reply_json(req, 503, publish_error_reply("engine unavailable", {}));
  }
  // The workers end the streams within their next loop turn; nothing is left to wait for.
  reply_json(req, 202, R"({"ok":true})");
}

void AdminServer::introspect(evhttp_request* req, std::string_view path) {
  // Every topic and stream, with subjects and peers: only a publisher that may use any topic
  // may see them (one limited to some topics is refused rather than shown a part).
  auto publisher = authenticate(req, "GET", "");
  if (!publisher) return;
  if (!publisher->topics.empty()) {
    metrics_.count_ingest_error(IngestError::kForbidden);
    return reply_json(
        req, 403,
        publish_error_reply("this publisher is limited to some topics; " + std::string(path) +
                                " needs a credential without topic limits",
                            {}));
  }
  if (path == "/topics") return topics(req);
  if (path == "/streams") return streams(req);
  if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
    return reply(req, 200, "", "text/event-stream");
  }
  if (draining_) return reply(req, 503, "server is shutting down\n");
  stats_.open(req);
}

void AdminServer::topics(evhttp_request* req) {
  TopicsRequest request;
  if (!parse_request(req, request, &parse_topics_request)) return;
  auto pending = PendingReply::start(req, 1, false);
  hub_.list_topics(request.prefix, request.limit,
                   [pending, request,
                    engine = config_->engine.type](const std::optional<TopicListing>& listing) {
                     if (!listing) {
                       return pending->set(0, publish_error_reply("engine unavailable", {}), 503,
                                           1);
                     }
                     pending->set(0, topics_json(request, *listing, engine), 200);
                   });
}

void AdminServer::streams(evhttp_request* req) {
  StreamFilter filter;
  if (!parse_request(req, filter, &parse_streams_request)) return;
  if (!stream_lister_) {
    return reply_json(req, 503, publish_error_reply("streams cannot be listed now", {}));
  }
  // Each worker lists its own streams on its thread; the answer goes once all have.
  auto pending = PendingReply::start(req, 1, false);
  StreamFilter shown = filter;
  stream_lister_(std::move(filter), [pending, shown](const StreamListing& listing) {
    pending->set(0, streams_json(shown, listing), 200);
  });
}

std::optional<Publisher> AdminServer::authenticate(evhttp_request* req, std::string_view method,
                                                   const std::string& body) {
  evkeyvalq* in = evhttp_request_get_input_headers(req);
  auto header = [in](const char* name) {
    const char* v = evhttp_find_header(in, name);
    return std::string_view(v ? v : "");
  };
  PublishCheck refusal;
  auto publisher = publishers_.authenticate_http(
      header("Authorization"), header("X-Sidecar-Timestamp"), header("X-Sidecar-Signature"), method,
      evhttp_request_get_uri(req), body, unix_seconds(), refusal);
  if (!publisher) {
    metrics_.count_ingest_error(refusal.status == 403 ? IngestError::kForbidden
                                                      : IngestError::kUnauthorized);
    if (refusal.status == 401) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    }
    reply_json(req, refusal.status, publish_error_reply(refusal.error, {}));
  }
  return publisher;
}

void AdminServer::publish_json(evhttp_request* req, const Publisher& publisher,
                               const std::string& body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    metrics_.count_ingest_error(IngestError::kMalformed);
    return reply_json(req, 400,
                      publish_error_reply(std::string("invalid JSON at offset ") +
                                              std::to_string(doc.GetErrorOffset()) + ": " +
                                              rapidjson::GetParseError_En(doc.GetParseError()),
                                          {}));
  }
  // Each element is published or refused on its own, like lines on the socket; the status is
  // 200 only when all were published, and the array of replies says which ones were not. The
  // reply goes once the engine answered for every element (a shared engine answers later).
  const bool array = doc.IsArray();
  const std::size_t count = array ? doc.GetArray().Size() : 1;
  if (count == 0) return reply_json(req, 200, "[]");
  auto pending = PendingReply::start(req, count, array);
  auto publish_one = [&](const rapidjson::Value& value, std::size_t i) {
    PublishMessage m = parse_publish_value(value, config_->limits.max_event_bytes);
    if (!m.ok) {
      metrics_.count_ingest_error(m.kind);
      return pending->set(i, publish_error_reply(m.error, m.ref),
                          m.kind == IngestError::kTooLarge ? 413 : 400);
    }
    if (PublishCheck check = publishers_.admit(publisher, m.draft); !check.ok()) {
      count_refusal(check);
      return pending->set(i, publish_error_reply(check.error, m.ref), check.status,
                          check.status == 429 ? check.retry_after : 0);
    }
    hub_.publish(std::move(m.draft), [pending, i, ref = m.ref](const PublishReply& r) {
      if (r.ok)
        return pending->set(i, publish_ok_reply(r.id, r.subscribers, ref, r.duplicate), 200);
      pending->set(i, publish_error_reply(r.error, ref), 503, 1);
    });
  };
  if (!array) return publish_one(doc, 0);
  std::size_t i = 0;
  for (const auto& item : doc.GetArray()) publish_one(item, i++);
}

void AdminServer::publish_raw(evhttp_request* req, const Publisher& publisher,
                              std::string_view topic, std::string body) {
  std::string event = query_param(req, "event");
  PublishMessage m =
      make_raw_publish(topic, event, std::move(body), config_->limits.max_event_bytes);
  if (!m.ok) {
    metrics_.count_ingest_error(m.kind);
    return reply_json(req, m.kind == IngestError::kTooLarge ? 413 : 400,
                      publish_error_reply(m.error, {}));
  }
  if (PublishCheck check = publishers_.admit(publisher, m.draft); !check.ok()) {
    count_refusal(check);
    if (check.status == 429) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                        std::to_string(check.retry_after).c_str());
    }
    return reply_json(req, check.status, publish_error_reply(check.error, {}));
  }
  auto pending = PendingReply::start(req, 1, false);
  hub_.publish(std::move(m.draft), [pending](const PublishReply& r) {
    if (r.ok) return pending->set(0, publish_ok_reply(r.id, r.subscribers, {}, r.duplicate), 200);
    pending->set(0, publish_error_reply(r.error, {}), 503, 1);
  });
}

}  // namespace sidecar
