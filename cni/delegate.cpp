#include "cni/delegate.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cni/spec.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace tern::cni {

namespace {

std::string find_plugin(const std::string& type, const std::vector<std::string>& path) {
  if (type.empty() || type.find('/') != std::string::npos) {
    throw Failure(Code::kInvalidConfig, "ipam.type \"" + type + "\" is not a plugin name");
  }
  for (const auto& dir : path) {
    std::string candidate = dir + "/" + type;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw Failure(Code::kIo, "the plugin " + type + " is not in CNI_PATH");
}

}  // namespace

nlohmann::json delegate(const std::string& type, const std::vector<std::string>& path, const std::string& command,
                        const std::string& stdin_text, std::chrono::milliseconds timeout) {
  std::string binary = find_plugin(type, path);
  std::vector<std::string> env_storage{"CNI_COMMAND=" + command};
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "CNI_COMMAND=", 12) != 0) env_storage.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw Failure(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  UniqueFd in_read(in_pipe[0]), in_write(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Failure(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  std::string argv0 = binary;
  char* argv[] = {argv0.data(), nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) throw Failure(Code::kIo, "cannot run " + binary + ": " + std::strerror(err));
  in_read.reset();
  out_write.reset();

  // The configuration is small (well under a pipe's 64 KiB), so it is written whole
  // before the answer is read.
  ::signal(SIGPIPE, SIG_IGN);
  for (size_t sent = 0; sent < stdin_text.size();) {
    ssize_t n = ::write(in_write.get(), stdin_text.data() + sent, stdin_text.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // the plugin exited early; its exit status says why
    sent += static_cast<size_t>(n);
  }
  in_write.reset();

  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (char chunk[8192];;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{out_read.get(), POLLIN, 0};
    int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    ssize_t n = ::read(out_read.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(chunk, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw Failure(Code::kTryAgainLater, type + " did not answer in " + std::to_string(timeout.count() / 1000) + " s");

  nlohmann::json parsed;
  if (!out.empty()) {
    try {
      parsed = nlohmann::json::parse(out);
    } catch (const nlohmann::json::parse_error&) {
      throw Failure(Code::kDecoding, type + " printed something that is not JSON", out.substr(0, 200));
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return parsed;
  if (parsed.is_object() && parsed.contains("code") && parsed["code"].is_number_integer()) {
    throw Failure(static_cast<Code>(parsed["code"].get<int>()),
                  type + ": " + parsed.value("msg", std::string("failed")), parsed.value("details", std::string()));
  }
  throw Failure(Code::kIo, type + " failed (" +
                               (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                  : "signal " + std::to_string(WTERMSIG(status))) +
                               ") without an error object");
}

}  // namespace tern::cni
