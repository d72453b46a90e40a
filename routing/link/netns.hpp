// Network namespace handles: an owned fd and a guard that enters a namespace and always
// switches back.
//
// setns() changes the namespace of the calling thread only. Use these on a single-threaded
// program (the CNI binaries) or on a thread that runs one task at a time and leaves the
// guard's scope before the next (ternd's CNI workers), never around anything that could
// run another task on the thread meanwhile.
#pragma once

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace tern::routing::link {

// An open /proc/self/ns/net or /var/run/netns/NAME (any nsfs path), closed on destruction.
class NetnsFd {
 public:
  NetnsFd() = default;

  // Opens `path` and checks that it is a network namespace (not some other file).
  static Result<NetnsFd> open(const std::string& path);
  // The namespace of the calling thread.
  static Result<NetnsFd> current();

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  int release() { return fd_.release(); }

 private:
  explicit NetnsFd(int fd) : fd_(fd) {}
  UniqueFd fd_;
};

// Enters `target` on construction (via enter()) and returns the thread to the namespace it
// was in before, in the destructor. Failing to switch back would leave the thread in the
// wrong namespace for everything that follows, so that aborts the process.
class NetnsGuard {
 public:
  static Result<NetnsGuard> enter(const NetnsFd& target);
  ~NetnsGuard();
  NetnsGuard(NetnsGuard&& other) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  explicit NetnsGuard(NetnsFd original) : original_(std::move(original)) {}
  NetnsFd original_;
};

}  // namespace tern::routing::link
