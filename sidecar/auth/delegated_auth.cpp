#include "sidecar/auth/delegated_auth.hpp"

#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "sidecar/core/crypto.hpp"
#include "sidecar/core/json_writer.hpp"

namespace sidecar {
namespace {

constexpr std::size_t kMaxCachedAnswers = 10000;
constexpr std::size_t kMaxReasonBytes = 200;

std::string request_body(const AccessRequest& r) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("topics");
  w.StartArray();
  for (const auto& t : r.topics) w.String(t.text());
  w.EndArray();
  w.Key("origin");
  w.String(r.origin);
  w.Key("peer");
  w.String(r.peer);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// What makes two requests the same question: forwarded headers, topics and origin. Hashed, so
// the cache holds no cookie or token.
std::string cache_key(const AccessRequest& r) {
  std::string material = r.origin;
  for (const auto& [name, value] : r.forwarded)
    material.append("\n").append(name).append(": ").append(value);
  for (const auto& t : r.topics) material.append("\n").append(t.text());
  return sha256(material);
}

std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
  if (text.size() > kMaxReasonBytes) text.resize(kMaxReasonBytes);
  return text;
}

}  // namespace

DelegatedAuth::DelegatedAuth(const DelegateConfig& config, event_base* base)
    : config_(config), client_(base) {}

DelegatedAuth::Answer DelegatedAuth::interpret(const HttpResult& result) {
  Answer a;
  AccessDecision& d = a.decision;
  d.method = AccessMethod::kDelegate;
  if (result.status == 401 || result.status == 403) {
    d.status = result.status;
    d.reason = "refused by the application";
    rapidjson::Document doc;
    doc.Parse(result.body.data(), result.body.size());
    // Read through a const view: clang finds mixed const/non-const member iterators'
    // comparisons ambiguous under C++20's reversed operators.
    const rapidjson::Value& root = doc;
    if (!doc.HasParseError() && root.IsObject()) {
      auto reason = root.FindMember("reason");
      if (reason != root.MemberEnd() && reason->value.IsString()) {
        d.reason = one_line(reason->value.GetString());
      }
    }
    return a;
  }
  d.status = 503;
  d.reason = "authorization service unavailable";
  if (result.status != 200) return a;  // 5xx, timeout, refused connection: not cached
  rapidjson::Document doc;
  doc.Parse(result.body.data(), result.body.size());
  if (doc.HasParseError() || !doc.IsObject()) doc.SetObject();  // then reported as malformed
  const rapidjson::Value& root = doc;
  auto subject = root.FindMember("subject");
  auto topics = root.FindMember("topics");
  if (subject == root.MemberEnd() || !subject->value.IsString() || topics == root.MemberEnd() ||
      !topics->value.IsArray()) {
    spdlog::warn("delegated auth: the application's 200 answer is not {{\"subject\",\"topics\"}}");
    return a;
  }
  for (const auto& t : topics->value.GetArray()) {
    auto p = t.IsString() ? TopicPattern::parse(t.GetString()) : std::nullopt;
    if (!p) {
      spdlog::warn("delegated auth: the application granted an invalid topic pattern");
      return a;
    }
    a.granted.push_back(*p);
  }
  d.status = 200;
  d.reason.clear();
  d.subject = subject->value.GetString();
  return a;
}

void DelegatedAuth::remember(const std::string& key, const Answer& answer) {
  if (config_.cache_ttl.count() == 0 || answer.decision.status == 503) return;
  if (cache_.size() >= kMaxCachedAnswers) {
    auto now = Clock::now();
    std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
    if (cache_.size() >= kMaxCachedAnswers) cache_.clear();
  }
  cache_[key] = answer;
}

void DelegatedAuth::ask(const AccessRequest& request,
                        std::function<void(AccessDecision, std::vector<TopicPattern>)> done) {
  std::string key = cache_key(request);
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expires > Clock::now()) return done(it->second.decision, it->second.granted);
    cache_.erase(it);
  }
  if (client_.in_flight() >= config_.max_concurrent) {
    AccessDecision busy;
    busy.status = 503;
    busy.reason = "authorization service busy";
    busy.method = AccessMethod::kDelegate;
    return done(std::move(busy), {});
  }
  HttpCall call;
  call.method = "POST";
  call.url = config_.url;
  call.headers = request.forwarded;
  call.headers.emplace_back("Content-Type", "application/json");
  call.body = request_body(request);
  call.timeout = config_.timeout;
  client_.start(std::move(call), [this, key, done = std::move(done)](HttpResult result) {
    if (!result.error.empty()) spdlog::warn("delegated auth: {}", result.error);
    Answer answer = interpret(result);
    answer.expires = Clock::now() + config_.cache_ttl;
    remember(key, answer);
    done(answer.decision, answer.granted);
  });
}

}  // namespace sidecar
