// ternctl peers: the node's BGP sessions, as `show bgp summary` and
// `show bgp neighbors` give them, from ternd's admin socket.
#pragma once

#include <ostream>
#include <string>

#include "proto/admin.pb.h"

namespace tern::ctl {

// One line per peer.
void print_peers_table(const admin::PeersReply& reply, std::ostream& out);
// Everything known of one peer.
void print_peer_detail(const admin::Peer& peer, std::ostream& out);
// The reply in protobuf's JSON mapping (field names as in the .proto).
std::string peers_json(const admin::PeersReply& reply);

// ternctl rib: the Loc-RIB, one line per path, as `show bgp ipv4 unicast` prints it
// (*> best, *= multipath, * another candidate, with why it lost).
void print_rib(const admin::RibReply& reply, std::ostream& out);
std::string rib_json(const admin::RibReply& reply);

// "3d04h", "01:02:03", "never": durations as routers print them.
std::string format_duration(uint64_t seconds);

}  // namespace tern::ctl
