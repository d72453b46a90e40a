// IP addresses and prefixes as plain value types, shared by bgp, routing, ipam and cni.
// No I/O, no allocation: an address is 17 bytes on the stack.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tern {

enum class Family : uint8_t { kIpv4 = 4, kIpv6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0

  static IpAddress v4(uint32_t host_order);
  static IpAddress v4(std::span<const uint8_t, 4> network_order);
  static IpAddress v6(std::span<const uint8_t, 16> network_order);
  // From raw bytes: 4 bytes is IPv4, 16 is IPv6; nullopt otherwise.
  static std::optional<IpAddress> from_bytes(std::span<const uint8_t> bytes);
  static Result<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kIpv4; }
  bool is_v6() const { return family_ == Family::kIpv6; }
  int max_prefix_length() const { return is_v4() ? 32 : 128; }

  // Network-order bytes: 4 for IPv4, 16 for IPv6.
  std::span<const uint8_t> bytes() const { return {bytes_.data(), is_v4() ? 4u : 16u}; }
  uint32_t v4_host_order() const;  // IPv4 only
  bool is_unspecified() const;
  bool is_link_local() const;  // 169.254/16, fe80::/10

  // Keeps the first `length` bits and zeroes the rest.
  IpAddress masked(int length) const;

  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kIpv4;
  std::array<uint8_t, 16> bytes_{};
};

class Prefix {
 public:
  Prefix() = default;
  // The address is masked to the length, so equal networks compare equal.
  Prefix(IpAddress address, int length);
  // "198.18.0.0/24", "2001:db8::/48"; a bare address is a host prefix. Host bits set
  // beyond the length are an error (an operator typo is better reported than masked).
  static Result<Prefix> parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  int length() const { return length_; }
  Family family() const { return address_.family(); }
  bool contains(const IpAddress& a) const;
  bool contains(const Prefix& p) const;  // p is equal to or more specific than *this
  std::string to_string() const;

  friend auto operator<=>(const Prefix&, const Prefix&) = default;
  friend bool operator==(const Prefix&, const Prefix&) = default;

 private:
  IpAddress address_;
  uint8_t length_ = 0;
};

}  // namespace tern

template <>
struct std::hash<tern::IpAddress> {
  size_t operator()(const tern::IpAddress& a) const noexcept;
};
template <>
struct std::hash<tern::Prefix> {
  size_t operator()(const tern::Prefix& p) const noexcept;
};
