#include "bgp/wire/codec.hpp"

#include <algorithm>
#include <bitset>

#include "bgp/wire/buffer.hpp"
#include "bgp/wire/framer.hpp"

namespace tern::bgp::wire {

namespace {

constexpr uint8_t kCapabilitiesParameter = 2;   // RFC 5492 §4
constexpr uint8_t kExtendedParametersType = 255;  // RFC 9072 §2

uint8_t code(ErrorCode c) { return static_cast<uint8_t>(c); }

DecodeError header_failure(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
  return {code(ErrorCode::kMessageHeader), subcode, std::move(data), std::move(reason)};
}

DecodeError bad_length(size_t length, const std::string& what) {
  return header_failure(header_error::kBadMessageLength,
                      {static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)},
                      what + " message of bad length " + std::to_string(length));
}

DecodeError open_failure(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
  return {code(ErrorCode::kOpenMessage), subcode, std::move(data), std::move(reason)};
}

DecodeError update_failure(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
  return {code(ErrorCode::kUpdateMessage), subcode, std::move(data), std::move(reason)};
}

// --- NLRI ------------------------------------------------------------------------------

int max_bits(Afi afi) { return afi == Afi::kIpv4 ? 32 : 128; }

}  // namespace

bool decode_prefixes(std::span<const uint8_t> bytes, Afi afi, bool add_path, std::vector<Nlri>& out) {
  const int bits_max = max_bits(afi);
  // One allocation for the whole field: at most one prefix per octet.
  out.reserve(out.size() + bytes.size() / (add_path ? 5 : 1) + 1);
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    uint32_t path_id = 0;
    if (add_path) {
      if (n - i < 5) return false;
      path_id = (uint32_t{bytes[i]} << 24) | (uint32_t{bytes[i + 1]} << 16) | (uint32_t{bytes[i + 2]} << 8) |
                uint32_t{bytes[i + 3]};
      i += 4;
    }
    int length = bytes[i++];
    if (length > bits_max) return false;
    size_t octets = (static_cast<size_t>(length) + 7) / 8;
    if (n - i < octets) return false;
    std::array<uint8_t, 16> addr{};
    std::copy_n(bytes.data() + i, octets, addr.data());
    i += octets;
    IpAddress a = afi == Afi::kIpv4 ? IpAddress::v4(std::span<const uint8_t, 4>(addr.data(), 4))
                                    : IpAddress::v6(std::span<const uint8_t, 16>(addr.data(), 16));
    out.push_back(Nlri{Prefix(a, length), path_id});
  }
  return true;
}

void encode_prefix(const Nlri& n, bool add_path, std::vector<uint8_t>& out) {
  if (add_path) {
    Writer(out).u32(n.path_id);
  }
  out.push_back(static_cast<uint8_t>(n.prefix.length()));
  auto bytes = n.prefix.address().bytes();
  size_t octets = (static_cast<size_t>(n.prefix.length()) + 7) / 8;
  out.insert(out.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(octets));
}

