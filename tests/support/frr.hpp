// An FRR instance (zebra + bgpd, optionally bfdd) inside a test's network namespace, run
// as TESTING.md describes: `-N NS` keeps its vty sockets in /var/run/frr/NS/, config and
// log live in a per-instance directory owned by user frr. Daemons are stopped by the PIDs
// in their pid files when the object goes away.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/support/netns.hpp"

namespace tern::testing {

class Frr {
 public:
  // Writes `config` (an frr.conf) and starts zebra, then the given daemons.
  Frr(const Netns& ns, const std::string& config, std::vector<std::string> daemons = {"bgpd"});
  ~Frr();
  Frr(const Frr&) = delete;
  Frr& operator=(const Frr&) = delete;

  // `vtysh -N NS -c command`; the command should end in "json".
  nlohmann::json show_json(const std::string& command) const;
  // Runs vtysh with one -c per command (e.g. {"configure terminal", "router bgp 1", ...}).
  CommandResult vtysh(const std::vector<std::string>& commands) const;

  void stop_daemon(const std::string& daemon);
  void start_daemon(const std::string& daemon);
  std::string log() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string ns_;
  std::string dir_;      // config and log
  std::string run_dir_;  // /var/run/frr/NS
  std::vector<std::string> daemons_;
};

}  // namespace tern::testing
