// libFuzzer target for the BGP message decoder. Any input must decode or be refused
// without a crash, an out-of-bounds read (ASan) or undefined behaviour (UBSan). Whatever
// decodes cleanly must survive the round trip decode(encode(m)) == m.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "bgp/wire/codec.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/framer.hpp"

using namespace tern::bgp::wire;

namespace {

Context context(int which) {
  Context c;
  switch (which) {
    case 0: break;  // iBGP, 4-octet AS
    case 1:         // eBGP with everything negotiated
      c.ebgp = true;
      c.add_path_ipv4 = c.add_path_ipv6 = true;
      c.extended_message = true;
      c.extended_next_hop = true;
      break;
    case 2:  // an OLD (2-octet AS) speaker: AS4_PATH merging
      c.four_octet_as = false;
      break;
  }
  return c;
}

void check(std::span<const uint8_t> bytes, int which) {
  Context ctx = context(which);
  auto first = decode_message(bytes, ctx);
  if (!first.ok()) return;
  (void)describe(first.value().message);  // formatting must cope with anything decoded
  // The round trip holds for messages used as they are. With a 2-octet AS peer the RFC 6793
  // merge normalises the path (segments re-split, AS_TRANS replaced), so only decode there.
  if (first.value().verdict > Verdict::kAttributeDiscard || !ctx.four_octet_as) return;
  auto bytes2 = encode_message(first.value().message, ctx);
  auto second = decode_message(bytes2, ctx);
  if (!second.ok() || !(second.value().message == first.value().message)) {
    std::fprintf(stderr, "round trip failed in context %d: %s\n", which,
                 second.ok() ? describe(second.value().message).c_str() : second.error().reason.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  // The input as one message under each context...
  for (int which = 0; which < 3; ++which) check(input, which);
  // ...and as a stream, message by message, as a session reads it.
  while (true) {
    auto frame = next_frame(input, kMaxExtendedMessageSize);
    if (frame.status != Frame::Status::kMessage) break;
    check(frame.message, 1);
    input = input.subspan(frame.message.size());
  }
  return 0;
}
