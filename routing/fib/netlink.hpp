// rtnetlink message helpers shared by the FIB's route and nexthop-object code. Internal to
// routing/fib.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
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

// Where a batch stopped short: request `at` and those after it have no answer (the state of
// those sent is unknown until a reconcile).
struct Stopped {
  size_t at = 0;
  int error = 0;  // errno
  const char* what = "";
};

// Sends `count` requests laid back to back in `bytes` (request i at `offset_of(i)`, in order),
// many per sendmsg(), numbering them from `seq`, and hands each answer to request i to
// `answer(i, h)`: errors, acknowledgements and echoes alike.
//
// The kernel answers a failed request with an error whether or not an acknowledgement was
// asked, and processes a chunk before sendmsg() returns: so the last request of each chunk
// asks for one, and its answer closes the chunk (the answers to the others came before it).
// A request that asks no acknowledgement itself costs no message back when it succeeds.
template <typename OffsetOf, typename Answer>
std::optional<Stopped> transact(int fd, uint32_t& seq, std::vector<uint8_t>& bytes, size_t count, OffsetOf offset_of,
                                Answer answer) {
  if (count == 0) return std::nullopt;
  constexpr size_t kReceive = 1 << 20;
  auto in = std::make_unique_for_overwrite<uint8_t[]>(kReceive);
  auto header = [&](size_t i) { return reinterpret_cast<nlmsghdr*>(bytes.data() + offset_of(i)); };
  for (size_t from = 0; from < count;) {
    uint32_t first = seq;
    size_t next = from;
    while (next < count && (next == from || offset_of(next) - offset_of(from) < kSendChunk)) {
      header(next++)->nlmsg_seq = seq++;
    }
    nlmsghdr* last = header(next - 1);
    last->nlmsg_flags |= NLM_F_ACK;
    uint32_t last_seq = last->nlmsg_seq;
    size_t end = next < count ? offset_of(next) : bytes.size();
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, bytes.data() + offset_of(from), end - offset_of(from), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
      return Stopped{from, errno, "netlink send"};
    }
    for (bool closed = false; !closed;) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) return Stopped{from, ETIMEDOUT, "no answer from the kernel in 10 s"};
      ssize_t n = recv(fd, in.get(), kReceive, 0);
      if (n < 0 && errno == EINTR) continue;
      // ENOBUFS: answers were lost.
      if (n < 0) return Stopped{from, errno, "netlink receive"};
      for (auto* h = reinterpret_cast<const nlmsghdr*>(in.get()); NLMSG_OK(h, static_cast<uint32_t>(n));
           h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq < first || h->nlmsg_seq > last_seq) continue;  // a late answer to something else
        answer(from + (h->nlmsg_seq - first), h);
        closed |= h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == last_seq;
      }
    }
    from = next;
  }
  return std::nullopt;
}

// The errno of an error answer (0: an acknowledgement).
inline int error_of(const nlmsghdr* h) { return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error; }

}  // namespace tern::routing::netlink
