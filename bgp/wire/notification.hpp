// NOTIFICATION codes and subcodes (RFC 4271 §4.5 and §6, RFC 4486 Cease, RFC 6608 FSM,
// RFC 7313 ROUTE-REFRESH, RFC 8203/9003 shutdown communication) and the structured
// verdict a decoder gives when input is bad (RFC 7606).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::bgp::wire {

enum class ErrorCode : uint8_t {
  kMessageHeader = 1,
  kOpenMessage = 2,
  kUpdateMessage = 3,
  kHoldTimerExpired = 4,
  kFsm = 5,
  kCease = 6,
  kRouteRefresh = 7,  // RFC 7313
};

namespace header_error {  // RFC 4271 §6.1
inline constexpr uint8_t kConnectionNotSynchronized = 1;
inline constexpr uint8_t kBadMessageLength = 2;
inline constexpr uint8_t kBadMessageType = 3;
}  // namespace header_error

namespace open_error {  // RFC 4271 §6.2, RFC 5492
inline constexpr uint8_t kUnspecific = 0;
inline constexpr uint8_t kUnsupportedVersion = 1;
inline constexpr uint8_t kBadPeerAs = 2;
inline constexpr uint8_t kBadBgpIdentifier = 3;
inline constexpr uint8_t kUnsupportedOptionalParameter = 4;
inline constexpr uint8_t kUnacceptableHoldTime = 6;
inline constexpr uint8_t kUnsupportedCapability = 7;
inline constexpr uint8_t kRoleMismatch = 11;  // RFC 9234
}  // namespace open_error

namespace update_error {  // RFC 4271 §6.3
inline constexpr uint8_t kMalformedAttributeList = 1;
inline constexpr uint8_t kUnrecognizedWellKnownAttribute = 2;
inline constexpr uint8_t kMissingWellKnownAttribute = 3;
inline constexpr uint8_t kAttributeFlagsError = 4;
inline constexpr uint8_t kAttributeLengthError = 5;
inline constexpr uint8_t kInvalidOriginAttribute = 6;
inline constexpr uint8_t kInvalidNextHopAttribute = 8;
inline constexpr uint8_t kOptionalAttributeError = 9;
inline constexpr uint8_t kInvalidNetworkField = 10;
inline constexpr uint8_t kMalformedAsPath = 11;
}  // namespace update_error

namespace fsm_error {  // RFC 6608
inline constexpr uint8_t kUnspecified = 0;
inline constexpr uint8_t kUnexpectedInOpenSent = 1;
inline constexpr uint8_t kUnexpectedInOpenConfirm = 2;
inline constexpr uint8_t kUnexpectedInEstablished = 3;
}  // namespace fsm_error

namespace cease {  // RFC 4486, RFC 8538
inline constexpr uint8_t kMaximumPrefixesReached = 1;
inline constexpr uint8_t kAdministrativeShutdown = 2;
inline constexpr uint8_t kPeerDeconfigured = 3;
inline constexpr uint8_t kAdministrativeReset = 4;
inline constexpr uint8_t kConnectionRejected = 5;
inline constexpr uint8_t kOtherConfigurationChange = 6;
inline constexpr uint8_t kConnectionCollisionResolution = 7;
inline constexpr uint8_t kOutOfResources = 8;
inline constexpr uint8_t kHardReset = 9;  // RFC 8538
}  // namespace cease

namespace route_refresh_error {  // RFC 7313 §5
inline constexpr uint8_t kInvalidMessageLength = 1;
}  // namespace route_refresh_error

// "Cease / Administrative Shutdown"; "Update Message Error / Malformed AS_PATH"; unknown
// numbers are printed as numbers.
std::string_view error_code_name(uint8_t code);
std::string_view error_subcode_name(uint8_t code, uint8_t subcode);

// RFC 8203 / RFC 9003: the shutdown communication carried by Cease subcodes 2 and 4, if
// the data holds a well-formed one.
std::optional<std::string> shutdown_message(uint8_t code, uint8_t subcode, const std::vector<uint8_t>& data);

// How an UPDATE with errors is handled (RFC 7606 §2), weakest first.
enum class Verdict : uint8_t {
  kAccepted,          // nothing wrong
  kAttributeDiscard,  // malformed attributes dropped, the rest of the UPDATE is used
  kTreatAsWithdraw,   // every prefix in the UPDATE is withdrawn
  kSessionReset,      // a NOTIFICATION is sent and the session closed
};

std::string_view verdict_name(Verdict v);

// A decode that cannot go on: the NOTIFICATION to send, and why (for the operator's log).
struct DecodeError {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;
  std::string reason;
  friend bool operator==(const DecodeError&, const DecodeError&) = default;
};

}  // namespace tern::bgp::wire
