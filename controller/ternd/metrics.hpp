// ternd's /metrics (Prometheus text exposition format 0.0.4) and /readyz, from the live
// state of its modules.
#pragma once

#include <chrono>
#include <string>

#include "bgp/session/session.hpp"
#include "controller/http/http_server.hpp"
#include "controller/ternd/cni_service.hpp"
#include "controller/ternd/config.hpp"
#include "controller/ternd/ipam_service.hpp"
#include "controller/ternd/node.hpp"

namespace tern::ternd {

std::string render_metrics(const Node& node, std::chrono::steady_clock::time_point now);
std::string render_ipam_metrics(const IpamService& ipam);
std::string render_cni_metrics(const CniService& cni);

// Ready when every peer marked `required` is Established, when any static peer is
// configured at least one session is, and the kernel's routes are in sync. 503 names
// what is missing.
http::Reply readiness(const Node& node);

}  // namespace tern::ternd
