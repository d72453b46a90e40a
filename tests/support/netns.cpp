#include "tests/support/netns.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace tern::testing {

std::string run_prefix() { return "tern-" + std::to_string(getpid()) + "-"; }

Netns::Netns(const std::string& tag) : name_(run_prefix() + tag) {
  auto r = run({"ip", "netns", "add", name_});
  if (r.exit_code != 0) ADD_FAILURE() << "ip netns add " << name_ << ": " << r.err;
  ip("link set lo up");
}

Netns::~Netns() {
  // Processes a test left inside are the test's own; ip netns delete only unmounts, so
  // the namespace disappears when its last process and link go.
  run({"ip", "netns", "delete", name_});
}

CommandResult Netns::exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) const {
  std::vector<std::string> full{"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, timeout);
}

CommandResult Netns::sh(const std::string& script, std::chrono::milliseconds timeout) const {
  return exec({"sh", "-c", script}, timeout);
}

void Netns::ip(const std::string& args) const {
  auto r = testing::sh("ip -n " + name_ + " " + args);
  EXPECT_EQ(r.exit_code, 0) << "ip -n " << name_ << " " << args << ": " << r.err;
}

void connect(const Netns& a, const std::string& a_if, const std::string& a_addr, const Netns& b,
             const std::string& b_if, const std::string& b_addr) {
  auto r = sh("ip -n " + a.name() + " link add " + a_if + " type veth peer name " + b_if + " netns " + b.name());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  if (!a_addr.empty()) a.ip("addr add " + a_addr + " dev " + a_if);
  if (!b_addr.empty()) b.ip("addr add " + b_addr + " dev " + b_if);
  a.ip("link set " + a_if + " up");
  b.ip("link set " + b_if + " up");
}

}  // namespace tern::testing
