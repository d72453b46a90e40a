// Running commands from tests: always bounded in time, always stopped by PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tern::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by the timeout or a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv (no shell) with an optional stdin and extra environment ("K=V"), killing it
// after `timeout`.
CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                  const std::string& stdin_data = "", const std::vector<std::string>& env = {});

// run({"sh", "-c", script}); for tests whose setup reads best as a few shell lines.
CommandResult sh(const std::string& script, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A long-running process started by a test; stopped (SIGTERM, then SIGKILL after a grace
// period) by its PID when the object goes away.
class Daemon {
 public:
  Daemon() = default;
  Daemon(const std::vector<std::string>& argv, const std::string& log_path,
         const std::vector<std::string>& env = {});
  ~Daemon() { stop(); }
  Daemon(Daemon&& other) noexcept;
  Daemon& operator=(Daemon&& other) noexcept;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` and waits up to `grace` for exit, then SIGKILL. Returns the exit status.
  int stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::seconds(15));

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Polls `condition` every `interval` until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

bool is_root();

}  // namespace tern::testing
