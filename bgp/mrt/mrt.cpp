#include "bgp/mrt/mrt.hpp"

#include "bgp/wire/buffer.hpp"

namespace tern::bgp::mrt {

namespace {

using ByteReader = wire::Reader;
using wire::Writer;

bool read_address(ByteReader& r, bool v6, IpAddress& out) {
  std::span<const uint8_t> b;
  if (!r.bytes(v6 ? 16 : 4, b)) return false;
  out = *IpAddress::from_bytes(b);
  return true;
}

bool read_as(ByteReader& r, bool four, wire::Asn& out) {
  if (four) return r.u32(out);
  uint16_t as = 0;
  if (!r.u16(as)) return false;
  out = as;
  return true;
}

Result<PeerIndexTable> read_peer_index(ByteReader r) {
  PeerIndexTable t;
  uint16_t name_len = 0, count = 0;
  std::span<const uint8_t> name;
  if (!r.u32(t.collector_id) || !r.u16(name_len) || !r.bytes(name_len, name) || !r.u16(count)) {
    return make_error(Errc::kMalformed, "PEER_INDEX_TABLE header truncated");
  }
  t.view_name.assign(name.begin(), name.end());
  for (uint16_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    Peer p;
    // RFC 6396 §4.3.1: bit 0 of the peer type is an IPv6 address, bit 1 a 4-octet AS.
    if (!r.u8(type) || !r.u32(p.bgp_id) || !read_address(r, type & 1, p.address) || !read_as(r, type & 2, p.asn)) {
      return make_error(Errc::kMalformed, "PEER_INDEX_TABLE entry " + std::to_string(i) + " truncated");
    }
    t.peers.push_back(p);
  }
  return t;
}

Result<Rib> read_rib(ByteReader r, wire::Afi afi, bool add_path) {
  Rib rib;
  uint8_t length = 0;
  uint16_t count = 0;
  if (!r.u32(rib.sequence) || !r.u8(length)) return make_error(Errc::kMalformed, "RIB header truncated");
  std::span<const uint8_t> prefix_bytes;
  int max = afi == wire::Afi::kIpv4 ? 32 : 128;
  if (length > max || !r.bytes((length + 7u) / 8, prefix_bytes)) {
    return make_error(Errc::kMalformed, "RIB prefix of bad length " + std::to_string(length));
  }
  std::array<uint8_t, 16> addr{};
  std::copy(prefix_bytes.begin(), prefix_bytes.end(), addr.begin());
  rib.prefix = Prefix(afi == wire::Afi::kIpv4 ? IpAddress::v4(std::span<const uint8_t, 4>(addr.data(), 4))
                                               : IpAddress::v6(std::span<const uint8_t, 16>(addr.data(), 16)),
                      length);
  if (!r.u16(count)) return make_error(Errc::kMalformed, "RIB entry count truncated");
  // RFC 6396 §4.3.4: attributes of RIB entries always carry 4-octet AS numbers.
  wire::Context ctx;
  for (uint16_t i = 0; i < count; ++i) {
    RibEntry e;
    uint16_t attr_len = 0;
    std::span<const uint8_t> attrs;
    if (!r.u16(e.peer_index) || !r.u32(e.originated) || (add_path && !r.u32(e.path_id)) || !r.u16(attr_len) ||
        !r.bytes(attr_len, attrs)) {
      return make_error(Errc::kMalformed, "RIB entry " + std::to_string(i) + " of " + rib.prefix.to_string() + " truncated");
    }
    auto decoded = wire::decode_attributes(attrs, ctx, /*mrt_rib_entry=*/true);
    if (!decoded) {
      return make_error(Errc::kMalformed, "RIB entry " + std::to_string(i) + " of " + rib.prefix.to_string() + ": " +
                                              decoded.error().reason);
    }
    e.attributes = std::move(std::get<wire::Update>(decoded.value().message).attributes);
    if (e.attributes.mp_reach) e.attributes.mp_reach->family = {afi, wire::Safi::kUnicast};
    e.verdict = decoded.value().verdict;
    rib.entries.push_back(std::move(e));
  }
  return rib;
}

// The common start of BGP4MP bodies (RFC 6396 §4.4): ASes, interface, AFI, addresses.
struct Bgp4mpHead {
  wire::Asn peer_as = 0, local_as = 0;
  uint16_t ifindex = 0;
  IpAddress peer, local;
};

bool read_head(ByteReader& r, bool as4, Bgp4mpHead& h) {
  uint16_t afi = 0;
  if (!read_as(r, as4, h.peer_as) || !read_as(r, as4, h.local_as) || !r.u16(h.ifindex) || !r.u16(afi)) return false;
  if (afi != 1 && afi != 2) return false;
  return read_address(r, afi == 2, h.peer) && read_address(r, afi == 2, h.local);
}

Result<Record> parse_body(Record rec, std::span<const uint8_t> body) {
  ByteReader r(body);
  auto fail = [&](const std::string& what) { return make_error(Errc::kMalformed, what); };
  if (rec.type == static_cast<uint16_t>(Type::kTableDumpV2)) {
    switch (rec.subtype) {
      case table_dump_v2::kPeerIndexTable: {
        auto t = read_peer_index(r);
        if (!t) return t.error();
        rec.body = std::move(*t);
        return rec;
      }
      case table_dump_v2::kRibIpv4Unicast:
      case table_dump_v2::kRibIpv6Unicast:
      case table_dump_v2::kRibIpv4UnicastAddPath:
      case table_dump_v2::kRibIpv6UnicastAddPath: {
        bool v6 = rec.subtype == table_dump_v2::kRibIpv6Unicast || rec.subtype == table_dump_v2::kRibIpv6UnicastAddPath;
        bool add_path = rec.subtype >= table_dump_v2::kRibIpv4UnicastAddPath;
        auto rib = read_rib(r, v6 ? wire::Afi::kIpv6 : wire::Afi::kIpv4, add_path);
        if (!rib) return rib.error();
        rec.body = std::move(*rib);
        return rec;
      }
    }
    return rec;  // multicast, RIB_GENERIC: Unsupported
  }
  if (rec.type == static_cast<uint16_t>(Type::kBgp4mp) || rec.type == static_cast<uint16_t>(Type::kBgp4mpEt)) {
    Bgp4mpHead h;
    switch (rec.subtype) {
      case bgp4mp::kStateChange:
      case bgp4mp::kStateChangeAs4: {
        StateChange s;
        if (!read_head(r, rec.subtype == bgp4mp::kStateChangeAs4, h) || !r.u16(s.old_state) || !r.u16(s.new_state)) {
          return fail("STATE_CHANGE truncated");
        }
        s.peer_as = h.peer_as;
        s.local_as = h.local_as;
        s.peer_address = h.peer;
        s.local_address = h.local;
        rec.body = s;
        return rec;
      }
      case bgp4mp::kMessage:
      case bgp4mp::kMessageAs4:
      case bgp4mp::kMessageLocal:
      case bgp4mp::kMessageAs4Local:
      case bgp4mp::kMessageAddPath:
      case bgp4mp::kMessageAs4AddPath:
      case bgp4mp::kMessageLocalAddPath:
      case bgp4mp::kMessageAs4LocalAddPath: {
        uint16_t st = rec.subtype;
        bool as4 = st == bgp4mp::kMessageAs4 || st == bgp4mp::kMessageAs4Local || st == bgp4mp::kMessageAs4AddPath ||
                   st == bgp4mp::kMessageAs4LocalAddPath;
        if (!read_head(r, as4, h)) return fail("BGP4MP message header truncated");
        Bgp4mpMessage m;
        m.peer_as = h.peer_as;
        m.local_as = h.local_as;
        m.interface_index = h.ifindex;
        m.peer_address = h.peer;
        m.local_address = h.local;
        m.local = st == bgp4mp::kMessageLocal || st == bgp4mp::kMessageAs4Local || st == bgp4mp::kMessageLocalAddPath ||
                  st == bgp4mp::kMessageAs4LocalAddPath;
        // The AS4 subtypes come from sessions that negotiated 4-octet ASes (as bgpdump reads them).
        m.context.four_octet_as = as4;
        m.context.add_path_ipv4 = m.context.add_path_ipv6 = st >= bgp4mp::kMessageAddPath;
        m.context.extended_message = true;
        m.context.extended_next_hop = true;
        m.bytes.assign(r.rest().begin(), r.rest().end());
        rec.body = std::move(m);
        return rec;
      }
    }
  }
  return rec;
}

void write_header(Writer& w, uint32_t timestamp, Type type, uint16_t subtype, size_t length) {
  w.u32(timestamp);
  w.u16(static_cast<uint16_t>(type));
  w.u16(subtype);
  w.u32(static_cast<uint32_t>(length));
}

}  // namespace

std::optional<Result<Record>> Reader::next() {
  if (failed_) return Result<Record>(*failed_);
  if (pos_ == bytes_.size()) return std::nullopt;
  Record rec;
  rec.offset = pos_;
  wire::Reader r(bytes_.subspan(pos_));
  uint32_t length = 0;
  std::span<const uint8_t> body;
  if (!r.u32(rec.timestamp) || !r.u16(rec.type) || !r.u16(rec.subtype) || !r.u32(length) || !r.bytes(length, body)) {
    failed_ = make_error(Errc::kMalformed, "MRT record at offset " + std::to_string(pos_) + " is truncated (" +
                                                std::to_string(bytes_.size() - pos_) + " bytes left)");
    return Result<Record>(*failed_);
  }
  pos_ += 12 + length;
  rec.body = Unsupported{};
  if (rec.type == static_cast<uint16_t>(Type::kBgp4mpEt)) {  // RFC 6396 §3: microseconds lead the body
    wire::Reader et(body);
    if (!et.u32(rec.microseconds)) {
      failed_ = make_error(Errc::kMalformed, "BGP4MP_ET record at offset " + std::to_string(rec.offset) + " has no microseconds");
      return Result<Record>(*failed_);
    }
    body = body.subspan(4);
  }
  auto parsed = parse_body(std::move(rec), body);
  if (!parsed) {
    failed_ = parsed.error().wrap("MRT record at offset " + std::to_string(pos_ - 12 - length));
    return Result<Record>(*failed_);
  }
  return parsed;
}

std::string_view state_name(uint16_t state) {
  static constexpr std::string_view kNames[] = {"?", "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"};
  return state < 7 ? kNames[state] : "?";
}

std::vector<uint8_t> write_table_dump(uint32_t timestamp, const PeerIndexTable& table, const std::vector<Rib>& ribs) {
  std::vector<uint8_t> out, body;
  Writer w(out), b(body);
  b.u32(table.collector_id);
  b.u16(static_cast<uint16_t>(table.view_name.size()));
  b.bytes({reinterpret_cast<const uint8_t*>(table.view_name.data()), table.view_name.size()});
  b.u16(static_cast<uint16_t>(table.peers.size()));
  for (const auto& p : table.peers) {
    b.u8(static_cast<uint8_t>((p.address.is_v6() ? 1 : 0) | 2));  // always 4-octet ASes
    b.u32(p.bgp_id);
    b.bytes(p.address.bytes());
    b.u32(p.asn);
  }
  write_header(w, timestamp, Type::kTableDumpV2, table_dump_v2::kPeerIndexTable, body.size());
  w.bytes(body);
  wire::Context ctx;  // RFC 6396 §4.3.4: 4-octet AS paths
  for (const auto& rib : ribs) {
    body.clear();
    b.u32(rib.sequence);
    b.u8(static_cast<uint8_t>(rib.prefix.length()));
    b.bytes(rib.prefix.address().bytes().first((rib.prefix.length() + 7u) / 8));
    b.u16(static_cast<uint16_t>(rib.entries.size()));
    for (const auto& e : rib.entries) {
      b.u16(e.peer_index);
      b.u32(e.originated);
      std::vector<uint8_t> attrs;
      wire::PathAttributes a = e.attributes;
      if (a.mp_reach) a.mp_reach->nlri.clear();
      // RFC 6396 §4.3.4: the MP_REACH_NLRI of a RIB entry holds only the next hop, led by its length.
      std::optional<wire::MpReach> reach = a.mp_reach;
      a.mp_reach.reset();
      wire::encode_attributes(a, ctx, attrs);
      if (reach) {
        std::vector<uint8_t> v{static_cast<uint8_t>(reach->next_hop.bytes().size() + (reach->link_local ? 16 : 0))};
        v.insert(v.end(), reach->next_hop.bytes().begin(), reach->next_hop.bytes().end());
        if (reach->link_local) v.insert(v.end(), reach->link_local->bytes().begin(), reach->link_local->bytes().end());
        attrs.push_back(wire::attr_flag::kOptional);
        attrs.push_back(static_cast<uint8_t>(wire::AttributeType::kMpReachNlri));
        attrs.push_back(static_cast<uint8_t>(v.size()));
        attrs.insert(attrs.end(), v.begin(), v.end());
      }
      b.u16(static_cast<uint16_t>(attrs.size()));
      b.bytes(attrs);
    }
    uint16_t subtype = rib.prefix.family() == Family::kIpv4 ? table_dump_v2::kRibIpv4Unicast : table_dump_v2::kRibIpv6Unicast;
    write_header(w, timestamp, Type::kTableDumpV2, subtype, body.size());
    w.bytes(body);
  }
  return out;
}

void write_bgp4mp_message(uint32_t timestamp, const Bgp4mpMessage& m, std::vector<uint8_t>& out) {
  std::vector<uint8_t> body;
  Writer b(body), w(out);
  b.u32(m.peer_as);
  b.u32(m.local_as);
  b.u16(m.interface_index);
  b.u16(m.peer_address.is_v4() ? 1 : 2);
  b.bytes(m.peer_address.bytes());
  b.bytes(m.local_address.bytes());
  b.bytes(m.bytes);
  write_header(w, timestamp, Type::kBgp4mp, m.local ? bgp4mp::kMessageAs4Local : bgp4mp::kMessageAs4, body.size());
  w.bytes(body);
}

}  // namespace tern::bgp::mrt
