// What ternd answers on its admin socket, built from the live state of its modules.
#pragma once

#include <chrono>

#include "bgp/session/session.hpp"
#include "controller/ternd/config.hpp"
#include "proto/admin.pb.h"

namespace tern::ternd {

admin::PeersReply peers_reply(const Config& config, const bgp::session::Speaker& speaker,
                              std::chrono::steady_clock::time_point now);

}  // namespace tern::ternd
