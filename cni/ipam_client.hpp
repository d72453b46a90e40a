// tern-ipam's work as a library: the "ipam" section of a network configuration and the
// requests to ternd for each CNI command. The tern-ipam program is a thin main() over it,
// and the tern plugin calls it in-process when ipam.type is "tern-ipam": the same requests
// and results, without a second program started per Pod (a fork and exec cost more than
// the rest of an ADD here).
//
// Single-threaded and blocking, like the plugins that use it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cni/spec.hpp"
#include "proto/admin_client.hpp"

namespace tern::cni::ipam {

inline constexpr const char* kType = "tern-ipam";
inline constexpr const char* kDefaultSpoolDir = "/var/lib/tern/release-spool";

struct Conf {
  std::string socket = admin::kDefaultSocketPath;
  std::string spool_dir = kDefaultSpoolDir;
  std::vector<std::string> families;  // empty: every family the node has blocks of
  std::chrono::milliseconds timeout{10000};
};

// The "ipam" object of an already parsed configuration (spec errors as cni::Failure).
Conf parse_conf(const NetConf& net);

// An ADD in two halves: start() connects and sends the request, finish() waits for the
// allocation (durable in ternd's journal by then) and gives the spec's IPAM result.
// Between the two the caller may set up what needs no address.
class PendingAdd {
 public:
  static PendingAdd start(const Conf& conf, const Environment& env);
  PluginResult finish();
  bool failed() const { return failed_.has_value(); }  // ternd unreachable: finish() throws

 private:
  PendingAdd() = default;
  std::optional<admin::Client> client_;
  std::optional<Error> failed_;  // a connect or send error, reported by finish()
};

inline PluginResult add(const Conf& conf, const Environment& env) { return PendingAdd::start(conf, env).finish(); }
// Idempotent; spools the release when ternd is down.
void del(const Conf& conf, const Environment& env);
void check(const Conf& conf, const Environment& env, const PluginResult& prev);
void status(const Conf& conf);
void gc(const Conf& conf, const std::vector<std::pair<std::string, std::string>>& valid_attachments);

}  // namespace tern::cni::ipam
