// K route-reflector clients in one process: each opens an iBGP session from its own
// address to the reflector under test, and once all K sessions are up each announces
// one block of its own (a /28 in 198.19.0.0/16) and counts the other clients' blocks it
// receives. Used by bench/bgp/rr_run to time a reflector's fan-out.
//
//   bgp_clients --rr ADDR --as N --clients K --first ADDR [--window W]
//
// At most W clients are between connect() and the reflector's OPEN at any time. BIRD 2.0
// listens with a backlog of 8 (sysdep/unix/io.c, listen(fd, 8)); a thousand SYNs at once
// overflow its accept queue, the kernel drops them (TcpExtListenOverflows) or, when the
// handshake's last ACK is the one dropped, answers the client's OPEN with a reset. The
// blocks are held back until the last session is up so that pacing the handshakes moves
// none of the reflector's fan-out work out of the measured interval.
//
// Prints, in seconds from the start: when every session was up (and the blocks were
// announced), and when every client had every other client's block. One thread, poll()
// over the K sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <vector>

#include "bgp/fsm/negotiate.hpp"
#include "bgp/wire/codec.hpp"
#include "bgp/wire/framer.hpp"

namespace {

using namespace tern;
using namespace tern::bgp;
using Clock = std::chrono::steady_clock;

struct Client {
  int fd = -1;  // -1: not started yet
  uint32_t address = 0;  // host order
  bool connected = false, open_seen = false, up = false;
  std::vector<uint8_t> in;
  std::vector<bool> have;  // blocks received, by client index
  size_t count = 0;
};

void send_all(int fd, const std::vector<uint8_t>& bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// A non-blocking connect from the client's own address; the answer comes through poll().
bool start_connect(Client& c, const sockaddr_in& target) {
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(c.address);
  if (c.fd < 0 || bind(c.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    std::cerr << "bgp_clients: bind " << IpAddress::v4(c.address).to_string() << ": " << std::strerror(errno) << '\n';
    return false;
  }
  connect(c.fd, reinterpret_cast<const sockaddr*>(&target), sizeof target);
  return true;
}

Prefix block(size_t i) { return Prefix(IpAddress::v4(0xc6130000u + static_cast<uint32_t>(i) * 16), 28); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bgp_clients — K route-reflector clients"};
  std::string rr, first;
  uint32_t asn = 65001;
  size_t k = 100;
  int timeout_s = 120;
  size_t window = 8;
  app.add_option("--rr", rr)->required();
  app.add_option("--as", asn);
  app.add_option("--clients", k);
  app.add_option("--first", first)->required();
  app.add_option("--timeout", timeout_s);
  app.add_option("--window", window, "handshakes in flight at most (0: all at once)");
  CLI11_PARSE(app, argc, argv);
  if (k > 4096) {
    std::cerr << "bgp_clients: at most 4096 clients (blocks are /28s in 198.19.0.0/16)\n";
    return 2;
  }
  uint32_t base = IpAddress::parse(first)->v4_host_order();
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(179);
  inet_pton(AF_INET, rr.c_str(), &target.sin_addr);

  if (window == 0) window = k;

  auto start = Clock::now();
  std::vector<Client> clients(k);
  for (size_t i = 0; i < k; ++i) {
    clients[i].address = base + static_cast<uint32_t>(i);
    clients[i].have.assign(k, false);
  }
  // Handshakes in flight: connect() issued, the reflector's OPEN not yet seen (so not
  // yet taken off its accept queue, as far as we know).
  size_t started = 0, in_flight = 0;
  auto start_more = [&] {
    for (; in_flight < window && started < k; ++started, ++in_flight) {
      if (!start_connect(clients[started], target)) return false;
    }
    return true;
  };
  if (!start_more()) return 1;

  auto keepalive = wire::encode_message(wire::Keepalive{}, {});
  size_t up = 0, converged = 0;
  double all_up = -1, all_converged = -1;
  auto last_keepalive = Clock::now();
  std::vector<pollfd> fds(k);
  while (all_converged < 0) {
    double now = std::chrono::duration<double>(Clock::now() - start).count();
    if (now > timeout_s) {
      std::cerr << "bgp_clients: timed out: " << started << " started, " << in_flight << " handshakes in flight, " << up
                << " up, " << converged << " converged\n";
      break;
    }
    for (size_t i = 0; i < k; ++i) {
      fds[i] = {clients[i].fd, static_cast<short>(clients[i].connected ? POLLIN : POLLOUT), 0};
    }
    poll(fds.data(), fds.size(), 200);
    // Every second: within any hold time a reflector may ask for (FRR's datacenter
    // profile negotiates 9 s).
    if (Clock::now() - last_keepalive > std::chrono::seconds(1)) {
      for (auto& c : clients) {
        if (c.up) send_all(c.fd, keepalive);
      }
      last_keepalive = Clock::now();
    }
    for (size_t i = 0; i < k; ++i) {
      auto& c = clients[i];
      if (!fds[i].revents) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {  // refused (the reflector not listening yet): try again
          close(c.fd);
          usleep(1000);
          if (!start_connect(c, target)) return 1;
          continue;
        }
        c.connected = true;
        fsm::LocalOffer offer;
        offer.asn = asn;
        offer.bgp_id = c.address;
        offer.hold_time = 90;
        send_all(c.fd, wire::encode_message(fsm::make_open(offer), {}));
        continue;
      }
      uint8_t buf[65536];
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN) {
          std::cerr << "bgp_clients: client " << i << " (" << IpAddress::v4(c.address).to_string()
                    << "): connection closed by the reflector (" << (n == 0 ? "FIN" : std::strerror(errno))
                    << ") at " << std::chrono::duration<double>(Clock::now() - start).count() << " s, in state "
                    << (c.up ? "Established" : c.open_seen ? "OpenConfirm" : "OpenSent") << ", after " << up
                    << " sessions were up\n";
          return 1;
        }
        continue;
      }
      c.in.insert(c.in.end(), buf, buf + n);
      size_t used = 0;
      while (true) {
        auto frame = wire::next_frame(std::span(c.in).subspan(used));
        if (frame.status != wire::Frame::Status::kMessage) break;
        used += frame.message.size();
        auto d = wire::decode_message(frame.message, {});
        if (!d) continue;
        auto& m = d.value().message;
        if (std::holds_alternative<wire::Open>(m) && !c.open_seen) {
          c.open_seen = true;
          send_all(c.fd, keepalive);
          --in_flight;
          if (!start_more()) return 1;
        } else if (std::holds_alternative<wire::Keepalive>(m) && c.open_seen && !c.up) {
          c.up = true;
          if (++up == k) {
            all_up = std::chrono::duration<double>(Clock::now() - start).count();
            for (size_t j = 0; j < k; ++j) {
              wire::Update u;
              u.attributes.origin = wire::Origin::kIgp;
              u.attributes.as_path = wire::AsPath{};
              u.attributes.local_pref = 100;
              u.attributes.next_hop = IpAddress::v4(clients[j].address);
              u.nlri.push_back({block(j), 0});
              send_all(clients[j].fd, wire::encode_message(u, {}));
            }
          }
        } else if (auto* note = std::get_if<wire::Notification>(&m)) {
          std::cerr << "bgp_clients: client " << i << ": NOTIFICATION "
                    << static_cast<int>(note->code) << "/" << static_cast<int>(note->subcode) << '\n';
          return 1;
        } else if (auto* u = std::get_if<wire::Update>(&m)) {
          for (const auto& nlri : u->nlri) {
            uint32_t offset = nlri.prefix.address().v4_host_order() - 0xc6130000u;
            size_t j = offset / 16;
            if (nlri.prefix.length() == 28 && j < k && j != i && !c.have[j]) {
              c.have[j] = true;
              if (++c.count == k - 1 && ++converged == k) {
                all_converged = std::chrono::duration<double>(Clock::now() - start).count();
              }
            }
          }
        }
      }
      c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(used));
    }
  }
  std::cout << "up " << all_up << " converged " << all_converged << std::endl;
  for (auto& c : clients) close(c.fd);
  return all_converged < 0 ? 1 : 0;
}
