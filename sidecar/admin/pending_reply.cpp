#include "sidecar/admin/pending_reply.hpp"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include <algorithm>

#include "sidecar/net/libevent.hpp"

namespace sidecar {

std::shared_ptr<PendingReply> PendingReply::start(evhttp_request* req, std::size_t parts,
                                                  bool array) {
  std::shared_ptr<PendingReply> p(new PendingReply());
  p->req_ = req;
  p->conn_ = evhttp_request_get_connection(req);
  p->parts_.resize(parts);
  p->missing_ = parts;
  p->array_ = array;
  if (p->conn_) evhttp_connection_set_closecb(p->conn_, &on_close, p.get());
  return p;
}

PendingReply::~PendingReply() {
  if (req_ && conn_) evhttp_connection_set_closecb(conn_, nullptr, nullptr);
}

void PendingReply::on_close(evhttp_connection*, void* self) {
  auto* p = static_cast<PendingReply*>(self);
  p->req_ = nullptr;  // evhttp frees it
  p->conn_ = nullptr;
}

void PendingReply::set(std::size_t i, std::string json, int status, int retry_after) {
  if (i >= parts_.size() || missing_ == 0) return;
  parts_[i] = std::move(json);
  if (status != 200 && status_ == 200) status_ = status;
  retry_after_ = std::max(retry_after_, retry_after);
  if (--missing_ == 0) send();
}

void PendingReply::send() {
  if (!req_) return;
  if (conn_) evhttp_connection_set_closecb(conn_, nullptr, nullptr);
  std::string body;
  if (array_) {
    body = "[";
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      if (i) body.push_back(',');
      body += parts_[i];
    }
    body.push_back(']');
  } else if (!parts_.empty()) {
    body = std::move(parts_[0]);
  }
  body.push_back('\n');
  evkeyvalq* headers = evhttp_request_get_output_headers(req_);
  evhttp_add_header(headers, "Content-Type", "application/json");
  evhttp_add_header(headers, "Cache-Control", "no-store");
  if (retry_after_ > 0) {
    evhttp_add_header(headers, "Retry-After", std::to_string(retry_after_).c_str());
  }
  EvBufferPtr buf(evbuffer_new());
  evbuffer_add(buf.get(), body.data(), body.size());
  evhttp_send_reply(req_, status_, nullptr, buf.get());
  req_ = nullptr;
  conn_ = nullptr;
}

}  // namespace sidecar
