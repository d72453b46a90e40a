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

// ternctl rib: the Loc-RIB, one line per path, as `show bgp ipv4 unicast` prints it
// (*> best, *= multipath, * another candidate, with why it lost).
void print_rib(const admin::RibReply& reply, std::ostream& out);

// ternctl routes: one line per kernel route ternd wants, as `ip route` would print it.
void print_routes(const admin::RoutesReply& reply, std::ostream& out);
// ternctl ipam: the node's blocks and usage, then one line per Pod interface.
void print_ipam(const admin::IpamReply& reply, std::ostream& out);
// ternctl status: is the node ready for Pods, and its figures.
void print_status(const admin::StatusReply& reply, std::ostream& out);

// Any reply in protobuf's JSON mapping (field names as in the .proto): what --json prints.
std::string to_json(const google::protobuf::Message& m);

// "3d04h", "01:02:03", "never": durations as routers print them.
std::string format_duration(uint64_t seconds);

}  // namespace tern::ctl