namespace {

// --- AS paths --------------------------------------------------------------------------

bool valid_segment_type(uint8_t t) { return t >= 1 && t <= 4; }

// RFC 7606 §7.2: a segment of zero length, an undefined type or an overrun is malformed.
bool decode_as_path(std::span<const uint8_t> value, size_t as_size, AsPath& path) {
  Reader r(value);
  while (!r.empty()) {
    uint8_t type = 0, count = 0;
    if (!r.u8(type) || !r.u8(count) || !valid_segment_type(type) || count == 0) return false;
    if (r.remaining() < size_t{count} * as_size) return false;
    AsSegment seg{static_cast<AsSegmentType>(type), {}};
    seg.asns.reserve(count);
    for (uint8_t i = 0; i < count; ++i) {
      if (as_size == 4) {
        uint32_t as = 0;
        r.u32(as);
        seg.asns.push_back(as);
      } else {
        uint16_t as = 0;
        r.u16(as);
        seg.asns.push_back(as);
      }
    }
    path.segments.push_back(std::move(seg));
  }
  return true;
}

// Segments longer than 255 ASes are split, as the encoding requires.
void encode_as_path(const AsPath& path, bool four_octet, bool skip_confed, std::vector<uint8_t>& out) {
  Writer w(out);
  for (const auto& seg : path.segments) {
    if (skip_confed && (seg.type == AsSegmentType::kConfedSequence || seg.type == AsSegmentType::kConfedSet)) continue;
    for (size_t start = 0; start < seg.asns.size(); start += 255) {
      size_t count = std::min<size_t>(255, seg.asns.size() - start);
      w.u8(static_cast<uint8_t>(seg.type));
      w.u8(static_cast<uint8_t>(count));
      for (size_t i = start; i < start + count; ++i) {
        if (four_octet) {
          w.u32(seg.asns[i]);
        } else {
          w.u16(seg.asns[i] > 0xffff ? static_cast<uint16_t>(kAsTrans) : static_cast<uint16_t>(seg.asns[i]));
        }
      }
    }
  }
}

bool is_confed(AsSegmentType t) { return t == AsSegmentType::kConfedSequence || t == AsSegmentType::kConfedSet; }

// RFC 6793 §4.2.3: rebuild the 4-octet path from AS_PATH and AS4_PATH.
AsPath merge_as4_path(const AsPath& as_path, const AsPath& as4_path) {
  size_t n = as_path.length(), n4 = as4_path.length();
  if (n < n4) return as_path;  // "the AS4_PATH attribute SHALL be ignored"
  size_t keep = n - n4;
  AsPath merged;
  size_t taken = 0;
  for (const auto& seg : as_path.segments) {
    if (is_confed(seg.type)) {  // confederation segments are never in AS4_PATH
      merged.segments.push_back(seg);
      continue;
    }
    if (taken >= keep) break;
    if (seg.type == AsSegmentType::kSet) {
      merged.segments.push_back(seg);
      ++taken;
      continue;
    }
    size_t count = std::min(seg.asns.size(), keep - taken);
    merged.segments.push_back({seg.type, {seg.asns.begin(), seg.asns.begin() + static_cast<std::ptrdiff_t>(count)}});
    taken += count;
  }
  for (const auto& seg : as4_path.segments) {
    if (!merged.segments.empty() && merged.segments.back().type == AsSegmentType::kSequence &&
        seg.type == AsSegmentType::kSequence) {
      auto& back = merged.segments.back().asns;
      back.insert(back.end(), seg.asns.begin(), seg.asns.end());
    } else {
      merged.segments.push_back(seg);
    }
  }
  return merged;
}

bool needs_as4(const AsPath& path) {
  for (const auto& seg : path.segments) {
    if (is_confed(seg.type)) continue;
    for (Asn a : seg.asns) {
      if (a > 0xffff) return true;
    }
  }
  return false;
}

// --- path attributes -------------------------------------------------------------------

constexpr uint8_t kWellKnown = attr_flag::kTransitive;
constexpr uint8_t kOptTrans = attr_flag::kOptional | attr_flag::kTransitive;
constexpr uint8_t kOptNonTrans = attr_flag::kOptional;

std::optional<uint8_t> expected_flags(uint8_t type) {
  switch (static_cast<AttributeType>(type)) {
    case AttributeType::kOrigin:
    case AttributeType::kAsPath:
    case AttributeType::kNextHop:
    case AttributeType::kLocalPref:
    case AttributeType::kAtomicAggregate:
      return kWellKnown;
    case AttributeType::kAggregator:
    case AttributeType::kCommunities:
    case AttributeType::kExtendedCommunities:
    case AttributeType::kAs4Path:
    case AttributeType::kAs4Aggregator:
    case AttributeType::kLargeCommunity:
      return kOptTrans;
    case AttributeType::kMultiExitDisc:
    case AttributeType::kOriginatorId:
    case AttributeType::kClusterList:
    case AttributeType::kMpReachNlri:
    case AttributeType::kMpUnreachNlri:
      return kOptNonTrans;
  }
  return std::nullopt;
}

const char* attribute_name(uint8_t type) {
  switch (static_cast<AttributeType>(type)) {
    case AttributeType::kOrigin: return "ORIGIN";
    case AttributeType::kAsPath: return "AS_PATH";
    case AttributeType::kNextHop: return "NEXT_HOP";
    case AttributeType::kMultiExitDisc: return "MULTI_EXIT_DISC";
    case AttributeType::kLocalPref: return "LOCAL_PREF";
    case AttributeType::kAtomicAggregate: return "ATOMIC_AGGREGATE";
    case AttributeType::kAggregator: return "AGGREGATOR";
    case AttributeType::kCommunities: return "COMMUNITIES";
    case AttributeType::kOriginatorId: return "ORIGINATOR_ID";
    case AttributeType::kClusterList: return "CLUSTER_LIST";
    case AttributeType::kMpReachNlri: return "MP_REACH_NLRI";
    case AttributeType::kMpUnreachNlri: return "MP_UNREACH_NLRI";
    case AttributeType::kExtendedCommunities: return "EXTENDED_COMMUNITIES";
    case AttributeType::kAs4Path: return "AS4_PATH";
    case AttributeType::kAs4Aggregator: return "AS4_AGGREGATOR";
    case AttributeType::kLargeCommunity: return "LARGE_COMMUNITY";
  }
  return "attribute";
}

// The outcome of decoding one UPDATE's attributes, growing as problems are found.
class AttributeDecoder {
 public:
  AttributeDecoder(const Context& ctx, bool mrt_rib_entry, PathAttributes& attrs, std::vector<std::string>& problems)
      : ctx_(ctx), mrt_(mrt_rib_entry), attrs_(attrs), problems_(problems) {}

  // Returns an error only for a session reset.
  std::optional<DecodeError> decode(std::span<const uint8_t> block);
  Verdict verdict() const { return verdict_; }
  bool has_as4_path() const { return as4_path_.has_value(); }

  // After the whole UPDATE is known: RFC 6793 merge, mandatory attributes (RFC 7606 §3(d)).
  void finish(bool has_ipv4_nlri);

 private:
  std::optional<DecodeError> decode_one(uint8_t flags, uint8_t type, std::span<const uint8_t> value,
                                        std::span<const uint8_t> whole);
  std::optional<DecodeError> decode_mp_reach(std::span<const uint8_t> value, std::span<const uint8_t> whole);
  std::optional<DecodeError> decode_mp_unreach(std::span<const uint8_t> value, std::span<const uint8_t> whole);

  void withdraw(const std::string& why) { raise(Verdict::kTreatAsWithdraw, why); }
  void discard(const std::string& why) { raise(Verdict::kAttributeDiscard, why); }
  void raise(Verdict v, const std::string& why) {
    verdict_ = std::max(verdict_, v);
    problems_.push_back(std::string(verdict_name(v)) + ": " + why);
  }

