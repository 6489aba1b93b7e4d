// The reply lines a publisher reads from the publish socket, cut as they arrive and told apart
// by their first bytes (the sidecar's writer always puts "ok" first, and its own notices start
// "closing:"). A line is passed on in pieces, never held whole: a reply echoes its line's `ref`,
// which may be as long as the line.
#pragma once

#include <string>
#include <string_view>

namespace sidecar {

class ReplyStream {
 public:
  enum class Kind {
    kAccepted,    // {"ok":true,...}: a line published
    kRefused,     // {"ok":false,...}: a line refused, or why the connection is refused
    kRepliesAll,  // {"ok":true,"replies":"all"}: a control line taken
    kClosing,     // {"ok":false,"error":"closing: ..."}: the sidecar ends the connection
    kOther,       // not a reply of the sidecar's
  };

  // Receives each line as begin(kind), its bytes in one or more pieces (without the LF), end().
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void begin(Kind kind) = 0;
    virtual void bytes(std::string_view piece) = 0;
    virtual void end() = 0;
  };

  void feed(std::string_view bytes, Sink& sink);
  // Whether a line has begun and not ended: the stream stopped inside it.
  bool inside_line() const { return begun_ || !head_.empty(); }

 private:
  void classify(Sink& sink);

  std::string head_;    // the first bytes of a line not yet told apart
  bool begun_ = false;  // the current line was told apart and begun
};

}  // namespace sidecar
