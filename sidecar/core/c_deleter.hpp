// Deleter for C handles owned by std::unique_ptr: CDeleter<free_fn> calls free_fn(p).
#pragma once

namespace sidecar {

template <auto Fn>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p) Fn(p);
  }
};

}  // namespace sidecar
