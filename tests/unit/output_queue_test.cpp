#include "sidecar/stream/output_queue.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "sidecar/net/libevent.hpp"

using namespace sidecar;

namespace {

// A connected pair of real sockets; the reader side is drained by hand.
struct SocketPair {
  UniqueFd writer, reader;
  SocketPair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    writer.reset(fds[0]);
    reader.reset(fds[1]);
  }
  std::string read_all() {
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(reader.get(), buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
};

std::size_t written_until_full(OutputQueue& q, int fd) {
  std::size_t total = 0;
  while (!q.empty()) {
    ssize_t n = q.write_to(fd);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  return total;
}

}  // namespace

TEST_CASE("contiguous slices of one segment merge into one entry") {
  SegmentHold segment(FrameSegment::owning("aaaabbbbcccc"));
  std::string_view all = segment.get()->bytes();
  OutputQueue q;
  q.append(*segment.get(), all.substr(0, 4), 1);
  q.append(*segment.get(), all.substr(4, 4), 1);
  q.append(*segment.get(), all.substr(8, 4), 1);
  CHECK(q.bytes() == 12);
  CHECK(q.events() == 3);
  // One entry's overhead, not three: what a burst on one topic costs a stream.
  CHECK(q.cost() == 12 + OutputQueue::kEntryCost);
  // A slice that does not follow the last one is its own entry.
  q.append(*segment.get(), all.substr(0, 4), 1);
  CHECK(q.cost() == 16 + 2 * OutputQueue::kEntryCost);
}

TEST_CASE("queued bytes leave in order, copies and static bytes included") {
  SocketPair pair;
  SegmentHold segment(FrameSegment::owning("event-1;event-2;"));
  OutputQueue q;
  q.append_copy("head;");
  q.append(*segment.get(), segment.get()->bytes(), 1);
  q.append_static(":\n");
  REQUIRE(written_until_full(q, pair.writer.get()) == 23);
  CHECK(q.empty());
  CHECK(q.cost() == 0);
  CHECK(pair.read_all() == "head;event-1;event-2;:\n");
}

TEST_CASE("a partial write keeps the rest, and the segment, until it is sent") {
  SocketPair pair;
  int small = 4096;
  REQUIRE(setsockopt(pair.writer.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  OutputQueue q;
  {
    SegmentHold segment(FrameSegment::owning(big));
    q.append(*segment.get(), segment.get()->bytes(), 1);
  }  // the queue alone holds the segment now
  std::string received;
  std::size_t first = written_until_full(q, pair.writer.get());
  CHECK(first > 0);
  CHECK(first < big.size());  // the socket filled up
  CHECK(q.bytes() == big.size() - first);
  CHECK(q.events() == 1);  // partly written: still not received whole
  while (!q.empty()) {
    received += pair.read_all();
    written_until_full(q, pair.writer.get());
  }
  received += pair.read_all();
  CHECK(received == big);
  CHECK(q.events() == 0);
}

TEST_CASE("a queue that emptied gives its entries' memory back") {
  SocketPair pair;
  OutputQueue q;
  std::vector<SegmentHold> segments;
  for (int i = 0; i < 100; ++i) {
    segments.emplace_back(FrameSegment::owning("frame " + std::to_string(i) + "\n"));
    q.append(*segments.back().get(), segments.back().get()->bytes(), 1);
  }
  CHECK(q.cost() == q.bytes() + 100 * OutputQueue::kEntryCost);
  written_until_full(q, pair.writer.get());
  CHECK(q.empty());
  CHECK(q.cost() == 0);
  std::string got = pair.read_all();
  CHECK(got.rfind("frame 0\n", 0) == 0);
  CHECK(got.size() > 700);
}