  const Context& ctx_;
  bool mrt_;
  PathAttributes& attrs_;
  std::vector<std::string>& problems_;
  Verdict verdict_ = Verdict::kAccepted;
  std::bitset<256> seen_;
  std::optional<AsPath> as4_path_;
  std::optional<Aggregator> as4_aggregator_;
};

std::optional<DecodeError> AttributeDecoder::decode(std::span<const uint8_t> block) {
  Reader r(block);
  while (!r.empty()) {
    size_t start = r.position();
    uint8_t flags = 0, type = 0;
    uint16_t length = 0;
    bool header_ok = r.u8(flags) && r.u8(type);
    if (header_ok) {
      if (flags & attr_flag::kExtendedLength) {
        header_ok = r.u16(length);
      } else {
        uint8_t l = 0;
        header_ok = r.u8(l);
        length = l;
      }
    }
    std::span<const uint8_t> value;
    if (!header_ok || !r.bytes(length, value)) {
      // RFC 7606 §4: the attribute overruns the attribute block, but the NLRI field is
      // still where the Total Path Attribute Length says: treat-as-withdraw.
      withdraw("path attribute overruns the attribute block at offset " + std::to_string(start));
      return std::nullopt;
    }
    auto whole = block.subspan(start, r.position() - start);
    if (seen_[type]) {
      // RFC 7606 §3(g): MP_REACH/MP_UNREACH twice is a session reset; any other
      // attribute after its first instance is discarded.
      if (type == static_cast<uint8_t>(AttributeType::kMpReachNlri) ||
          type == static_cast<uint8_t>(AttributeType::kMpUnreachNlri)) {
        return update_failure(update_error::kMalformedAttributeList, {},
                            std::string(attribute_name(type)) + " appears more than once");
      }
      discard(std::string("repeated ") + attribute_name(type) + " (type " + std::to_string(type) + ") ignored");
      continue;
    }
    seen_[type] = true;
    if (auto e = decode_one(flags, type, value, whole)) return e;
  }
  return std::nullopt;
}

std::optional<DecodeError> AttributeDecoder::decode_one(uint8_t flags, uint8_t type, std::span<const uint8_t> value,
                                                        std::span<const uint8_t> whole) {
  auto expected = expected_flags(type);
  if (!expected) {
    if (!(flags & attr_flag::kOptional) && !mrt_) {
      // RFC 4271 §6.3: an unrecognized well-known attribute.
      return update_failure(update_error::kUnrecognizedWellKnownAttribute,
                          std::vector<uint8_t>(whole.begin(), whole.end()),
                          "unrecognized well-known attribute type " + std::to_string(type));
    }
    if ((flags & attr_flag::kTransitive) || mrt_) {
      // RFC 4271 §5: passed on, with the Partial bit set.
      attrs_.unknown.push_back(RawAttribute{
          static_cast<uint8_t>((flags | attr_flag::kPartial) & ~attr_flag::kExtendedLength), type,
          std::vector<uint8_t>(value.begin(), value.end())});
    }
    return std::nullopt;  // optional non-transitive: quietly ignored
  }
  const std::string name = attribute_name(type);
  // RFC 7606 §3(c): Optional/Transitive bits in conflict make the attribute malformed,
  // handled as that attribute's own errors are.
  // BIRD writes its RIB dumps with every flag clear: in MRT, flags carry no meaning.
  bool flags_ok = mrt_ || (flags & (attr_flag::kOptional | attr_flag::kTransitive)) == *expected;
  Reader r(value);
  switch (static_cast<AttributeType>(type)) {
    case AttributeType::kOrigin: {  // RFC 7606 §7.1
      uint8_t origin = 0;
      if (!flags_ok || value.size() != 1 || !r.u8(origin) || origin > 2) {
        withdraw("malformed ORIGIN");
        return std::nullopt;
      }
      attrs_.origin = static_cast<Origin>(origin);
      return std::nullopt;
    }
    case AttributeType::kAsPath: {  // RFC 7606 §7.2
      AsPath path;
      if (!flags_ok || !decode_as_path(value, ctx_.four_octet_as ? 4 : 2, path)) {
        withdraw("malformed AS_PATH");
        return std::nullopt;
      }
      if (ctx_.ebgp) {
        for (const auto& seg : path.segments) {
          if (is_confed(seg.type)) {
            withdraw("AS_PATH with a confederation segment from an external peer");
            return std::nullopt;
          }
        }
      }
      attrs_.as_path = std::move(path);
      return std::nullopt;
    }
    case AttributeType::kNextHop: {  // RFC 7606 §7.3
      uint32_t nh = 0;
      if (!flags_ok || value.size() != 4 || !r.u32(nh)) {
        withdraw("malformed NEXT_HOP");
        return std::nullopt;
      }
      // RFC 4271 §6.3: a semantically incorrect NEXT_HOP means the route is ignored. (A
      // RIB dump shows the speaker's own routes with next hop 0.0.0.0: not an error there.)
      if (!mrt_ && (nh == 0 || (nh >> 28) == 0xe || nh == 0xffffffff)) {
        withdraw("NEXT_HOP " + IpAddress::v4(nh).to_string() + " is not a usable address");
        return std::nullopt;
      }
      attrs_.next_hop = IpAddress::v4(nh);
      return std::nullopt;
    }
    case AttributeType::kMultiExitDisc: {  // RFC 7606 §7.4
      uint32_t med = 0;
      if (!flags_ok || value.size() != 4 || !r.u32(med)) {
        withdraw("malformed MULTI_EXIT_DISC");
        return std::nullopt;
      }
      attrs_.med = med;
      return std::nullopt;
    }
    case AttributeType::kLocalPref: {  // RFC 7606 §7.5
      if (ctx_.ebgp) {
        discard("LOCAL_PREF from an external peer");
        return std::nullopt;
      }
      uint32_t pref = 0;
      if (!flags_ok || value.size() != 4 || !r.u32(pref)) {
        withdraw("malformed LOCAL_PREF");
        return std::nullopt;
      }
      attrs_.local_pref = pref;
      return std::nullopt;
    }
    case AttributeType::kAtomicAggregate:  // RFC 7606 §7.6
      if (!flags_ok || !value.empty()) {
        discard("malformed ATOMIC_AGGREGATE");
        return std::nullopt;
      }
      attrs_.atomic_aggregate = true;
      return std::nullopt;
    case AttributeType::kAggregator: {  // RFC 7606 §7.7
      size_t as_size = ctx_.four_octet_as ? 4 : 2;
      Aggregator agg;
      uint32_t addr = 0;
      bool ok = flags_ok && value.size() == as_size + 4;
      if (ok && as_size == 4) {
        ok = r.u32(agg.asn);
      } else if (ok) {
        uint16_t as = 0;
        ok = r.u16(as);
        agg.asn = as;
      }
      if (!ok || !r.u32(addr)) {
        discard("malformed AGGREGATOR");
        return std::nullopt;
      }
      agg.address = IpAddress::v4(addr);
      attrs_.aggregator = agg;
      return std::nullopt;
    }
    case AttributeType::kCommunities:  // RFC 7606 §7.8
      if (!flags_ok || value.empty() || value.size() % 4 != 0) {
        withdraw("malformed COMMUNITIES");
        return std::nullopt;
      }
      attrs_.communities.reserve(value.size() / 4);
      for (uint32_t c = 0; r.u32(c);) attrs_.communities.push_back(c);
      return std::nullopt;
    case AttributeType::kOriginatorId: {  // RFC 7606 §7.9
      uint32_t id = 0;
      if (!flags_ok || value.size() != 4 || !r.u32(id)) {
        withdraw("malformed ORIGINATOR_ID");
        return std::nullopt;
      }
      if (ctx_.ebgp) {  // RFC 4456 attributes mean nothing across an AS boundary
        discard("ORIGINATOR_ID from an external peer");
        return std::nullopt;
      }
      attrs_.originator_id = id;
      return std::nullopt;
    }
    case AttributeType::kClusterList:  // RFC 7606 §7.10
      if (!flags_ok || value.empty() || value.size() % 4 != 0) {
        withdraw("malformed CLUSTER_LIST");
        return std::nullopt;
      }
      if (ctx_.ebgp) {
        discard("CLUSTER_LIST from an external peer");
        return std::nullopt;
      }
      for (uint32_t c = 0; r.u32(c);) attrs_.cluster_list.push_back(c);
      return std::nullopt;
    case AttributeType::kMpReachNlri:
      if (!flags_ok) {
        return update_failure(update_error::kAttributeFlagsError, std::vector<uint8_t>(whole.begin(), whole.end()),
                            "MP_REACH_NLRI with wrong attribute flags");
      }
      return decode_mp_reach(value, whole);
    case AttributeType::kMpUnreachNlri:
      if (!flags_ok) {
        return update_failure(update_error::kAttributeFlagsError, std::vector<uint8_t>(whole.begin(), whole.end()),
                            "MP_UNREACH_NLRI with wrong attribute flags");
      }
      return decode_mp_unreach(value, whole);
    case AttributeType::kExtendedCommunities:  // RFC 7606 §7.14
      if (!flags_ok || value.empty() || value.size() % 8 != 0) {
        withdraw("malformed EXTENDED_COMMUNITIES");
        return std::nullopt;
      }
      for (uint32_t hi = 0, lo = 0; r.u32(hi) && r.u32(lo);) {
        attrs_.extended_communities.push_back((uint64_t{hi} << 32) | lo);
      }
      return std::nullopt;
    case AttributeType::kLargeCommunity:  // RFC 8092 §5
      if (!flags_ok || value.empty() || value.size() % 12 != 0) {
        withdraw("malformed LARGE_COMMUNITY");
        return std::nullopt;
      }
      for (LargeCommunity c; r.u32(c.global_admin) && r.u32(c.local1) && r.u32(c.local2);) {
        attrs_.large_communities.push_back(c);
      }
      return std::nullopt;
    case AttributeType::kAs4Path: {
      if (ctx_.four_octet_as) {  // RFC 6793 §4.1: between NEW speakers it is not used
        discard("AS4_PATH from a 4-octet-AS peer");
        return std::nullopt;
      }
      AsPath path;
      if (!flags_ok || !decode_as_path(value, 4, path)) {  // RFC 6793 §6 / RFC 7606 §7.2
        discard("malformed AS4_PATH");
        return std::nullopt;
      }
      for (const auto& seg : path.segments) {
        if (is_confed(seg.type)) {
          discard("AS4_PATH with a confederation segment");
          return std::nullopt;
        }
      }
      as4_path_ = std::move(path);
      return std::nullopt;
    }
    case AttributeType::kAs4Aggregator: {
      Aggregator agg;
      uint32_t addr = 0;
      if (ctx_.four_octet_as) {
        discard("AS4_AGGREGATOR from a 4-octet-AS peer");
        return std::nullopt;
      }
      if (!flags_ok || value.size() != 8 || !r.u32(agg.asn) || !r.u32(addr)) {
        discard("malformed AS4_AGGREGATOR");
        return std::nullopt;
      }
      agg.address = IpAddress::v4(addr);
      as4_aggregator_ = agg;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<DecodeError> AttributeDecoder::decode_mp_reach(std::span<const uint8_t> value,
                                                             std::span<const uint8_t> whole) {
  // RFC 7606 §7.11: if the next hop is inconsistent the NLRI cannot be located: reset.
  auto reset = [&](const std::string& why) {
    return update_failure(update_error::kOptionalAttributeError, std::vector<uint8_t>(whole.begin(), whole.end()),
                        "MP_REACH_NLRI: " + why);
  };
  Reader r(value);
  uint16_t afi = 0;
  uint8_t safi = 0, nh_len = 0;
  if (mrt_ && !value.empty() && value[0] == value.size() - 1) {
    // RFC 6396 §4.3.4: in a RIB entry only the next hop length and next hop remain; the
    // family is the RIB record's (the MRT reader sets it), guessed here from the length.
    r.u8(nh_len);
    afi = nh_len == 4 ? 1 : 2;
    safi = 1;
  } else if (!r.u16(afi) || !r.u8(safi) || !r.u8(nh_len)) {
    return reset("truncated");
  }
  MpReach reach;
  reach.family = {static_cast<Afi>(afi), static_cast<Safi>(safi)};
  bool known = (afi == 1 || afi == 2) && (safi == 1 || safi == 2);
  std::span<const uint8_t> nh;
  if (!r.bytes(nh_len, nh)) return reset("next hop overruns the attribute");
  if (!known) {
    // A family that was not negotiated: RFC 4760 §7 lets us ignore it; keep nothing.
    discard("MP_REACH_NLRI of unsupported AFI " + std::to_string(afi) + " SAFI " + std::to_string(safi));
    return std::nullopt;
  }
  bool v6_next_hop = nh_len == 16 || nh_len == 32;
  if (afi == 1 && !(nh_len == 4 || (v6_next_hop && (ctx_.extended_next_hop || mrt_)))) {
    return reset("IPv4 next hop of length " + std::to_string(nh_len));
  }
  if (afi == 2 && !v6_next_hop) return reset("IPv6 next hop of length " + std::to_string(nh_len));
  if (nh_len == 4) {
    reach.next_hop = IpAddress::v4(nh.first<4>());
  } else {
    reach.next_hop = IpAddress::v6(nh.first<16>());
    if (nh_len == 32) reach.link_local = IpAddress::v6(nh.subspan(16).first<16>());
  }
  if (mrt_) {  // RFC 6396 §4.3.4: a RIB entry's MP_REACH_NLRI stops after the next hop
    attrs_.mp_reach = std::move(reach);
    return std::nullopt;
  }
  uint8_t reserved = 0;
  if (!r.u8(reserved)) return reset("truncated before the NLRI");
  if (!decode_prefixes(r.rest(), reach.family.afi, ctx_.add_path(reach.family), reach.nlri)) {
    return reset("malformed NLRI");  // RFC 7606 §5.3
  }
  if (reach.next_hop.is_unspecified() && !reach.nlri.empty()) withdraw("MP_REACH_NLRI next hop is unspecified");
  attrs_.mp_reach = std::move(reach);
  return std::nullopt;
}

std::optional<DecodeError> AttributeDecoder::decode_mp_unreach(std::span<const uint8_t> value,
                                                               std::span<const uint8_t> whole) {
  Reader r(value);
  uint16_t afi = 0;
  uint8_t safi = 0;
  if (!r.u16(afi) || !r.u8(safi)) {
    return update_failure(update_error::kOptionalAttributeError, std::vector<uint8_t>(whole.begin(), whole.end()),
                        "MP_UNREACH_NLRI: truncated");
  }
  MpUnreach unreach;
  unreach.family = {static_cast<Afi>(afi), static_cast<Safi>(safi)};
  if (!((afi == 1 || afi == 2) && (safi == 1 || safi == 2))) {
    discard("MP_UNREACH_NLRI of unsupported AFI " + std::to_string(afi) + " SAFI " + std::to_string(safi));
    return std::nullopt;
  }
  if (!decode_prefixes(r.rest(), unreach.family.afi, ctx_.add_path(unreach.family), unreach.withdrawn)) {
    return update_failure(update_error::kOptionalAttributeError, std::vector<uint8_t>(whole.begin(), whole.end()),
                        "MP_UNREACH_NLRI: malformed NLRI");
  }
  attrs_.mp_unreach = std::move(unreach);
  return std::nullopt;
}

void AttributeDecoder::finish(bool has_ipv4_nlri) {
  // Unknown attributes are re-sent in type-code order; keep them in that order from the
  // start so a decoded UPDATE and its re-encoding agree.
  std::stable_sort(attrs_.unknown.begin(), attrs_.unknown.end(),
                   [](const RawAttribute& x, const RawAttribute& y) { return x.type < y.type; });
  if (!ctx_.four_octet_as) {
    // RFC 6793 §4.2.3: an AGGREGATOR whose AS is not AS_TRANS means the path was
    // aggregated by an OLD speaker after AS4_PATH was made: ignore both AS4 attributes.
    bool as4_valid = !(attrs_.aggregator && attrs_.aggregator->asn != kAsTrans && as4_aggregator_);
    if (as4_valid && as4_aggregator_ && attrs_.aggregator) attrs_.aggregator = as4_aggregator_;
    if (as4_valid && as4_path_ && attrs_.as_path) attrs_.as_path = merge_as4_path(*attrs_.as_path, *as4_path_);
  }
  bool announces = has_ipv4_nlri || (attrs_.mp_reach && !attrs_.mp_reach->nlri.empty());
  if (!announces) return;
  // RFC 7606 §3(d): a missing well-known mandatory attribute is treat-as-withdraw.
  if (!attrs_.origin && !seen_[static_cast<uint8_t>(AttributeType::kOrigin)]) withdraw("ORIGIN missing");
  if (!attrs_.as_path && !seen_[static_cast<uint8_t>(AttributeType::kAsPath)]) withdraw("AS_PATH missing");
  if (has_ipv4_nlri && !attrs_.next_hop && !seen_[static_cast<uint8_t>(AttributeType::kNextHop)]) {
    withdraw("NEXT_HOP missing");
  }
}

// --- encoding attributes ---------------------------------------------------------------

// Flags, type, length (extended when the value needs it), value.
void put_attribute(std::vector<uint8_t>& out, uint8_t flags, uint8_t type, std::span<const uint8_t> value) {
  Writer w(out);
  bool extended = value.size() > 255;
  w.u8(static_cast<uint8_t>(extended ? (flags | attr_flag::kExtendedLength) : (flags & ~attr_flag::kExtendedLength)));
  w.u8(type);
  if (extended) {
    w.u16(static_cast<uint16_t>(value.size()));
  } else {
    w.u8(static_cast<uint8_t>(value.size()));
  }
  w.bytes(value);
}

}  // namespace

// --- messages --------------------------------------------------------------------------

void encode_attributes(const PathAttributes& a, const Context& ctx, std::vector<uint8_t>& out) {
  // In type-code order (RFC 4271 §5: "SHOULD be ordered in ascending order").
  std::vector<uint8_t> v;
  Writer vw(v);
  auto put = [&](uint8_t flags, AttributeType type) {
    put_attribute(out, flags, static_cast<uint8_t>(type), v);
    v.clear();
  };
  // Unknown attributes kept from the peer go in among ours, by type code.
  std::vector<const RawAttribute*> unknown;
  for (const auto& u : a.unknown) unknown.push_back(&u);
  std::stable_sort(unknown.begin(), unknown.end(), [](auto* x, auto* y) { return x->type < y->type; });
  auto next_unknown = unknown.begin();
  auto unknown_before = [&](unsigned type) {
    for (; next_unknown != unknown.end() && (*next_unknown)->type < type; ++next_unknown) {
      put_attribute(out, (*next_unknown)->flags, (*next_unknown)->type, (*next_unknown)->value);
    }
  };

  unknown_before(static_cast<unsigned>(AttributeType::kOrigin));
  if (a.origin) {
    vw.u8(static_cast<uint8_t>(*a.origin));
    put(kWellKnown, AttributeType::kOrigin);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kAsPath));
  if (a.as_path) {
    encode_as_path(*a.as_path, ctx.four_octet_as, false, v);
    put(kWellKnown, AttributeType::kAsPath);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kNextHop));
  if (a.next_hop) {
    vw.bytes(a.next_hop->bytes());
    put(kWellKnown, AttributeType::kNextHop);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kMultiExitDisc));
  if (a.med) {
    vw.u32(*a.med);
    put(kOptNonTrans, AttributeType::kMultiExitDisc);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kLocalPref));
  if (a.local_pref) {
    vw.u32(*a.local_pref);
    put(kWellKnown, AttributeType::kLocalPref);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kAtomicAggregate));
  if (a.atomic_aggregate) put(kWellKnown, AttributeType::kAtomicAggregate);
  unknown_before(static_cast<unsigned>(AttributeType::kAggregator));
  if (a.aggregator) {
    if (ctx.four_octet_as) {
      vw.u32(a.aggregator->asn);
    } else {
      vw.u16(a.aggregator->asn > 0xffff ? static_cast<uint16_t>(kAsTrans) : static_cast<uint16_t>(a.aggregator->asn));
    }
    vw.bytes(a.aggregator->address.bytes());
    put(kOptTrans, AttributeType::kAggregator);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kCommunities));
  if (!a.communities.empty()) {
    for (uint32_t c : a.communities) vw.u32(c);
    put(kOptTrans, AttributeType::kCommunities);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kOriginatorId));
  if (a.originator_id) {
    vw.u32(*a.originator_id);
    put(kOptNonTrans, AttributeType::kOriginatorId);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kClusterList));
  if (!a.cluster_list.empty()) {
    for (uint32_t c : a.cluster_list) vw.u32(c);
    put(kOptNonTrans, AttributeType::kClusterList);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kMpReachNlri));
  if (const auto& r = a.mp_reach) {
    vw.u16(static_cast<uint16_t>(r->family.afi));
    vw.u8(static_cast<uint8_t>(r->family.safi));
    vw.u8(static_cast<uint8_t>(r->next_hop.bytes().size() + (r->link_local ? 16 : 0)));
    vw.bytes(r->next_hop.bytes());
    if (r->link_local) vw.bytes(r->link_local->bytes());
    vw.u8(0);  // reserved
    bool add_path = ctx.add_path(r->family);
    for (const auto& n : r->nlri) encode_prefix(n, add_path, v);
    put(kOptNonTrans, AttributeType::kMpReachNlri);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kMpUnreachNlri));
  if (const auto& u = a.mp_unreach) {
    vw.u16(static_cast<uint16_t>(u->family.afi));
    vw.u8(static_cast<uint8_t>(u->family.safi));
    bool add_path = ctx.add_path(u->family);
    for (const auto& n : u->withdrawn) encode_prefix(n, add_path, v);
    put(kOptNonTrans, AttributeType::kMpUnreachNlri);
  }
  unknown_before(static_cast<unsigned>(AttributeType::kExtendedCommunities));
  if (!a.extended_communities.empty()) {
    for (uint64_t c : a.extended_communities) {
      vw.u32(static_cast<uint32_t>(c >> 32));
      vw.u32(static_cast<uint32_t>(c));
    }
    put(kOptTrans, AttributeType::kExtendedCommunities);
  }
  if (!ctx.four_octet_as) {
    // RFC 6793 §4.2.2: a NEW speaker talking to an OLD one sends the 4-octet ASes in
    // AS4_PATH / AS4_AGGREGATOR when AS_TRANS stands in for them.
    unknown_before(static_cast<unsigned>(AttributeType::kAs4Path));
    if (a.as_path && needs_as4(*a.as_path)) {
      encode_as_path(*a.as_path, true, true, v);
      put(kOptTrans, AttributeType::kAs4Path);
    }
    unknown_before(static_cast<unsigned>(AttributeType::kAs4Aggregator));
    if (a.aggregator && a.aggregator->asn > 0xffff) {
      vw.u32(a.aggregator->asn);
      vw.bytes(a.aggregator->address.bytes());
      put(kOptTrans, AttributeType::kAs4Aggregator);
    }
  }
  unknown_before(static_cast<unsigned>(AttributeType::kLargeCommunity));
  if (!a.large_communities.empty()) {
    for (const auto& c : a.large_communities) {
      vw.u32(c.global_admin);
      vw.u32(c.local1);
      vw.u32(c.local2);
    }
    put(kOptTrans, AttributeType::kLargeCommunity);
  }
  unknown_before(256);
}

