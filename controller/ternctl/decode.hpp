// `ternctl decode FILE`: MRT dumps and raw BGP message streams, one record per route
// (TABLE_DUMP_V2) or per message (BGP4MP, raw), readable or as JSON lines.
#pragma once

#include <cstdint>
#include <ostream>
#include <span>

#include "bgp/wire/codec.hpp"
#include "common/result.hpp"

namespace tern::ctl {

struct DecodeOptions {
  bool json = false;
  // How a raw stream decodes; MRT records say this themselves.
  bgp::wire::Context raw_context;
};

// Decodes `bytes` (an MRT file, or a raw stream when it starts with the BGP marker) to
// `out`. What decoded is printed even when the input is damaged further on; the error
// then says where.
Status decode(std::span<const uint8_t> bytes, const DecodeOptions& options, std::ostream& out);

}  // namespace tern::ctl
