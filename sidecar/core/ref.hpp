// Intrusive reference counting for objects shared across threads and handed to C libraries as a
// raw pointer (evbuffer_add_reference's cleanup argument), where a shared_ptr would need one
// heap-allocated control copy per reference.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

namespace sidecar {

class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  void retain() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Deletes the object when the last reference goes. T must derive from RefCounted.
  template <typename T>
  static void release(const T* object) {
    if (object->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete object;
  }

 protected:
  ~RefCounted() = default;

 private:
  mutable std::atomic<std::uint32_t> refs_{0};
};

// Owning pointer to a RefCounted T.
template <typename T>
class Ref {
 public:
  Ref() = default;
  explicit Ref(const T* object) : p_(object) {
    if (p_) p_->retain();
  }
  Ref(const Ref& other) : Ref(other.p_) {}
  Ref(Ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  Ref& operator=(Ref other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~Ref() {
    if (p_) RefCounted::release(p_);
  }

  const T* get() const { return p_; }
  const T* operator->() const { return p_; }
  const T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  const T* p_ = nullptr;
};

}  // namespace sidecar
