// A BGP speaker that only feeds: it opens a session to a router under test, sends a
// full-table-like load of IPv4 prefixes as fast as TCP takes it (FRR-packed UPDATEs, a
// few thousand attribute sets), and then keeps the session up until SIGTERM. Used by
// bench/bgp/rib_run to load ternd, FRR and BIRD with the same feed.
//
//   bgp_feeder --peer ADDR --peer-as N --as N --id ADDR --prefixes N [--hold S]
//
// Prints "established" when the session is up and "sent N" when the last UPDATE is
// written; the prefixes are RIB data only (1.0.0.0 upwards), nobody installs them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include "bgp/fsm/negotiate.hpp"
#include "bgp/wire/codec.hpp"
#include "bgp/wire/update_packer.hpp"

namespace {

using namespace tern;
using namespace tern::bgp;

std::atomic<bool> stop = false;
std::mutex send_mutex;

bool send_all(int fd, const std::vector<uint8_t>& bytes) {
  std::lock_guard lock(send_mutex);
  for (size_t sent = 0; sent < bytes.size();) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::optional<wire::Message> receive(int fd) {
  std::vector<uint8_t> buf(19);
  auto exactly = [&](uint8_t* p, size_t n) {
    for (size_t got = 0; got < n;) {
      ssize_t r = recv(fd, p + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  };
  if (!exactly(buf.data(), 19)) return std::nullopt;
  size_t length = buf[16] << 8 | buf[17];
  if (length < 19 || length > 65535) return std::nullopt;
  buf.resize(length);
  if (!exactly(buf.data() + 19, length - 19)) return std::nullopt;
  auto d = wire::decode_message(buf, {});
  if (!d) return std::nullopt;
  return d.value().message;
}

std::vector<std::vector<uint8_t>> feed(size_t count, IpAddress next_hop, wire::Asn asn) {
  std::vector<wire::Nlri> prefixes;
  prefixes.reserve(count);
  for (uint32_t i = 0; prefixes.size() < count; ++i) {  // distinct /24s: 1.0.0.0, 1.0.1.0, ...
    prefixes.push_back({Prefix(IpAddress::v4(0x01000000u + i * 256), 24), 0});
  }
  std::vector<std::vector<uint8_t>> messages;
  constexpr size_t kPerSet = 200;  // 5,000 attribute sets for a million prefixes
  for (size_t start = 0; start < prefixes.size(); start += kPerSet) {
    wire::PathAttributes a;
    a.origin = wire::Origin::kIgp;
    a.as_path = wire::AsPath{{{wire::AsSegmentType::kSequence, {asn, 65100 + static_cast<wire::Asn>(start % 1000), 64496}}}};
    a.next_hop = next_hop;
    a.med = static_cast<uint32_t>(start % 7);
    a.communities = {asn << 16 | 100};
    size_t n = std::min(kPerSet, prefixes.size() - start);
    wire::pack_announcements(a, std::span(prefixes).subspan(start, n), wire::kIpv4Unicast, {}, messages);
  }
  return messages;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bgp_feeder — load a BGP speaker with a full table"};
  std::string peer, id;
  uint32_t asn = 0, peer_as = 0, hold = 90;
  size_t count = 1'000'000;
  app.add_option("--peer", peer)->required();
  app.add_option("--peer-as", peer_as)->required();
  app.add_option("--as", asn)->required();
  app.add_option("--id", id)->required();
  app.add_option("--prefixes", count);
  app.add_option("--hold", hold);
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, [](int) { stop = true; });
  std::signal(SIGINT, [](int) { stop = true; });

  auto self = IpAddress::parse(id);
  if (!self) {
    std::cerr << "bgp_feeder: --id: " << self.error().message << '\n';
    return 2;
  }
  auto messages = feed(count, *self, asn);  // built before connecting: only sending is timed

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(179);
  inet_pton(AF_INET, peer.c_str(), &addr.sin_addr);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool connected = false;
  for (int attempt = 0; attempt < 100 && !connected && !stop; ++attempt) {
    connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (!connected) {
      close(fd);
      fd = socket(AF_INET, SOCK_STREAM, 0);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      usleep(100000);
    }
  }
  if (!connected) {
    std::cerr << "bgp_feeder: cannot connect to " << peer << '\n';
    return 1;
  }
  fsm::LocalOffer offer;
  offer.asn = asn;
  offer.bgp_id = self->v4_host_order();
  offer.hold_time = static_cast<uint16_t>(hold);
  send_all(fd, wire::encode_message(fsm::make_open(offer), {}));
  auto open = receive(fd);
  if (!open || !std::holds_alternative<wire::Open>(*open)) {
    std::cerr << "bgp_feeder: no OPEN from " << peer << '\n';
    return 1;
  }
  send_all(fd, wire::encode_message(wire::Keepalive{}, {}));
  uint16_t negotiated = std::min<uint16_t>(static_cast<uint16_t>(hold), std::get<wire::Open>(*open).hold_time);
  for (auto m = receive(fd); m && !std::holds_alternative<wire::Keepalive>(*m); m = receive(fd)) {
  }
  std::cout << "established" << std::endl;

  // What the router sends us is read and dropped; keepalives go out on time.
  std::thread reader([fd] {
    while (!stop && receive(fd)) {
    }
  });
  std::thread keepalive([fd, negotiated] {
    auto keepalive = wire::encode_message(wire::Keepalive{}, {});
    while (!stop && negotiated) {
      for (int i = 0; i < negotiated * 10 / 3 && !stop; ++i) usleep(100000);
      if (!stop && !send_all(fd, keepalive)) break;
    }
  });
  size_t sent = 0;
  for (const auto& m : messages) {
    if (stop || !send_all(fd, m)) break;
    ++sent;
  }
  std::cout << "sent " << count << " prefixes in " << sent << " UPDATEs" << std::endl;
  while (!stop) usleep(100000);
  shutdown(fd, SHUT_RDWR);
  keepalive.join();
  reader.join();
  close(fd);
  return 0;
}
