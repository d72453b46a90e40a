// ternctl: the operator's CLI. Subcommands:
//   peers [PEER]  the node's BGP sessions (from ternd's admin socket), readable or --json
//   rib [PREFIX]  the Loc-RIB with every candidate path, readable or --json
//   routes [PFX]  the kernel routes ternd wants (best paths, blackholes), readable or --json
//   ipam          the node's blocks and the Pods' addresses, readable or --json
//   status        whether the node is ready for Pods, readable or --json (exit 1 when not)
//   decode FILE   MRT dumps and raw BGP message streams, readable or --json
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "controller/ternctl/decode.hpp"
#include "controller/ternctl/peers.hpp"
#include "proto/admin_client.hpp"

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

// Sends one request to ternd; on failure prints why and returns nullopt.
std::optional<tern::admin::Response> ask_ternd(const std::string& socket, const tern::admin::Request& request) {
  auto client = tern::admin::Client::connect(socket, std::chrono::seconds(5));
  if (!client) {
    std::cerr << "ternctl: " << client.error().message << '\n';
    return std::nullopt;
  }
  auto response = client->call(request);
  if (!response) {
    std::cerr << "ternctl: " << response.error().message << '\n';
    return std::nullopt;
  }
  if (response->has_error()) {
    std::cerr << "ternctl: ternd: " << response->error().message() << '\n';
    return std::nullopt;
  }
  return std::move(*response);
}

int run_rib(const std::string& socket, const std::string& prefix, bool json, const std::string& mrt) {
  tern::admin::Request request;
  request.mutable_rib()->set_prefix(prefix);
  request.mutable_rib()->set_mrt(!mrt.empty());
  auto response = ask_ternd(socket, request);
  if (!response) return 1;
  if (!mrt.empty()) {
    std::ofstream out(mrt, std::ios::binary);
    out << response->rib().mrt();
    if (!out.flush()) {
      std::cerr << "ternctl: cannot write " << mrt << ": " << std::strerror(errno) << '\n';
      return 1;
    }
    std::cout << mrt << ": " << response->rib().ipv4_prefixes() + response->rib().ipv6_prefixes()
              << " prefixes as MRT TABLE_DUMP_V2 (" << response->rib().mrt().size() << " bytes)\n";
    return 0;
  }
  if (json) {
    std::cout << tern::ctl::to_json(response->rib()) << '\n';
  } else {
    tern::ctl::print_rib(response->rib(), std::cout);
  }
  if (!prefix.empty() && response->rib().routes_size() == 0) {
    std::cerr << "ternctl: no route for " << prefix << '\n';
    return 1;
  }
  return 0;
}

int run_peers(const std::string& socket, const std::string& peer, bool json) {
  tern::admin::Request request;
  request.mutable_peers();
  auto response = ask_ternd(socket, request);
  if (!response) return 1;
  auto reply = response->peers();
  if (!peer.empty()) {
    auto it = std::find_if(reply.peers().begin(), reply.peers().end(),
                           [&](const tern::admin::Peer& p) { return p.name() == peer || p.address() == peer; });
    if (it == reply.peers().end()) {
      std::cerr << "ternctl: no peer named " << peer << '\n';
      return 1;
    }
    tern::admin::Peer one = *it;
    reply.clear_peers();
    *reply.add_peers() = std::move(one);
  }
  if (json) {
    std::cout << tern::ctl::to_json(reply) << '\n';
  } else if (!peer.empty()) {
    tern::ctl::print_peer_detail(reply.peers(0), std::cout);
  } else {
    tern::ctl::print_peers_table(reply, std::cout);
  }
  return 0;
}

int run_routes(const std::string& socket, const std::string& prefix, bool json) {
  tern::admin::Request request;
  request.mutable_routes()->set_prefix(prefix);
  auto response = ask_ternd(socket, request);
  if (!response) return 1;
  if (json) {
    std::cout << tern::ctl::to_json(response->routes()) << '\n';
  } else {
    tern::ctl::print_routes(response->routes(), std::cout);
  }
  if (!prefix.empty() && response->routes().routes_size() == 0) {
    std::cerr << "ternctl: ternd wants no kernel route for " << prefix << '\n';
    return 1;
  }
  return 0;
}

int run_ipam(const std::string& socket, bool json) {
  tern::admin::Request request;
  request.mutable_ipam();
  auto response = ask_ternd(socket, request);
  if (!response) return 1;
  if (json) {
    std::cout << tern::ctl::to_json(response->ipam()) << '\n';
  } else {
    tern::ctl::print_ipam(response->ipam(), std::cout);
  }
  return 0;
}

int run_status(const std::string& socket, bool json) {
  tern::admin::Request request;
  request.mutable_status();
  auto response = ask_ternd(socket, request);
  if (!response) return 1;
  if (json) {
    std::cout << tern::ctl::to_json(response->status()) << '\n';
  } else {
    tern::ctl::print_status(response->status(), std::cout);
  }
  return response->status().ready() ? 0 : 1;
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

  std::string socket = tern::admin::kDefaultSocketPath;
  std::string peer;
  bool peers_json = false;
  auto* peers = app.add_subcommand("peers", "The node's BGP sessions: state, uptime, capabilities, counters, last error");
  peers->add_option("peer", peer, "one peer, by name or address: everything about it");
  peers->add_flag("--json", peers_json, "the admin API's reply as JSON");
  peers->add_option("--socket", socket, "ternd's admin socket")->capture_default_str();

  std::string rib_prefix;
  bool rib_json = false;
  auto* rib = app.add_subcommand("rib", "The Loc-RIB: every path, the best first, and why the others lost");
  rib->add_option("prefix", rib_prefix, "one prefix, or an address (the most specific route covering it)");
  rib->add_flag("--json", rib_json, "the admin API's reply as JSON");
  std::string rib_mrt;
  rib->add_option("--mrt", rib_mrt, "write the whole Loc-RIB to this file as MRT TABLE_DUMP_V2 (RFC 6396)");
  rib->add_option("--socket", socket, "ternd's admin socket")->capture_default_str();

  std::string routes_prefix;
  bool routes_json = false;
  auto* routes = app.add_subcommand("routes", "The kernel routes ternd wants: best paths (ECMP), blackholes, and whether they are in");
  routes->add_option("prefix", routes_prefix, "one prefix");
  routes->add_flag("--json", routes_json, "the admin API's reply as JSON");
  routes->add_option("--socket", socket, "ternd's admin socket")->capture_default_str();

  bool ipam_json = false;
  auto* ipam = app.add_subcommand("ipam", "The node's Pod address blocks, their usage, and every Pod's addresses");
  ipam->add_flag("--json", ipam_json, "the admin API's reply as JSON");
  ipam->add_option("--socket", socket, "ternd's admin socket")->capture_default_str();

  bool status_json = false;
  auto* status = app.add_subcommand("status", "Whether the node is ready for Pods: sessions, kernel routes, addresses");
  status->add_flag("--json", status_json, "the admin API's reply as JSON");
  status->add_option("--socket", socket, "ternd's admin socket")->capture_default_str();

  if (argc < 2) {  // no subcommand: show what there is
    std::cerr << app.help();
    return 2;
  }
  CLI11_PARSE(app, argc, argv);
  if (peers->parsed()) return run_peers(socket, peer, peers_json);
  if (rib->parsed()) return run_rib(socket, rib_prefix, rib_json, rib_mrt);
  if (routes->parsed()) return run_routes(socket, routes_prefix, routes_json);
  if (ipam->parsed()) return run_ipam(socket, ipam_json);
  if (status->parsed()) return run_status(socket, status_json);
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
