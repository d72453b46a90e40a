#include "bgp/wire/capability.hpp"

#include "bgp/wire/buffer.hpp"

namespace tern::bgp::wire {

namespace {

DecodeError malformed(uint8_t code, const std::string& what) {
  return DecodeError{static_cast<uint8_t>(ErrorCode::kOpenMessage), open_error::kUnspecific, {},
                     "malformed capability " + std::to_string(code) + ": " + what};
}

bool read_family(Reader& r, AddressFamily& af) {
  uint16_t afi = 0;
  uint8_t safi = 0;
  if (!r.u16(afi) || !r.u8(safi)) return false;
  af = AddressFamily{static_cast<Afi>(afi), static_cast<Safi>(safi)};
  return true;
}

void write_family(Writer& w, AddressFamily af) {
  w.u16(static_cast<uint16_t>(af.afi));
  w.u8(static_cast<uint8_t>(af.safi));
}

std::optional<DecodeError> decode_one(uint8_t code, std::span<const uint8_t> value, Capabilities& caps) {
  Reader r(value);
  switch (static_cast<CapabilityCode>(code)) {
    case CapabilityCode::kMultiprotocol: {  // RFC 4760 §8: AFI, reserved, SAFI
      uint16_t afi = 0;
      uint8_t reserved = 0, safi = 0;
      if (value.size() != 4 || !r.u16(afi) || !r.u8(reserved) || !r.u8(safi)) return malformed(code, "length");
      caps.multiprotocol.push_back({static_cast<Afi>(afi), static_cast<Safi>(safi)});
      return std::nullopt;
    }
    case CapabilityCode::kRouteRefresh:
      caps.route_refresh = true;  // RFC 2918 §2: length 0; extra bytes are not worth a reset
      return std::nullopt;
    case CapabilityCode::kEnhancedRouteRefresh:
      caps.enhanced_route_refresh = true;
      return std::nullopt;
    case CapabilityCode::kExtendedMessage:
      caps.extended_message = true;
      return std::nullopt;
    case CapabilityCode::kFourOctetAs: {
      uint32_t as = 0;
      if (value.size() != 4 || !r.u32(as)) return malformed(code, "length");
      caps.four_octet_as = as;
      return std::nullopt;
    }
    case CapabilityCode::kGracefulRestart: {  // RFC 4724 §3
      uint16_t flags_time = 0;
      if (!r.u16(flags_time) || (value.size() - 2) % 4 != 0) return malformed(code, "length");
      GracefulRestart gr;
      gr.restarting = flags_time & 0x8000;
      gr.notification = flags_time & 0x4000;
      gr.restart_time = flags_time & 0x0fff;
      while (!r.empty()) {
        GracefulRestart::Family f;
        uint8_t flags = 0;
        if (!read_family(r, f.family) || !r.u8(flags)) return malformed(code, "length");
        f.forwarding_preserved = flags & 0x80;
        gr.families.push_back(f);
      }
      caps.graceful_restart = std::move(gr);
      return std::nullopt;
    }
    case CapabilityCode::kLongLivedGracefulRestart: {  // RFC 9494 §3: 7 octets a family
      if (value.size() % 7 != 0) return malformed(code, "length");
      std::vector<LongLivedGracefulRestartFamily> families;
      while (!r.empty()) {
        LongLivedGracefulRestartFamily f;
        uint8_t t0 = 0;
        uint16_t t12 = 0;
        if (!read_family(r, f.family) || !r.u8(f.flags) || !r.u8(t0) || !r.u16(t12)) return malformed(code, "length");
        f.stale_time = (uint32_t{t0} << 16) | t12;
        families.push_back(f);
      }
      caps.long_lived_graceful_restart = std::move(families);
      return std::nullopt;
    }
    case CapabilityCode::kAddPath: {  // RFC 7911 §4: 4 octets a family
      if (value.empty() || value.size() % 4 != 0) return malformed(code, "length");
      while (!r.empty()) {
        AddPathFamily f;
        uint8_t mode = 0;
        if (!read_family(r, f.family) || !r.u8(mode)) return malformed(code, "length");
        if (mode < 1 || mode > 3) return malformed(code, "send/receive value " + std::to_string(mode));
        f.mode = static_cast<AddPathMode>(mode);
        caps.add_path.push_back(f);
      }
      return std::nullopt;
    }
    case CapabilityCode::kExtendedNextHop: {  // RFC 8950 §3: 6 octets an entry
      if (value.empty() || value.size() % 6 != 0) return malformed(code, "length");
      while (!r.empty()) {
        uint16_t afi = 0, safi = 0, nh_afi = 0;
        if (!r.u16(afi) || !r.u16(safi) || !r.u16(nh_afi)) return malformed(code, "length");
        caps.extended_next_hop.push_back({static_cast<Afi>(afi), safi, static_cast<Afi>(nh_afi)});
      }
      return std::nullopt;
    }
    case CapabilityCode::kFqdn: {
      uint8_t len = 0;
      std::span<const uint8_t> host, domain;
      if (!r.u8(len) || !r.bytes(len, host) || !r.u8(len) || !r.bytes(len, domain)) return malformed(code, "length");
      caps.fqdn = Fqdn{std::string(host.begin(), host.end()), std::string(domain.begin(), domain.end())};
      return std::nullopt;
    }
  }
  caps.unknown.push_back({code, std::vector<uint8_t>(value.begin(), value.end())});
  return std::nullopt;
}

void encode_one(Writer& w, CapabilityCode code, const std::vector<uint8_t>& value) {
  w.u8(static_cast<uint8_t>(code));
  w.u8(static_cast<uint8_t>(value.size()));
  w.bytes(value);
}

}  // namespace

std::optional<DecodeError> decode_capabilities(std::span<const uint8_t> bytes, Capabilities& caps) {
  Reader r(bytes);
  while (!r.empty()) {
    uint8_t code = 0, length = 0;
    std::span<const uint8_t> value;
    if (!r.u8(code) || !r.u8(length) || !r.bytes(length, value)) {
      return malformed(code, "runs past its optional parameter");
    }
    if (auto e = decode_one(code, value, caps)) return e;
  }
  return std::nullopt;
}

void encode_capabilities(const Capabilities& caps, std::vector<uint8_t>& out) {
  Writer w(out);
  std::vector<uint8_t> v;
  Writer vw(v);
  for (const auto& af : caps.multiprotocol) {
    v.clear();
    vw.u16(static_cast<uint16_t>(af.afi));
    vw.u8(0);
    vw.u8(static_cast<uint8_t>(af.safi));
    encode_one(w, CapabilityCode::kMultiprotocol, v);
  }
  v.clear();
  if (caps.route_refresh) encode_one(w, CapabilityCode::kRouteRefresh, v);
  if (caps.enhanced_route_refresh) encode_one(w, CapabilityCode::kEnhancedRouteRefresh, v);
  if (caps.extended_message) encode_one(w, CapabilityCode::kExtendedMessage, v);
  if (caps.four_octet_as) {
    v.clear();
    vw.u32(*caps.four_octet_as);
    encode_one(w, CapabilityCode::kFourOctetAs, v);
  }
  if (const auto& gr = caps.graceful_restart) {
    v.clear();
    vw.u16(static_cast<uint16_t>((gr->restarting ? 0x8000 : 0) | (gr->notification ? 0x4000 : 0) |
                                 (gr->restart_time & 0x0fff)));
    for (const auto& f : gr->families) {
      write_family(vw, f.family);
      vw.u8(f.forwarding_preserved ? 0x80 : 0);
    }
    encode_one(w, CapabilityCode::kGracefulRestart, v);
  }
  if (const auto& llgr = caps.long_lived_graceful_restart) {
    v.clear();
    for (const auto& f : *llgr) {
      write_family(vw, f.family);
      vw.u8(f.flags);
      vw.u8(static_cast<uint8_t>(f.stale_time >> 16));
      vw.u16(static_cast<uint16_t>(f.stale_time));
    }
    encode_one(w, CapabilityCode::kLongLivedGracefulRestart, v);
  }
  if (!caps.add_path.empty()) {
    v.clear();
    for (const auto& f : caps.add_path) {
      write_family(vw, f.family);
      vw.u8(static_cast<uint8_t>(f.mode));
    }
    encode_one(w, CapabilityCode::kAddPath, v);
  }
  if (!caps.extended_next_hop.empty()) {
    v.clear();
    for (const auto& e : caps.extended_next_hop) {
      vw.u16(static_cast<uint16_t>(e.nlri_afi));
      vw.u16(e.nlri_safi);
      vw.u16(static_cast<uint16_t>(e.next_hop_afi));
    }
    encode_one(w, CapabilityCode::kExtendedNextHop, v);
  }
  if (const auto& fqdn = caps.fqdn) {
    v.clear();
    vw.u8(static_cast<uint8_t>(std::min<size_t>(fqdn->hostname.size(), 255)));
    vw.bytes({reinterpret_cast<const uint8_t*>(fqdn->hostname.data()), std::min<size_t>(fqdn->hostname.size(), 255)});
    vw.u8(static_cast<uint8_t>(std::min<size_t>(fqdn->domain.size(), 255)));
    vw.bytes({reinterpret_cast<const uint8_t*>(fqdn->domain.data()), std::min<size_t>(fqdn->domain.size(), 255)});
    encode_one(w, CapabilityCode::kFqdn, v);
  }
  for (const auto& u : caps.unknown) {
    w.u8(u.code);
    w.u8(static_cast<uint8_t>(u.value.size()));
    w.bytes(u.value);
  }
}

}  // namespace tern::bgp::wire
