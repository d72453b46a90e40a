#include "cni/plugin.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace tern::cni {

Outcome run_command(const Handler& handle, const std::function<const char*(const char*)>& getenv,
                    const std::string& stdin_text, const std::string& netns_path) {
  std::string version;
  std::optional<Command> command;
  try {
    auto env = parse_environment(getenv);
    command = env.command;
    if (!netns_path.empty()) env.netns_path = netns_path;
    if (env.command == Command::kVersion) {
      if (!stdin_text.empty()) parse_netconf(stdin_text, Command::kVersion);  // an unsupported cniVersion is code 1
      return {0, version_json().dump() + '\n', command};
    }
    return {0, handle(env, stdin_text, &version), command};
  } catch (const Failure& f) {
    return {1, error_json(f, version).dump() + '\n', command};
  } catch (const std::exception& e) {
    return {1, error_json(Failure(Code::kInternal, e.what()), version).dump() + '\n', command};
  }
}

namespace {

std::string read_all(int fd) {
  std::string text;
  char chunk[16384];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(chunk, static_cast<size_t>(n));
  }
}

void write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the runtime stopped reading: nothing else to tell it
    done += static_cast<size_t>(n);
  }
}

}  // namespace

int run_plugin(const Handler& handle) {
  auto outcome = run_command(handle, ::getenv, read_all(0));
  write_all(1, outcome.output);
  return outcome.status;
}

}  // namespace tern::cni
