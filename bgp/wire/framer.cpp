#include "bgp/wire/framer.hpp"

#include <algorithm>
#include <string>

namespace tern::bgp::wire {

Frame next_frame(std::span<const uint8_t> stream, size_t max_size) {
  Frame f;
  if (stream.size() < kHeaderSize) return f;
  auto fail = [&](uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
    f.status = Frame::Status::kError;
    f.error = DecodeError{static_cast<uint8_t>(ErrorCode::kMessageHeader), subcode, std::move(data), std::move(reason)};
    return f;
  };
  if (!std::all_of(stream.begin(), stream.begin() + 16, [](uint8_t b) { return b == 0xff; })) {
    return fail(header_error::kConnectionNotSynchronized, {}, "message marker is not all ones");
  }
  size_t length = (size_t{stream[16]} << 8) | stream[17];
  uint8_t type = stream[18];
  // RFC 4271 §6.1: Bad Message Length carries the erroneous length field.
  if (length < kHeaderSize || length > max_size) {
    return fail(header_error::kBadMessageLength, {stream[16], stream[17]},
                "message length " + std::to_string(length) + " outside 19.." + std::to_string(max_size));
  }
  if (type < 1 || type > 5) {
    return fail(header_error::kBadMessageType, {type}, "unknown message type " + std::to_string(type));
  }
  if (stream.size() < length) return f;
  f.status = Frame::Status::kMessage;
  f.message = stream.first(length);
  return f;
}

}  // namespace tern::bgp::wire
