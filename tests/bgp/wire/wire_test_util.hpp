// Small helpers for wire tests: hex in and out, and UPDATEs built from attribute bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bgp/wire/codec.hpp"

namespace tern::bgp::wire::testing {

// "ff ff 00 13" or "ffff0013": whitespace ignored.
inline std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : hex) {
    if (!isspace(static_cast<unsigned char>(c))) digits += c;
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::string to_hex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

// A whole UPDATE message from its three fields.
inline std::vector<uint8_t> update_message(const std::vector<uint8_t>& withdrawn, const std::vector<uint8_t>& attrs,
                                           const std::vector<uint8_t>& nlri) {
  std::vector<uint8_t> m(16, 0xff);
  size_t length = 19 + 2 + withdrawn.size() + 2 + attrs.size() + nlri.size();
  m.push_back(static_cast<uint8_t>(length >> 8));
  m.push_back(static_cast<uint8_t>(length));
  m.push_back(2);
  m.push_back(static_cast<uint8_t>(withdrawn.size() >> 8));
  m.push_back(static_cast<uint8_t>(withdrawn.size()));
  m.insert(m.end(), withdrawn.begin(), withdrawn.end());
  m.push_back(static_cast<uint8_t>(attrs.size() >> 8));
  m.push_back(static_cast<uint8_t>(attrs.size()));
  m.insert(m.end(), attrs.begin(), attrs.end());
  m.insert(m.end(), nlri.begin(), nlri.end());
  return m;
}

// The mandatory attributes of an IPv4 UPDATE: ORIGIN igp, AS_PATH [65001], NEXT_HOP 198.18.0.1.
inline const char* kMandatoryAttrs = "40 01 01 00  40 02 06 02 01 00 00 fd e9  40 03 04 c6 12 00 01";
// NLRI 198.18.8.0/24.
inline const char* kOneNlri = "18 c6 12 08";

inline Prefix prefix(const char* text) { return *Prefix::parse(text); }
inline IpAddress address(const char* text) { return *IpAddress::parse(text); }

}  // namespace tern::bgp::wire::testing
