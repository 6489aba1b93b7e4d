// The publish pipeline against a scripted peer on a real socket pair: what the sidecar's own
// binary never does on purpose (a notice mid-stream, a reply to nothing), and counting.
#include "sidecar/app/publish_pipeline.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <thread>

#include "sidecar/net/libevent.hpp"

using namespace sidecar;
using End = PublishPipeline::End;

namespace {

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// Reads `lines` lines from `fd`, answers with `replies`, then closes it.
std::thread peer(UniqueFd fd, int lines, std::string replies) {
  return std::thread([fd = std::move(fd), lines, replies = std::move(replies)]() {
    std::string got;
    char buf[4096];
    while (std::count(got.begin(), got.end(), '\n') < lines) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t done = 0;
    while (done < replies.size()) {
      ssize_t n = ::write(fd.get(), replies.data() + done, replies.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  });
}

struct Run {
  PublishPipeline::Outcome outcome;
  std::string out, err;
};

// The pipeline over `input`, with a peer that reads `lines` lines and answers `replies`.
Run run(const std::string& input, int lines, std::string replies, bool quiet = false) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd mine(sv[0]);
  std::thread other = peer(UniqueFd(sv[1]), lines, std::move(replies));
  Pipe in, out, err;
  REQUIRE(::write(in.write.get(), input.data(), input.size()) ==
          static_cast<ssize_t>(input.size()));
  in.write.reset();
  PublishPipeline pipeline({mine.get(), in.read.get(), out.write.get(), err.write.get()},
                           {quiet, false});
  Run r;
  r.outcome = pipeline.run();
  other.join();
  out.write.reset();
  err.write.reset();
  r.out = read_all(out.read.get());
  r.err = read_all(err.read.get());
  return r;
}

const std::string kAck = "{\"ok\":true,\"replies\":\"all\"}\n";
const std::string kOk = "{\"ok\":true,\"id\":\"1-1\",\"subscribers\":0}\n";
const std::string kNo = "{\"ok\":false,\"error\":\"unknown field 'x'\"}\n";

}  // namespace

TEST_CASE("publish pipeline: every line answered, each reply printed in order") {
  Run r = run("{\"topic\":\"a\"}\n\n{\"topic\":\"a\",\"x\":1}\n{\"topic\":\"a\"}", 4,
              kAck + kOk + kNo + kOk);
  CHECK(r.outcome.end == End::kAnswered);
  CHECK(r.outcome.counts.sent == 3);
  CHECK(r.outcome.counts.accepted == 2);
  CHECK(r.outcome.counts.refused == 1);
  CHECK(r.out == kOk + kNo + kOk);
  CHECK(r.err.empty());
}

TEST_CASE("publish pipeline: quiet prints the refused replies only") {
  Run r = run("{\"topic\":\"a\"}\n{\"topic\":\"a\",\"x\":1}\n", 3, kAck + kOk + kNo, true);
  CHECK(r.outcome.end == End::kAnswered);
  CHECK(r.out == kNo);
}

TEST_CASE("publish pipeline: a notice mid-stream is told, the rest is unanswered") {
  const std::string closing =
      "{\"ok\":false,\"error\":\"closing: no reply was read for publish.reply_stall_timeout\"}\n";
  Run r =
      run("{\"topic\":\"a\"}\n\n{\"topic\":\"b\"}\n{\"topic\":\"c\"}\n", 4, kAck + kOk + closing);
  CHECK(r.outcome.end == End::kLost);
  CHECK_FALSE(r.outcome.refused);
  CHECK(r.outcome.counts.accepted == 1);
  CHECK(r.outcome.unanswered == 2);
  CHECK(r.outcome.resend_from == 3);  // input line 2 is blank
  CHECK(r.out == kOk);
  CHECK(r.err == "sse-sidecar publish: the sidecar ends the connection: " + closing);
}

TEST_CASE("publish pipeline: a refusal before the first line is answered is a refused peer") {
  const std::string refusal = "{\"ok\":false,\"error\":\"peer uid 7 gid 7 is not allowed\"}\n";
  Run r = run("{\"topic\":\"a\"}\n", 0, refusal);
  CHECK(r.outcome.end == End::kLost);
  CHECK(r.outcome.refused);  // its line may or may not have been sent; it was not read
  CHECK(r.out.empty());
  CHECK(r.err == "sse-sidecar publish: the sidecar ends the connection: " + refusal);
}

TEST_CASE("publish pipeline: a reply to no line is not the sidecar's") {
  Run r = run("{\"topic\":\"a\"}\n", 2, kAck + kOk + kOk);
  CHECK(r.outcome.end == End::kProtocol);
  CHECK(r.outcome.protocol_line == kOk.substr(0, kOk.size() - 1));
}

TEST_CASE("publish pipeline: lines the peer never read are counted from where to resend") {
  Run r = run("{\"topic\":\"a\"}\n{\"topic\":\"b\"}\n{\"topic\":\"c\"}\n", 1, kAck + kOk);
  CHECK(r.outcome.end == End::kLost);
  CHECK(r.outcome.unanswered == 2);
  CHECK(r.outcome.resend_from == 2);
  CHECK(r.out == kOk);
}
