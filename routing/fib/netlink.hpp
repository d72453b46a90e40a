// rtnetlink message helpers shared by the FIB's route and nexthop-object code. Internal to
// routing/fib.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip.hpp"

namespace tern::routing::netlink {

inline constexpr size_t kSendChunk = 256 * 1024;  // bytes of requests per sendmsg()

// Appends an rtattr with `len` bytes of payload; returns its offset in `buf`.
inline size_t put_attr(std::vector<uint8_t>& buf, uint16_t type, const void* data, size_t len) {
  size_t at = buf.size();
  rtattr a{static_cast<uint16_t>(RTA_LENGTH(len)), type};
  buf.resize(at + RTA_SPACE(len));
  std::memcpy(buf.data() + at, &a, sizeof a);
  if (len) std::memcpy(buf.data() + at + RTA_LENGTH(0), data, len);
  return at;
}

inline void put_address(std::vector<uint8_t>& buf, uint16_t type, const IpAddress& a) {
  put_attr(buf, type, a.bytes().data(), a.bytes().size());
}

inline void put_u32(std::vector<uint8_t>& buf, uint16_t type, uint32_t v) { put_attr(buf, type, &v, sizeof v); }

inline std::optional<IpAddress> address_from(const rtattr* a) {
  return IpAddress::from_bytes(std::span(static_cast<const uint8_t*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
}

inline uint32_t u32_from(const rtattr* a) {
  uint32_t v = 0;
  std::memcpy(&v, RTA_DATA(a), std::min<size_t>(sizeof v, RTA_PAYLOAD(a)));
  return v;
}

// The kernel's reason in an error answer (extended ack, NETLINK_EXT_ACK), or "".
inline std::string extack_message(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  // With NETLINK_CAP_ACK the request is not copied back: the TLVs follow its header.
  size_t skip = sizeof(nlmsgerr) + ((h->nlmsg_flags & NLM_F_CAPPED) ? 0 : e->msg.nlmsg_len - sizeof(nlmsghdr));
  if (NLMSG_HDRLEN + skip > h->nlmsg_len) return {};
  int len = static_cast<int>(h->nlmsg_len - NLMSG_HDRLEN - skip);
  auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const uint8_t*>(e) + skip);
  for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == NLMSGERR_ATTR_MSG) return std::string(static_cast<const char*>(RTA_DATA(a)));
  }
  return {};
}

}  // namespace tern::routing::netlink
