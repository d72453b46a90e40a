// The BGP decision process (RFC 4271 §9.1.2.2, with the tie-breakers routers use), as a
// pure comparison of two candidate paths that says which step decided.
#pragma once

#include <cstdint>
#include <string_view>

#include "bgp/wire/attributes.hpp"
#include "common/ip.hpp"

namespace tern::bgp::rib {

struct Candidate {
  const wire::PathAttributes* attrs = nullptr;
  bool local = false;  // originated by this node
  bool ebgp = false;   // learned over eBGP
  uint32_t peer_router_id = 0;
  IpAddress peer_address;
  uint32_t path_id = 0;
};

struct DecisionOptions {
  bool always_compare_med = false;  // MED across neighbouring ASes too
  size_t max_paths = 1;             // ECMP: up to this many equal paths are used together
  bool multipath_relax = false;     // equal AS_PATH length is enough (not the same ASes)
};

// Ordered as the process applies them.
enum class Reason : uint8_t {
  kOnlyPath,
  kLocalPref,      // highest LOCAL_PREF (100 when absent)
  kLocal,          // originated here
  kAsPathLength,   // shortest AS_PATH (a set counts one, confederation segments none)
  kOrigin,         // IGP < EGP < INCOMPLETE
  kMed,            // lowest MED (0 when absent) from the same neighbouring AS
  kEbgpOverIbgp,
  kRouterId,       // lowest ORIGINATOR_ID, or the peer's router ID
  kClusterList,    // shortest CLUSTER_LIST
  kPeerAddress,    // lowest peer address
  kPathId,         // lowest ADD-PATH identifier: only to be deterministic
  kEqual,
};
std::string_view to_string(Reason r);

// Negative when `a` is better, positive when `b` is, 0 when they tie on every step;
// `reason` (if given) is the step that decided.
int compare(const Candidate& a, const Candidate& b, const DecisionOptions& options, Reason* reason = nullptr);

// Whether `other` may join `best` as an equal-cost path: equal through the eBGP/iBGP
// step, and the same AS_PATH (or only as long, with multipath_relax).
bool multipath_equal(const Candidate& best, const Candidate& other, const DecisionOptions& options);

}  // namespace tern::bgp::rib