DecodeResult decode_attributes(std::span<const uint8_t> bytes, const Context& ctx, bool mrt_rib_entry) {
  Decoded d{Update{}, Verdict::kAccepted, {}};
  auto& update = std::get<Update>(d.message);
  AttributeDecoder attrs(ctx, mrt_rib_entry, update.attributes, d.problems);
  if (auto e = attrs.decode(bytes)) return *e;
  attrs.finish(false);
  d.verdict = attrs.verdict();
  return d;
}

namespace {

DecodeResult decode_open(std::span<const uint8_t> body) {
  Reader r(body);
  Open open;
  uint8_t opt_len = 0;
  if (!r.u8(open.version) || !r.u16(open.my_as) || !r.u16(open.hold_time) || !r.u32(open.bgp_identifier) ||
      !r.u8(opt_len)) {
    return bad_length(kHeaderSize + body.size(), "OPEN");
  }
  if (open.version != 4) {  // RFC 4271 §6.2: data is the largest version we support
    return open_failure(open_error::kUnsupportedVersion, {0, 4},
                      "BGP version " + std::to_string(open.version) + " (only 4 is supported)");
  }
  if (open.hold_time == 1 || open.hold_time == 2) {
    return open_failure(open_error::kUnacceptableHoldTime, {},
                      "hold time " + std::to_string(open.hold_time) + " s (must be 0 or at least 3)");
  }
  if (open.bgp_identifier == 0) return open_failure(open_error::kBadBgpIdentifier, {}, "BGP identifier 0.0.0.0");

  // RFC 9072 §2: a non-extended length of 255 with a first type of 255 announces the
  // extended format: a 2-octet length, then parameters with 2-octet lengths.
  bool extended = false;
  size_t params_len = opt_len;
  if (opt_len == 255 && r.remaining() >= 1 && r.rest()[0] == kExtendedParametersType) {
    uint8_t marker = 0;
    uint16_t ext_len = 0;
    if (!r.u8(marker) || !r.u16(ext_len)) return open_failure(open_error::kUnspecific, {}, "truncated extended parameters");
    extended = true;
    params_len = ext_len;
  }
  std::span<const uint8_t> params;
  if (!r.bytes(params_len, params) || !r.empty()) {
    return open_failure(open_error::kUnspecific, {}, "optional parameters length does not match the message");
  }
  Reader p(params);
  while (!p.empty()) {
    uint8_t type = 0;
    uint16_t length = 0;
    bool ok = p.u8(type);
    if (ok && extended) {
      ok = p.u16(length);
    } else if (ok) {
      uint8_t l = 0;
      ok = p.u8(l);
      length = l;
    }
    std::span<const uint8_t> value;
    if (!ok || !p.bytes(length, value)) return open_failure(open_error::kUnspecific, {}, "optional parameter overruns");
    if (type != kCapabilitiesParameter) {
      return open_failure(open_error::kUnsupportedOptionalParameter, {},
                        "unsupported optional parameter type " + std::to_string(type));
    }
    if (auto e = decode_capabilities(value, open.capabilities)) return *e;
  }
  return Decoded{std::move(open), Verdict::kAccepted, {}};
}

DecodeResult decode_update(std::span<const uint8_t> body, const Context& ctx) {
  Reader r(body);
  Decoded d{Update{}, Verdict::kAccepted, {}};
  auto& u = std::get<Update>(d.message);
  uint16_t withdrawn_len = 0, attrs_len = 0;
  std::span<const uint8_t> withdrawn, attrs;
  // RFC 4271 §6.3 / RFC 7606 §4: lengths that do not fit the message: the NLRI cannot be
  // located, so the session is reset.
  if (!r.u16(withdrawn_len) || !r.bytes(withdrawn_len, withdrawn) || !r.u16(attrs_len) ||
      !r.bytes(attrs_len, attrs)) {
    return update_failure(update_error::kMalformedAttributeList, {},
                        "withdrawn routes or path attribute length exceeds the message");
  }
  if (!decode_prefixes(withdrawn, Afi::kIpv4, ctx.add_path_ipv4, u.withdrawn)) {
    return update_failure(update_error::kInvalidNetworkField, {}, "malformed withdrawn routes");
  }
  if (!decode_prefixes(r.rest(), Afi::kIpv4, ctx.add_path_ipv4, u.nlri)) {
    return update_failure(update_error::kInvalidNetworkField, {}, "malformed NLRI");  // RFC 7606 §5.3
  }
  AttributeDecoder decoder(ctx, false, u.attributes, d.problems);
  if (auto e = decoder.decode(attrs)) return *e;
  decoder.finish(!u.nlri.empty());
  // RFC 7606 §5.2: an UPDATE with attributes but no NLRI at all (no MP_REACH either) is
  // fine; nothing to do.
  d.verdict = decoder.verdict();
  return d;
}

}  // namespace

