// A ternd started by a test inside a namespace, with its admin socket and log in a
// directory of its own; stopped by PID (SIGTERM) when the object goes away.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace tern::testing {

class Ternd {
 public:
  // `yaml` is the configuration without the admin section, which is added.
  Ternd(const Netns& ns, const std::string& yaml);
  ~Ternd();

  // Stops ternd with `sig` (SIGKILL: a crash) and waits for it to exit; start() runs it
  // again with the same configuration, directory and log.
  int stop(int sig = 15);
  void start();
  std::string socket() const { return (dir_ / "ternd.sock").string(); }
  // Rewrites the configuration and sends SIGHUP.
  void reload(const std::string& yaml);
  // `ternctl ARGS... --socket S`.
  CommandResult ternctl(std::vector<std::string> args) const;
  // `ternctl ARGS... --json`, parsed; {"error": stderr} when it failed.
  nlohmann::json ternctl_json(std::vector<std::string> args) const;
  // The peer with this address in `ternctl peers --json`, or null.
  nlohmann::json peer(const std::string& address) const;
  bool established(const std::string& address) const;
  // The paths of one prefix in `ternctl rib PREFIX --json` (empty when none).
  nlohmann::json rib_paths(const std::string& prefix) const;
  std::string log() const;
  pid_t pid() const { return daemon_->pid(); }
  const std::filesystem::path& dir() const { return dir_; }

  static const char* binary();
  static const char* ctl_binary();

 private:
  void write_config(const std::string& yaml);

  std::string netns_;
  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace tern::testing
