// What every tern CNI plugin's main() does around its commands: read the environment and
// stdin, answer VERSION, hand any other command to the plugin, and turn a failure into
// the spec's error object on stdout with exit status 1.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "cni/spec.hpp"

namespace tern::cni {

// `handle` runs the command and returns what goes to stdout (a result, or nothing); it
// sets `*version` to the configuration's cniVersion as soon as it knows it, so an error
// object is written in that version.
using Handler = std::function<std::string(const Environment& env, const std::string& stdin_text, std::string* version)>;

// A command's stdout and exit status, and the command (unset when CNI_COMMAND and the
// rest of the environment did not parse).
struct Outcome {
  int status = 0;
  std::string output;
  std::optional<Command> command;
};

// One command, from its environment and stdin. `netns_path`, when given, is where the
// Pod's namespace is opened instead of CNI_NETNS (ternd running tern's call holds the
// namespace tern passed it).
Outcome run_command(const Handler& handle, const std::function<const char*(const char*)>& getenv,
                    const std::string& stdin_text, const std::string& netns_path = "");

// run_command on the process's environment and stdin; writes stdout, returns the status.
int run_plugin(const Handler& handle);

}  // namespace tern::cni