DecodeResult decode_body(MessageType type, std::span<const uint8_t> body, const Context& ctx) {
  size_t length = kHeaderSize + body.size();
  switch (type) {
    case MessageType::kOpen:
      if (length < 29) return bad_length(length, "OPEN");
      return decode_open(body);
    case MessageType::kUpdate:
      if (length < 23) return bad_length(length, "UPDATE");
      return decode_update(body, ctx);
    case MessageType::kNotification: {
      if (length < 21) return bad_length(length, "NOTIFICATION");
      Notification n{body[0], body[1], std::vector<uint8_t>(body.begin() + 2, body.end())};
      return Decoded{std::move(n), Verdict::kAccepted, {}};
    }
    case MessageType::kKeepalive:
      if (length != kHeaderSize) return bad_length(length, "KEEPALIVE");
      return Decoded{Keepalive{}, Verdict::kAccepted, {}};
    case MessageType::kRouteRefresh: {
      if (length != 23) {  // RFC 7313 §5: the data is the whole message
        std::vector<uint8_t> data{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 5};
        data.insert(data.end(), body.begin(), body.end());
        return DecodeError{code(ErrorCode::kRouteRefresh), route_refresh_error::kInvalidMessageLength,
                           std::move(data), "ROUTE-REFRESH of length " + std::to_string(length)};
      }
      RouteRefresh rr;
      rr.family = {static_cast<Afi>((body[0] << 8) | body[1]), static_cast<Safi>(body[3])};
      rr.subtype = body[2];
      return Decoded{rr, Verdict::kAccepted, {}};
    }
  }
  return header_failure(header_error::kBadMessageType, {static_cast<uint8_t>(type)},
                      "unknown message type " + std::to_string(static_cast<int>(type)));
}

