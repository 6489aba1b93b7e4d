#include "tools/loadgen/h2_client_session.hpp"

#include <charconv>
#include <iterator>

namespace loadgen {

namespace {

using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, sidecar::CDeleter<nghttp2_session_callbacks_del>>;
using OptionPtr = std::unique_ptr<nghttp2_option, sidecar::CDeleter<nghttp2_option_del>>;

// What Chromium announces: no push, 6 MiB per stream and a 15 MiB connection window, so that a
// server is not held back by a window a browser would not impose either.
constexpr nghttp2_settings_entry kSettings[] = {
    {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 65536},
    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 6 * 1024 * 1024},
    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 256 * 1024},
};
constexpr int32_t kConnectionWindow = 15 * 1024 * 1024;
// Frames gathered per gather(): the client sends requests and window updates, a few hundred
// bytes; the bound only keeps a runaway session from growing the buffer without end.
constexpr size_t kMaxPendingBytes = size_t{64} * 1024;

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values (no NO_COPY flags): the views may be temporaries.
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

H2ClientSession::~H2ClientSession() = default;

std::unique_ptr<H2ClientSession> H2ClientSession::create(Handler& handler, std::string& error) {
  std::unique_ptr<H2ClientSession> self(new H2ClientSession(handler));
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  int callbacks_rc = nghttp2_session_callbacks_new(&raw_callbacks);
  CallbacksPtr callbacks(raw_callbacks);
  nghttp2_option* raw_option = nullptr;
  int option_rc = nghttp2_option_new(&raw_option);
  OptionPtr option(raw_option);
  if (callbacks_rc != 0 || option_rc != 0) {
    error = "h2: out of memory";
    return nullptr;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks.get(), &on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks.get(), &on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(), &on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks.get(), &on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks.get(), &on_stream_close);
  // Closed streams are kept for the priority tree only, which a client never builds.
  nghttp2_option_set_no_closed_streams(option.get(), 1);
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_client_new2(&raw, callbacks.get(), self.get(), option.get()) != 0) {
    error = "h2: out of memory";
    return nullptr;
  }
  self->session_.reset(raw);
  if (nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, kSettings, std::size(kSettings)) != 0 ||
      nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) != 0) {
    error = "h2: cannot queue the client's SETTINGS";
    return nullptr;
  }
  return self;
}

int32_t H2ClientSession::submit_get(const Request& request, void* stream, std::string& error) {
  nghttp2_nv headers[] = {
      header(":method", "GET"),
      header(":scheme", "https"),
      header(":authority", request.authority),
      header(":path", request.path),
      header("accept", "text/event-stream"),
      header("cache-control", "no-cache"),
      header("last-event-id", request.last_event_id),
  };
  size_t count = std::size(headers) - (request.last_event_id.empty() ? 1 : 0);
  int32_t id = nghttp2_submit_request(session_.get(), nullptr, headers, count, nullptr, stream);
  if (id < 0) {
    error = std::string("h2: cannot open a stream: ") + nghttp2_strerror(id);
    return -1;
  }
  return id;
}

void H2ClientSession::cancel(int32_t id) {
  nghttp2_session_set_stream_user_data(session_.get(), id, nullptr);
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
}

bool H2ClientSession::receive(std::string_view in, std::string& error) {
  ssize_t n = nghttp2_session_mem_recv(session_.get(), reinterpret_cast<const uint8_t*>(in.data()),
                                       in.size());
  if (n < 0) {
    error = std::string("h2: ") + nghttp2_strerror(static_cast<int>(n));
    return false;
  }
  return true;
}

bool H2ClientSession::gather(std::string& error) {
  while (out_.size() < kMaxPendingBytes) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n < 0) {
      error = std::string("h2: ") + nghttp2_strerror(static_cast<int>(n));
      return false;
    }
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return true;
}

bool H2ClientSession::finished() const {
  return out_.empty() && nghttp2_session_want_read(session_.get()) == 0 &&
         nghttp2_session_want_write(session_.get()) == 0;
}

int H2ClientSession::on_begin_headers(nghttp2_session*, const nghttp2_frame*, void* self) {
  static_cast<H2ClientSession*>(self)->status_ = 0;
  return 0;
}

int H2ClientSession::on_header(nghttp2_session*, const nghttp2_frame*, const uint8_t* name,
                               size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                               void* self) {
  if (std::string_view(reinterpret_cast<const char*>(name), namelen) != ":status") return 0;
  // nghttp2 has checked that :status is three digits.
  int status = 0;
  const char* v = reinterpret_cast<const char*>(value);
  std::from_chars(v, v + valuelen, status);
  static_cast<H2ClientSession*>(self)->status_ = status;
  return 0;
}

int H2ClientSession::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                                   void* self) {
  auto* s = static_cast<H2ClientSession*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || s->status_ < 200) return 0;
  int status = s->status_;
  s->status_ = 0;
  if (void* tag = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)) {
    s->handler_.on_h2_head(tag, status);
  }
  return 0;
}

int H2ClientSession::on_data_chunk_recv(nghttp2_session* session, uint8_t, int32_t stream_id,
                                        const uint8_t* data, size_t len, void* self) {
  if (void* tag = nghttp2_session_get_stream_user_data(session, stream_id)) {
    static_cast<H2ClientSession*>(self)->handler_.on_h2_data(
        tag, std::string_view(reinterpret_cast<const char*>(data), len));
  }
  return 0;
}

int H2ClientSession::on_stream_close(nghttp2_session* session, int32_t stream_id,
                                     uint32_t error_code, void* self) {
  if (void* tag = nghttp2_session_get_stream_user_data(session, stream_id)) {
    static_cast<H2ClientSession*>(self)->handler_.on_h2_close(tag, error_code);
  }
  return 0;
}

}  // namespace loadgen
