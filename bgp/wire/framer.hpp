// Splits a TCP byte stream into whole BGP messages, checking each header as RFC 4271
// §6.1 says. The session adapter feeds it what it reads; `ternctl decode` feeds it files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "bgp/wire/notification.hpp"
#include "bgp/wire/types.hpp"

namespace tern::bgp::wire {

struct Frame {
  enum class Status { kMessage, kNeedMore, kError };
  Status status = Status::kNeedMore;
  std::span<const uint8_t> message;  // header included, when kMessage
  DecodeError error;                 // when kError: the NOTIFICATION to send
};

// Looks at the start of `stream`: a whole message, too few bytes yet, or a bad header.
// `max_size` is 4096, or 65535 once the extended message capability is negotiated.
Frame next_frame(std::span<const uint8_t> stream, size_t max_size = kMaxMessageSize);

}  // namespace tern::bgp::wire