DecodeResult decode_message(std::span<const uint8_t> message, const Context& ctx) {
  Frame frame = next_frame(message, ctx.max_message_size());
  if (frame.status == Frame::Status::kError) return frame.error;
  if (frame.status == Frame::Status::kNeedMore || frame.message.size() != message.size()) {
    return bad_length(message.size(), "truncated or padded");
  }
  auto type = static_cast<MessageType>(message[18]);
  // RFC 8654 §4: OPEN and KEEPALIVE never exceed 4096 octets.
  if (message.size() > kMaxMessageSize && (type == MessageType::kOpen || type == MessageType::kKeepalive)) {
    return bad_length(message.size(), "oversized");
  }
  return decode_body(type, message.subspan(kHeaderSize), ctx);
}

std::vector<uint8_t> encode_message(const Message& m, const Context& ctx) {
  std::vector<uint8_t> out(16, 0xff);
  Writer w(out);
  w.u16(0);  // length, patched below
  w.u8(static_cast<uint8_t>(type_of(m)));
  if (const auto* open = std::get_if<Open>(&m)) {
    w.u8(open->version);
    w.u16(open->my_as);
    w.u16(open->hold_time);
    w.u32(open->bgp_identifier);
    std::vector<uint8_t> caps;
    encode_capabilities(open->capabilities, caps);
    if (caps.empty()) {
      w.u8(0);
    } else if (caps.size() + 2 <= 255) {
      w.u8(static_cast<uint8_t>(caps.size() + 2));
      w.u8(kCapabilitiesParameter);
      w.u8(static_cast<uint8_t>(caps.size()));
      w.bytes(caps);
    } else {  // RFC 9072
      w.u8(255);
      w.u8(kExtendedParametersType);
      w.u16(static_cast<uint16_t>(caps.size() + 3));
      w.u8(kCapabilitiesParameter);
      w.u16(static_cast<uint16_t>(caps.size()));
      w.bytes(caps);
    }
  } else if (const auto* update = std::get_if<Update>(&m)) {
    size_t withdrawn_at = out.size();
    w.u16(0);
    for (const auto& n : update->withdrawn) encode_prefix(n, ctx.add_path_ipv4, out);
    w.patch_u16(withdrawn_at, static_cast<uint16_t>(out.size() - withdrawn_at - 2));
    size_t attrs_at = out.size();
    w.u16(0);
    encode_attributes(update->attributes, ctx, out);
    w.patch_u16(attrs_at, static_cast<uint16_t>(out.size() - attrs_at - 2));
    for (const auto& n : update->nlri) encode_prefix(n, ctx.add_path_ipv4, out);
  } else if (const auto* n = std::get_if<Notification>(&m)) {
    w.u8(n->code);
    w.u8(n->subcode);
    w.bytes(n->data);
  } else if (const auto* rr = std::get_if<RouteRefresh>(&m)) {
    w.u16(static_cast<uint16_t>(rr->family.afi));
    w.u8(rr->subtype);
    w.u8(static_cast<uint8_t>(rr->family.safi));
  }
  w.patch_u16(16, static_cast<uint16_t>(out.size()));
  return out;
}

