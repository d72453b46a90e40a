#include "common/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tern {

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v4(std::span<const uint8_t, 4> network_order) {
  IpAddress a;
  std::copy(network_order.begin(), network_order.end(), a.bytes_.begin());
  return a;
}

IpAddress IpAddress::v6(std::span<const uint8_t, 16> network_order) {
  IpAddress a;
  a.family_ = Family::kIpv6;
  std::copy(network_order.begin(), network_order.end(), a.bytes_.begin());
  return a;
}

std::optional<IpAddress> IpAddress::from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() == 4) return v4(bytes.first<4>());
  if (bytes.size() == 16) return v6(bytes.first<16>());
  return std::nullopt;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) {
    return make_error(Errc::kInvalidArgument, "not an IP address: '" + std::string(text) + "'");
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::kIpv6;
    return a;
  }
  return make_error(Errc::kInvalidArgument, "not an IP address: '" + std::string(text) + "'");
}

uint32_t IpAddress::v4_host_order() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool IpAddress::is_unspecified() const {
  auto b = bytes();
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

bool IpAddress::is_link_local() const {
  if (is_v4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

IpAddress IpAddress::masked(int length) const {
  IpAddress a = *this;
  int bits = max_prefix_length();
  length = std::clamp(length, 0, bits);
  for (int i = 0; i < bits / 8; ++i) {
    int keep = std::clamp(length - i * 8, 0, 8);
    a.bytes_[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

Prefix::Prefix(IpAddress address, int length)
    : address_(address.masked(length)),
      length_(static_cast<uint8_t>(std::clamp(length, 0, address.max_prefix_length()))) {}

Result<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return address.error();
  int length = address->max_prefix_length();
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || length < 0 ||
        length > address->max_prefix_length()) {
      return make_error(Errc::kInvalidArgument,
                        "bad prefix length in '" + std::string(text) + "'");
    }
  }
  if (address->masked(length) != *address) {
    return make_error(Errc::kInvalidArgument, "host bits set in prefix '" + std::string(text) +
                                                  "' (did you mean " +
                                                  Prefix(*address, length).to_string() + "?)");
  }
  return Prefix(*address, length);
}

bool Prefix::contains(const IpAddress& a) const {
  return a.family() == family() && a.masked(length_) == address_;
}

bool Prefix::contains(const Prefix& p) const {
  return p.family() == family() && p.length_ >= length_ && p.address_.masked(length_) == address_;
}

std::string Prefix::to_string() const {
  return address_.to_string() + "/" + std::to_string(length_);
}

}  // namespace tern

size_t std::hash<tern::IpAddress>::operator()(const tern::IpAddress& a) const noexcept {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (uint8_t b : a.bytes()) h = (h ^ b) * 1099511628211ull;
  return h ^ static_cast<uint8_t>(a.family());
}

size_t std::hash<tern::Prefix>::operator()(const tern::Prefix& p) const noexcept {
  return std::hash<tern::IpAddress>()(p.address()) * 31 + static_cast<size_t>(p.length());
}
