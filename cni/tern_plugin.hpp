// tern's commands, for the two programs that run them: tern-standalone (started by the
// `tern` front when ternd cannot take a call) and ternd (which takes the calls `tern`
// hands it, on worker threads). One body of code, so both wire a Pod the same way.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "cni/plugin.hpp"
#include "cni/spec.hpp"

namespace tern::cni {

// A plugin Handler (cni/plugin.hpp): ADD, DEL, CHECK, STATUS and GC.
std::string handle_tern(const Environment& env, const std::string& stdin_text, std::string* version);

// run_command(handle_tern, ...) as ternd runs it, for the admin socket `socket`: nullopt,
// with nothing done, for a configuration whose IPAM is not tern-ipam asking `socket` (and
// asking it for node state too), which tern-standalone runs instead. A configuration or
// environment that does not parse gets its error object here, as it would there.
std::optional<Outcome> run_tern_for_ternd(const std::string& socket,
                                          const std::function<const char*(const char*)>& getenv,
                                          const std::string& stdin_text, const std::string& netns_path);

}  // namespace tern::cni
