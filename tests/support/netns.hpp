// Network namespaces made by a test and always removed by it.
//
// Names carry a per-run prefix ("tern-<pid>-") so parallel runs never collide, and every
// namespace is deleted in the destructor, even when the test fails. Nothing here touches
// the root namespace: links, addresses and routes are made with `ip -n NAME ...`.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"

namespace tern::testing {

class Netns {
 public:
  // Creates "tern-<pid>-<tag>" with its loopback up.
  explicit Netns(const std::string& tag);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }

  // Runs argv inside the namespace (`ip netns exec NAME argv...`).
  CommandResult exec(const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // Runs a shell script inside the namespace.
  CommandResult sh(const std::string& script,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // `ip -n NAME <args>`; fails the test on a non-zero exit.
  void ip(const std::string& args) const;

 private:
  std::string name_;
};

// A veth pair between two namespaces, with optional addresses ("198.18.0.1/30").
void connect(const Netns& a, const std::string& a_if, const std::string& a_addr, const Netns& b,
             const std::string& b_if, const std::string& b_addr);

// The per-run prefix, "tern-<pid>-".
std::string run_prefix();

// Runs fn() on a fresh thread that has entered the namespace, and returns its result.
// Sockets created there stay in that namespace whichever thread uses them later.
// (Network namespaces are per thread: never setns() on a thread that does other work.)
template <typename F>
auto in_netns(const Netns& ns, F fn) -> decltype(fn()) {
  decltype(fn()) result{};
  std::thread([&] {
    int fd = open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) std::abort();  // a test bug, not a result
    close(fd);
    result = fn();
  }).join();
  return result;
}

}  // namespace tern::testing

// Kernel and interop tests need root; CI runs as root, so there they never skip.
#define TERN_REQUIRE_ROOT()                                                   \
  do {                                                                        \
    if (!::tern::testing::is_root()) GTEST_SKIP() << "needs root (network namespaces)"; \
  } while (0)
