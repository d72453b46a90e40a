// tern's commands, for the two programs that run them: tern-standalone (started by the
// `tern` front when ternd cannot take a call) and ternd (which takes the calls `tern`
// hands it, on worker threads). One body of code, so both wire a Pod the same way.
#pragma once

#include <optional>
#include <string>

#include "cni/spec.hpp"

namespace tern::cni {

// A plugin Handler (cni/plugin.hpp): ADD, DEL, CHECK, STATUS and GC.
std::string handle_tern(const Environment& env, const std::string& stdin_text, std::string* version);

// The admin socket of a configuration whose IPAM is tern-ipam, asked for IPAM and node
// state on the same socket; nullopt for any other (another IPAM plugin, two sockets, a
// configuration that does not parse). ternd runs a call only when this is its own socket.
std::optional<std::string> tern_ipam_socket(const std::string& stdin_text, Command command);

}  // namespace tern::cni
