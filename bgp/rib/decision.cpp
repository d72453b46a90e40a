#include "bgp/rib/decision.hpp"

namespace tern::bgp::rib {

namespace {

uint32_t local_pref(const Candidate& c) { return c.attrs->local_pref.value_or(100); }
size_t as_path_length(const Candidate& c) { return c.attrs->as_path ? c.attrs->as_path->length() : 0; }
uint8_t origin(const Candidate& c) { return static_cast<uint8_t>(c.attrs->origin.value_or(wire::Origin::kIncomplete)); }
uint32_t med(const Candidate& c) { return c.attrs->med.value_or(0); }
wire::Asn neighbor_as(const Candidate& c) { return c.attrs->as_path ? c.attrs->as_path->neighbor_as() : 0; }
uint32_t router_id(const Candidate& c) { return c.attrs->originator_id.value_or(c.peer_router_id); }

template <typename T>
int lower_wins(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Steps up to and including eBGP over iBGP: what multipath needs equal.
int compare_to_ebgp(const Candidate& a, const Candidate& b, const DecisionOptions& o, Reason& why) {
  if (int c = lower_wins(local_pref(b), local_pref(a))) return why = Reason::kLocalPref, c;
  if (int c = lower_wins(!a.local, !b.local)) return why = Reason::kLocal, c;
  if (int c = lower_wins(as_path_length(a), as_path_length(b))) return why = Reason::kAsPathLength, c;
  if (int c = lower_wins(origin(a), origin(b))) return why = Reason::kOrigin, c;
  if (o.always_compare_med || neighbor_as(a) == neighbor_as(b)) {
    if (int c = lower_wins(med(a), med(b))) return why = Reason::kMed, c;
  }
  if (int c = lower_wins(!a.ebgp, !b.ebgp)) return why = Reason::kEbgpOverIbgp, c;
  return 0;
}

}  // namespace

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::kOnlyPath: return "only path";
    case Reason::kLocalPref: return "higher local preference";
    case Reason::kLocal: return "originated here";
    case Reason::kAsPathLength: return "shorter AS path";
    case Reason::kOrigin: return "lower origin";
    case Reason::kMed: return "lower MED";
    case Reason::kEbgpOverIbgp: return "eBGP over iBGP";
    case Reason::kRouterId: return "lower router ID";
    case Reason::kClusterList: return "shorter cluster list";
    case Reason::kPeerAddress: return "lower peer address";
    case Reason::kPathId: return "lower path ID";
    case Reason::kEqual: return "equal";
  }
  return "?";
}

int compare(const Candidate& a, const Candidate& b, const DecisionOptions& o, Reason* reason) {
  Reason why = Reason::kEqual;
  int c = compare_to_ebgp(a, b, o, why);
  if (!c && (c = lower_wins(router_id(a), router_id(b)))) why = Reason::kRouterId;
  if (!c && (c = lower_wins(a.attrs->cluster_list.size(), b.attrs->cluster_list.size()))) why = Reason::kClusterList;
  if (!c && (c = a.peer_address < b.peer_address ? -1 : (b.peer_address < a.peer_address ? 1 : 0)))
    why = Reason::kPeerAddress;
  if (!c && (c = lower_wins(a.path_id, b.path_id))) why = Reason::kPathId;
  if (reason) *reason = c ? why : Reason::kEqual;
  return c;
}

bool multipath_equal(const Candidate& best, const Candidate& other, const DecisionOptions& o) {
  Reason why;
  if (compare_to_ebgp(best, other, o, why) != 0) return false;
  if (best.local || other.local) return false;
  if (o.multipath_relax) return true;
  return best.attrs->as_path == other.attrs->as_path;
}

}  // namespace tern::bgp::rib