MessageType type_of(const Message& m) {
  static constexpr MessageType kTypes[] = {MessageType::kOpen, MessageType::kUpdate, MessageType::kNotification,
                                           MessageType::kKeepalive, MessageType::kRouteRefresh};
  return kTypes[m.index()];
}

std::optional<AddressFamily> end_of_rib(const Update& u) {
  if (!u.withdrawn.empty() || !u.nlri.empty()) return std::nullopt;
  const auto& a = u.attributes;
  if (a == PathAttributes{}) return kIpv4Unicast;
  PathAttributes only_unreach;
  only_unreach.mp_unreach = a.mp_unreach;
  if (a.mp_unreach && a.mp_unreach->withdrawn.empty() && a == only_unreach) return a.mp_unreach->family;
  return std::nullopt;
}

Update end_of_rib_marker(AddressFamily family) {
  Update u;
  if (family != kIpv4Unicast) u.attributes.mp_unreach = MpUnreach{family, {}};
  return u;
}

size_t AsPath::length() const {
  size_t n = 0;
  for (const auto& seg : segments) {
    if (seg.type == AsSegmentType::kSequence) n += seg.asns.size();
    if (seg.type == AsSegmentType::kSet) n += 1;
  }
  return n;
}

Asn AsPath::neighbor_as() const {
  for (const auto& seg : segments) {
    if (seg.type == AsSegmentType::kSequence && !seg.asns.empty()) return seg.asns.front();
    if (!is_confed(seg.type)) return 0;
  }
  return 0;
}

bool AsPath::contains(Asn asn) const {
  for (const auto& seg : segments) {
    if (std::find(seg.asns.begin(), seg.asns.end(), asn) != seg.asns.end()) return true;
  }
  return false;
}

}  // namespace tern::bgp::wire
