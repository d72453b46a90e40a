// Calling CNI plugins exactly as a container runtime does: the network configuration on
// stdin, the CNI_* variables in the environment, run inside the node's namespace, the
// result or error object read from stdout.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace tern::testing {

struct CniCall {
  std::string command;       // ADD, DEL, CHECK, STATUS, GC, VERSION
  std::string container_id;
  std::string netns;         // a path; empty: none (containerd's second DEL)
  std::string ifname = "eth0";
  std::string args;          // CNI_ARGS
};

struct CniReply {
  int exit_code = -1;
  nlohmann::json out;  // the result or the error object; null when stdout was empty
  std::string raw;     // stdout as printed
  std::string err;     // stderr
};

// The directory holding the `tern` and `tern-ipam` binaries of this build.
const char* cni_bin_dir();
// Debian's reference plugins (ptp, host-local, ...), from containernetworking-plugins.
inline constexpr const char* kReferencePluginDir = "/usr/lib/cni";

// Runs the plugin named by `config["type"]` in `node` (CNI_PATH: this build's plugins,
// then the reference ones).
CniReply cni(const Netns& node, const CniCall& call, const nlohmann::json& config,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace tern::testing
