// What ternd answers on its admin socket, built from the live state of its modules.
#pragma once

#include <chrono>

#include "bgp/rib/rib.hpp"
#include "bgp/session/session.hpp"
#include "controller/ternd/config.hpp"
#include "controller/ternd/ipam_service.hpp"
#include "controller/ternd/node.hpp"
#include "proto/admin.pb.h"

namespace tern::ternd {

admin::RibReply rib_reply(const bgp::rib::Rib& rib, const admin::RibRequest& request);

admin::PeersReply peers_reply(const Node& node, std::chrono::steady_clock::time_point now);

// `ternctl routes`: the kernel routes the node wants, and how far they are in.
admin::RoutesReply routes_reply(const Node& node, const admin::RoutesRequest& request);

// CNI STATUS and `ternctl status`: ready as /readyz says, with the node's figures.
admin::StatusReply status_reply(const Node& node, const IpamService& ipam, std::chrono::steady_clock::duration uptime);

}  // namespace tern::ternd
