#include "sidecar/net/unix_client.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace sidecar {
namespace {

std::string connect_error(const std::string& path, int err, std::chrono::milliseconds timeout) {
  switch (err) {
    case ENOENT:
      return "no such socket (is the server running, and is this its path?)";
    case EACCES:
    case EPERM:
      return "permission denied (the socket's mode and group, or a directory above it, keep "
             "this user out)";
    case ECONNREFUSED: {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) return "it is not a socket";
      return "nothing is listening on it (the server is not running; the file is left from an "
             "earlier run)";
    }
    case ENOTDIR:
      return "a component of the path is not a directory";
    case EAGAIN:
      // A Unix listener's full backlog makes connect() wait for SO_SNDTIMEO, then fail so.
      return "the server did not accept the connection within " +
             std::to_string(timeout.count() / 1000) + " s (its backlog is full: is it stuck?)";
    default:
      return std::strerror(err);
  }
}

}  // namespace

UniqueFd connect_unix(const std::string& path, std::chrono::milliseconds timeout,
                      std::string& error) {
  sockaddr_un addr{};
  if (path.empty()) {
    error = "the path is empty";
    return {};
  }
  if (path.size() >= sizeof(addr.sun_path)) {
    error = "the path is longer than " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
    return {};
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = std::strerror(errno);
    return {};
  }
  timeval tv = to_timeval(timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    error = connect_error(path, errno, timeout);
    return {};
  }
  // The wait above was for the connect only; later writes are the caller's to pace.
  timeval none{};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
  return fd;
}

}  // namespace sidecar
