#include "sidecar/net/h2_connection.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace sidecar {
namespace {

using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, CDeleter<nghttp2_session_callbacks_del>>;
using OptionPtr = std::unique_ptr<nghttp2_option, CDeleter<nghttp2_option_del>>;

// SETTINGS and PING ACKs waiting to be sent. A client reads them as fast as it sends what asks
// for them; past this many it is flooding (or not reading at all) and the connection closes.
constexpr std::size_t kMaxOutboundAck = 100;
// RST_STREAMs from the client (CVE-2023-44487, rapid reset): a burst of this many, then this
// many per second, then GOAWAY. A browser resets a stream when a tab closes its EventSource.
constexpr std::uint64_t kResetBurst = 200;
constexpr std::uint64_t kResetRate = 33;
// CONTINUATION frames after one HEADERS (a CONTINUATION flood keeps a head open forever).
constexpr std::size_t kMaxContinuations = 8;
// What our HPACK encoder may keep for the client's decoder: the few response headers we send
// fit, and a client announcing a huge table does not make us keep one.
constexpr std::size_t kDeflateTableBytes = 4096;

std::string_view view(const std::uint8_t* data, std::size_t len) {
  return {reinterpret_cast<const char*>(data), len};
}

bool is_connection_header(std::string_view lower_name) {
  // RFC 9113 8.2.2: connection-specific fields are malformed in HTTP/2.
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade";
}

bool is_request_headers(const nghttp2_frame* frame) {
  return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
}

}  // namespace

std::unique_ptr<H2Connection> H2Connection::create(const H2Settings& settings, Owner& owner) {
  std::unique_ptr<H2Connection> c(new H2Connection(settings, owner));
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0) return nullptr;
  CallbacksPtr callbacks(raw_callbacks);
  nghttp2_session_callbacks* cb = callbacks.get();
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_stream_close);
  nghttp2_session_callbacks_set_send_callback(cb, &on_send);
  nghttp2_session_callbacks_set_send_data_callback(cb, &on_send_data);

  nghttp2_option* raw_option = nullptr;
  if (nghttp2_option_new(&raw_option) != 0) return nullptr;
  OptionPtr option(raw_option);
  nghttp2_option* o = option.get();
  // A stream request has no body: the receive windows are never reopened, so a client can send
  // at most one initial window of DATA (64 KiB) over the whole connection, which is discarded.
  nghttp2_option_set_no_auto_window_update(o, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(o, kDeflateTableBytes);
  nghttp2_option_set_max_outbound_ack(o, kMaxOutboundAck);
  nghttp2_option_set_stream_reset_rate_limit(o, kResetBurst, kResetRate);
  nghttp2_option_set_max_continuations(o, kMaxContinuations);
  // No priority tree: closed streams are forgotten at once instead of kept to order others.
  nghttp2_option_set_no_closed_streams(o, 1);

  nghttp2_session* raw_session = nullptr;
  if (nghttp2_session_server_new3(&raw_session, cb, c.get(), o, c->memory_.get()) != 0) {
    return nullptr;
  }
  c->session_.reset(raw_session);
  const std::array<nghttp2_settings_entry, 3> iv = {{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(std::min<std::size_t>(
                                                  settings.max_header_list_bytes, UINT32_MAX))},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  }};
  if (nghttp2_submit_settings(raw_session, NGHTTP2_FLAG_NONE, iv.data(), iv.size()) != 0) {
    return nullptr;
  }
  return c;
}

bool H2Connection::receive(const char* data, std::size_t size) {
  ssize_t n =
      nghttp2_session_mem_recv(session_.get(), reinterpret_cast<const std::uint8_t*>(data), size);
  if (n < 0) {
    error_ = nghttp2_strerror(static_cast<int>(n));
    return false;
  }
  return true;
}

bool H2Connection::produce(std::string& out, std::size_t cap) {
  out_ = &out;
  cap_ = cap;
  int rv = nghttp2_session_send(session_.get());
  out_ = nullptr;
  if (rv != 0) {
    error_ = nghttp2_strerror(rv);
    return false;
  }
  return true;
}

std::vector<H2Event> H2Connection::take_events() {
  std::vector<H2Event> events;
  events.swap(events_);
  return events;
}

bool H2Connection::respond(std::int32_t stream_id, int status, const HeaderList& headers,
                           bool body) {
  // HTTP/2 field names are lower case (RFC 9113 8.2.1), and connection-specific fields are
  // malformed there (8.2.2): a client resets a stream that has either.
  HeaderList fields;
  fields.reserve(headers.size() + 1);
  fields.emplace_back(":status", std::to_string(status));
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (!is_connection_header(lower)) fields.emplace_back(std::move(lower), value);
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (auto& [name, value] : fields) {
    // nghttp2 copies them (NGHTTP2_NV_FLAG_NONE) before this returns.
    nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(name.data()),
                             reinterpret_cast<std::uint8_t*>(value.data()), name.size(),
                             value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &on_read_data;
  return nghttp2_submit_response(session_.get(), stream_id, nva.data(), nva.size(),
                                 body ? &provider : nullptr) == 0;
}

void H2Connection::resume(std::int32_t stream_id) {
  // Not deferred (already sending, or its response not submitted yet): nothing to do.
  nghttp2_session_resume_data(session_.get(), stream_id);
}

void H2Connection::reset(std::int32_t stream_id, std::uint32_t error_code) {
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id, error_code);
}

void H2Connection::go_away(std::uint32_t error_code) {
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), error_code,
                        nullptr, 0);
}

