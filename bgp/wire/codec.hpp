// Decoding and encoding whole BGP messages. Pure: a byte span and a context in, a value
// or a verdict out. Never reads outside its input, never loops without consuming it.
#pragma once

#include <span>
#include <string>
#include <variant>
#include <vector>

#include "bgp/wire/message.hpp"
#include "bgp/wire/notification.hpp"

namespace tern::bgp::wire {

// What was negotiated with the peer, and who the peer is: both directions use it.
struct Context {
  bool four_octet_as = true;       // RFC 6793 negotiated: AS numbers are 4 octets
  bool ebgp = false;               // some RFC 7606 rules depend on it
  bool add_path_ipv4 = false;      // path identifiers in IPv4 unicast NLRI (RFC 7911)
  bool add_path_ipv6 = false;      // ... and in IPv6 unicast NLRI
  bool extended_message = false;   // RFC 8654: UPDATEs up to 65535 octets
  bool extended_next_hop = false;  // RFC 8950: IPv4 NLRI with an IPv6 next hop

  size_t max_message_size() const { return extended_message ? kMaxExtendedMessageSize : kMaxMessageSize; }
  bool add_path(AddressFamily f) const {
    return f.afi == Afi::kIpv4 ? add_path_ipv4 : (f.afi == Afi::kIpv6 && add_path_ipv6);
  }
};

// A message that decoded, with what RFC 7606 says to do with it. For kTreatAsWithdraw,
// every prefix the UPDATE announces (nlri and mp_reach) is to be withdrawn and its
// attributes are not to be used; `problems` says why, one line per problem, for the log.
struct Decoded {
  Message message;
  Verdict verdict = Verdict::kAccepted;
  std::vector<std::string> problems;
};

class DecodeResult {
 public:
  DecodeResult(Decoded d) : v_(std::move(d)) {}      // NOLINT(google-explicit-constructor)
  DecodeResult(DecodeError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  Decoded& value() { return std::get<0>(v_); }
  const Decoded& value() const { return std::get<0>(v_); }
  const DecodeError& error() const { return std::get<1>(v_); }  // session reset with this NOTIFICATION

 private:
  std::variant<Decoded, DecodeError> v_;
};

// Decodes one whole message, header included (the framer has checked the header).
DecodeResult decode_message(std::span<const uint8_t> message, const Context& ctx);

// Decodes the body of a message of `type` (after the 19-octet header).
DecodeResult decode_body(MessageType type, std::span<const uint8_t> body, const Context& ctx);

// Encodes one message, header included. An UPDATE that does not fit max_message_size is
// the caller's error (UpdatePacker splits prefixes across messages).
std::vector<uint8_t> encode_message(const Message& m, const Context& ctx);

// Appends the path attributes of `attrs` (no MP_REACH/MP_UNREACH NLRI splitting).
void encode_attributes(const PathAttributes& attrs, const Context& ctx, std::vector<uint8_t>& out);

// Decodes a path attribute block on its own, as MRT RIB entries carry it (RFC 6396
// §4.3.4: an MP_REACH_NLRI there may hold only the next hop).
DecodeResult decode_attributes(std::span<const uint8_t> bytes, const Context& ctx, bool mrt_rib_entry = false);

// Appends one prefix in NLRI encoding: [path id], length, the significant octets.
void encode_prefix(const Nlri& n, bool add_path, std::vector<uint8_t>& out);
// Decodes an NLRI field of `family` into `out`; false if it is malformed.
bool decode_prefixes(std::span<const uint8_t> bytes, Afi afi, bool add_path, std::vector<Nlri>& out);

}  // namespace tern::bgp::wire
