// What every tern CNI plugin's main() does around its commands: read the environment and
// stdin, answer VERSION, hand any other command to the plugin, and turn a failure into
// the spec's error object on stdout with exit status 1.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cni/spec.hpp"

namespace tern::cni {

// `handle` runs the command; it sets `*version` to the configuration's cniVersion as soon
// as it knows it, so an error object is written in that version.
using Handler = std::function<void(const Environment& env, const std::string& stdin_text, std::string* version)>;
int run_plugin(const Handler& handle);

}  // namespace tern::cni
