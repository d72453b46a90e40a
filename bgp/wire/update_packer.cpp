#include "bgp/wire/update_packer.hpp"

#include "bgp/wire/buffer.hpp"

namespace tern::bgp::wire {

namespace {

size_t encoded_size(const Nlri& n, bool add_path) {
  return (add_path ? 4 : 0) + 1 + (static_cast<size_t>(n.prefix.length()) + 7) / 8;
}

std::vector<uint8_t> start_message() {
  std::vector<uint8_t> m(16, 0xff);
  Writer w(m);
  w.u16(0);
  w.u8(static_cast<uint8_t>(MessageType::kUpdate));
  return m;
}

void finish_message(std::vector<uint8_t>& m, std::vector<std::vector<uint8_t>>& out) {
  Writer(m).patch_u16(16, static_cast<uint16_t>(m.size()));
  // The message was given room for a full one; a short one (one route reflected to a
  // thousand clients) must not hold 4 KiB in every write queue.
  if (m.capacity() > 2 * m.size()) m.shrink_to_fit();
  out.push_back(std::move(m));
}

// Fills messages with prefixes until each is full. `begin` writes what precedes the
// prefixes and returns how many octets `end` will append after them.
template <typename Begin, typename End>
void pack(std::span<const Nlri> prefixes, bool add_path, size_t max, Begin begin, End end,
          std::vector<std::vector<uint8_t>>& out) {
  size_t i = 0;
  while (i < prefixes.size()) {
    std::vector<uint8_t> m = start_message();
    m.reserve(max);
    size_t trailer = begin(m);
    size_t first = i;
    while (i < prefixes.size() && m.size() + trailer + encoded_size(prefixes[i], add_path) <= max) {
      encode_prefix(prefixes[i], add_path, m);
      ++i;
    }
    if (i == first) return;  // the attributes alone fill a message: nothing fits
    end(m);
    finish_message(m, out);
  }
}

}  // namespace

void pack_announcements(const PathAttributes& attrs, std::span<const Nlri> prefixes, AddressFamily family,
                        const Context& ctx, std::vector<std::vector<uint8_t>>& out) {
  const size_t max = ctx.max_message_size();
  const bool add_path = ctx.add_path(family);
  PathAttributes shared = attrs;
  shared.mp_reach.reset();
  shared.mp_unreach.reset();
  std::vector<uint8_t> encoded;
  encode_attributes(shared, ctx, encoded);

  if (family == kIpv4Unicast) {
    pack(
        prefixes, add_path, max,
        [&](std::vector<uint8_t>& m) {
          Writer w(m);
          w.u16(0);  // no withdrawn routes
          w.u16(static_cast<uint16_t>(encoded.size()));
          w.bytes(encoded);
          return size_t{0};
        },
        [](std::vector<uint8_t>&) {}, out);
    return;
  }
  // MP_REACH_NLRI with the extended length, so it can grow past 255 octets.
  const MpReach& reach = attrs.mp_reach ? *attrs.mp_reach : MpReach{};
  size_t attrs_len_at = 0, mp_len_at = 0;
  pack(
      prefixes, add_path, max,
      [&](std::vector<uint8_t>& m) {
        Writer w(m);
        w.u16(0);
        attrs_len_at = m.size();
        w.u16(0);
        w.u8(attr_flag::kOptional | attr_flag::kExtendedLength);
        w.u8(static_cast<uint8_t>(AttributeType::kMpReachNlri));
        mp_len_at = m.size();
        w.u16(0);
        w.u16(static_cast<uint16_t>(family.afi));
        w.u8(static_cast<uint8_t>(family.safi));
        w.u8(static_cast<uint8_t>(reach.next_hop.bytes().size() + (reach.link_local ? 16 : 0)));
        w.bytes(reach.next_hop.bytes());
        if (reach.link_local) w.bytes(reach.link_local->bytes());
        w.u8(0);  // reserved
        return encoded.size();  // the shared attributes follow the NLRI
      },
      [&](std::vector<uint8_t>& m) {
        Writer w(m);
        w.patch_u16(mp_len_at, static_cast<uint16_t>(m.size() - mp_len_at - 2));
        w.bytes(encoded);
        w.patch_u16(attrs_len_at, static_cast<uint16_t>(m.size() - attrs_len_at - 2));
      },
      out);
}

void pack_withdrawals(std::span<const Nlri> prefixes, AddressFamily family, const Context& ctx,
                      std::vector<std::vector<uint8_t>>& out) {
  const size_t max = ctx.max_message_size();
  const bool add_path = ctx.add_path(family);
  size_t len_at = 0;
  if (family == kIpv4Unicast) {
    pack(
        prefixes, add_path, max,
        [&](std::vector<uint8_t>& m) {
          len_at = m.size();
          Writer(m).u16(0);
          return size_t{2};  // the path attribute length follows the prefixes
        },
        [&](std::vector<uint8_t>& m) {
          Writer w(m);
          w.patch_u16(len_at, static_cast<uint16_t>(m.size() - len_at - 2));
          w.u16(0);  // no path attributes
        },
        out);
    return;
  }
  size_t attrs_len_at = 0;
  pack(
      prefixes, add_path, max,
      [&](std::vector<uint8_t>& m) {
        Writer w(m);
        w.u16(0);
        attrs_len_at = m.size();
        w.u16(0);
        w.u8(attr_flag::kOptional | attr_flag::kExtendedLength);
        w.u8(static_cast<uint8_t>(AttributeType::kMpUnreachNlri));
        len_at = m.size();
        w.u16(0);
        w.u16(static_cast<uint16_t>(family.afi));
        w.u8(static_cast<uint8_t>(family.safi));
        return size_t{0};
      },
      [&](std::vector<uint8_t>& m) {
        Writer w(m);
        w.patch_u16(len_at, static_cast<uint16_t>(m.size() - len_at - 2));
        w.patch_u16(attrs_len_at, static_cast<uint16_t>(m.size() - attrs_len_at - 2));
      },
      out);
}

}  // namespace tern::bgp::wire
