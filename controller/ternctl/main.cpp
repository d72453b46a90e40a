// ternctl: the operator's CLI. Subcommands:
//   decode FILE   MRT dumps and raw BGP message streams, readable or --json
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "controller/ternctl/decode.hpp"

namespace {

int run_decode(const std::string& file, const tern::ctl::DecodeOptions& options) {
  std::vector<uint8_t> bytes;
  if (file == "-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "ternctl decode: cannot open " << file << ": " << std::strerror(errno) << '\n';
      return 1;
    }
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto status = tern::ctl::decode(bytes, options, std::cout);
  std::cout.flush();
  if (!status) {
    std::cerr << "ternctl decode: " << file << ": " << status.error().message << '\n';
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ternctl — inspect a tern node and BGP data"};
  app.require_subcommand(1);

  std::string file;
  tern::ctl::DecodeOptions decode_options;
  bool two_octet = false;
  auto* decode = app.add_subcommand("decode", "Decode an MRT file (TABLE_DUMP_V2, BGP4MP) or a raw BGP message stream");
  decode->add_option("file", file, "the file to read, - for stdin")->required();
  decode->add_flag("--json", decode_options.json, "one JSON object per line");
  decode->add_flag("--as2", two_octet, "raw streams: the session did not negotiate 4-octet AS numbers");
  decode->add_flag("--addpath", decode_options.raw_context.add_path_ipv4,
                   "raw streams: the session negotiated ADD-PATH (IPv4 and IPv6)");

  if (argc < 2) {  // no subcommand: show what there is
    std::cerr << app.help();
    return 2;
  }
  CLI11_PARSE(app, argc, argv);
  if (decode->parsed()) {
    // A raw stream has no OPEN context of its own: by default decode it as a modern
    // session does (4-octet AS, extended messages and next hops allowed).
    auto& ctx = decode_options.raw_context;
    ctx.four_octet_as = !two_octet;
    ctx.add_path_ipv6 = ctx.add_path_ipv4;
    ctx.extended_message = true;
    ctx.extended_next_hop = true;
    return run_decode(file, decode_options);
  }
  return 0;
}