bool H2Connection::wants_write() const {
  return nghttp2_session_want_write(session_.get()) != 0;
}

bool H2Connection::finished() const {
  return nghttp2_session_want_read(session_.get()) == 0 &&
         nghttp2_session_want_write(session_.get()) == 0;
}

// ---- nghttp2's callbacks ----

int H2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  if (is_request_headers(frame)) static_cast<H2Connection*>(self)->heads_[frame->hd.stream_id];
  return 0;
}

int H2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                            std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                            std::uint8_t, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (!is_request_headers(frame)) return 0;  // trailers: a stream request has none to read
  auto it = c->heads_.find(frame->hd.stream_id);
  if (it == c->heads_.end()) return 0;
  Head& head = it->second;
  if (head.too_large) return 0;
  // Decoded sizes: an HPACK bomb (a small block naming a large table entry again and again)
  // is measured by what it expands to, and stops being kept past the bound.
  head.bytes += namelen + valuelen + 32;
  if (head.bytes > c->settings_.max_header_list_bytes) {
    head.too_large = true;
    head.request = HttpRequest{};
    head.cookies.clear();
    return 0;
  }
  std::string_view n = view(name, namelen);
  std::string_view v = view(value, valuelen);
  HttpRequest& r = head.request;
  if (n == ":method") {
    r.method = v;
  } else if (n == ":path") {
    r.target = v;
  } else if (n == ":authority") {
    r.headers.emplace_back("host", std::string(v));
  } else if (n == "cookie") {
    if (!head.cookies.empty()) head.cookies += "; ";
    head.cookies += v;
  } else if (!n.empty() && n.front() != ':') {
    // nghttp2 has checked the name (lower case, a token) and the value (no CR, LF or NUL).
    r.headers.emplace_back(std::string(n), std::string(v));
  }
  return 0;
}

int H2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (!is_request_headers(frame)) return 0;
  auto it = c->heads_.find(frame->hd.stream_id);
  if (it == c->heads_.end()) return 0;
  Head head = std::move(it->second);
  c->heads_.erase(it);
  H2Request out;
  out.stream_id = frame->hd.stream_id;
  out.has_body = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0;
  const std::string& target = head.request.target;
  if (head.too_large) {
    out.result = HttpParse::kTooLarge;
    out.error = "request headers too large";
  } else if (target.empty() || target.front() != '/' ||
             std::any_of(target.begin(), target.end(), [](char ch) {
               return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f;
             })) {
    // The same rule as the HTTP/1 parser's: an origin-form path, nothing else.
    out.result = HttpParse::kMalformed;
    out.error = "malformed request target";
  } else {
    if (!head.cookies.empty()) head.request.headers.emplace_back("cookie", head.cookies);
    out.request = std::move(head.request);
    out.request.minor_version = 1;
  }
  c->events_.emplace_back(std::move(out));
  return 0;
}

int H2Connection::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (frame->hd.type == NGHTTP2_RST_STREAM) c->owner_.sent_reset(frame->rst_stream.error_code);
  if (frame->hd.type == NGHTTP2_GOAWAY) c->owner_.sent_goaway(frame->goaway.error_code);
  return 0;
}

int H2Connection::on_stream_close(nghttp2_session*, std::int32_t stream_id,
                                  std::uint32_t error_code, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  c->heads_.erase(stream_id);
  // Opened and closed before the owner took the request (a rapid reset's HEADERS and
  // RST_STREAM in one read): the owner never hears of it, so it costs no stream.
  for (auto it = c->events_.rbegin(); it != c->events_.rend(); ++it) {
    const auto* request = std::get_if<H2Request>(&*it);
    if (request && request->stream_id == stream_id) {
      c->events_.erase(std::next(it).base());
      return 0;
    }
  }
  c->events_.emplace_back(H2Closed{stream_id, error_code});
  return 0;
}

ssize_t H2Connection::on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int,
                              void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (!c->out_ || c->out_->size() >= c->cap_) return NGHTTP2_ERR_WOULDBLOCK;
  c->out_->append(reinterpret_cast<const char*>(data), length);
  return static_cast<ssize_t>(length);
}

int H2Connection::on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                               std::size_t length, nghttp2_data_source*, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (!c->out_) return NGHTTP2_ERR_WOULDBLOCK;
  std::string& out = *c->out_;
  // The whole frame, always: the bytes leave the stream's queue as they are copied, so the
  // frame cannot be retried later. Past the cap, PAUSE stops the send after this frame.
  out.append(reinterpret_cast<const char*>(framehd), 9);
  const std::size_t padlen = frame->data.padlen;
  if (padlen > 0) out.push_back(static_cast<char>(padlen - 1));
  std::size_t at = out.size();
  out.resize(at + length);
  c->owner_.take(frame->hd.stream_id, out.data() + at, length);
  if (padlen > 1) out.append(padlen - 1, '\0');
  return out.size() >= c->cap_ ? NGHTTP2_ERR_PAUSE : 0;
}

ssize_t H2Connection::on_read_data(nghttp2_session*, std::int32_t stream_id, std::uint8_t*,
                                   std::size_t length, std::uint32_t* data_flags,
                                   nghttp2_data_source*, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  bool end = false;
  std::size_t available = c->owner_.available(stream_id, end);
  if (available == 0 && !end) return NGHTTP2_ERR_DEFERRED;  // resume() when it queues more
  std::size_t n = std::min(available, length);
  // The bytes are copied from the stream's queue straight into the write buffer when the frame
  // is sent (on_send_data), not into nghttp2's frame buffer first.
  *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (end && n == available) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace sidecar
