// ternd against a scripted peer, for what a real router will not do on cue:
// - connection collisions (RFC 4271 §6.8): the peer accepts ternd's connection and opens
//   its own, and the connection opened by the higher BGP identifier must survive —
//   whichever OPEN ternd sees first;
// - a million prefixes pushed at ternd as fast as TCP takes them, with a 3 s hold time:
//   ternd's keepalives must keep coming (BIRD is known to drop such sessions);
// - /metrics, /healthz and /readyz following the session.
// The scripted peer runs in this process with plain blocking sockets in its own
// namespace; ternd in another.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bgp/fsm/negotiate.hpp"
#include "bgp/wire/codec.hpp"
#include "bgp/wire/update_packer.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace tern {
namespace {

using namespace std::chrono_literals;
namespace wire = bgp::wire;
using testing::Daemon;
using testing::Netns;

// A blocking socket with a receive timeout, closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {
    timeval tv{10, 0};
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

sockaddr_in v4(const char* addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, addr, &a.sin_addr);
  return a;
}

void send_message(const Fd& s, const wire::Message& m) {
  auto bytes = wire::encode_message(m, {});
  ASSERT_EQ(send(s.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// The next message on `s`, or nullopt when the connection closed or nothing came in 10 s.
std::optional<wire::Message> receive(const Fd& s) {
  std::vector<uint8_t> buf(19);
  auto read_exactly = [&](uint8_t* p, size_t n) {
    for (size_t got = 0; got < n;) {
      ssize_t r = recv(s.fd, p + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  };
  if (!read_exactly(buf.data(), 19)) return std::nullopt;
  size_t length = buf[16] << 8 | buf[17];
  if (length < 19) return std::nullopt;
  buf.resize(length);
  if (!read_exactly(buf.data() + 19, length - 19)) return std::nullopt;
  auto d = wire::decode_message(buf, {});
  if (!d) return std::nullopt;
  return d.value().message;
}

bool is_cease_collision(const std::optional<wire::Message>& m) {
  auto* n = m ? std::get_if<wire::Notification>(&*m) : nullptr;
  return n && n->code == 6 && n->subcode == 7;
}

class ScriptedPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    TERN_REQUIRE_ROOT();
    node_ = std::make_unique<Netns>("node");
    peer_ = std::make_unique<Netns>("peer");
    testing::connect(*node_, "eth0", "198.18.0.1/24", *peer_, "eth0", "198.18.0.2/24");
    dir_ = std::filesystem::temp_directory_path() / (node_->name() + "-ternd");
    std::filesystem::create_directories(dir_);
    // The scripted peer listens before ternd starts, so ternd's first attempt lands.
    listener_ = Fd(testing::in_netns(*peer_, [] {
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      auto a = v4("198.18.0.2", 179);
      if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4) != 0) std::abort();
      return s;
    }));
  }

  void TearDown() override {
    ternd_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void start_ternd(const std::string& router_id, int hold_time = 9, const std::string& peer_extra = "",
                   const std::string& extra = "") {
    std::ofstream(dir_ / "ternd.yaml") << "node: {name: node-1, router_id: " << router_id << ", as: 65001}\n"
                                       << "bgp: {hold_time: " << hold_time << ", connect_retry: 1}\n"
                                       << "admin: {socket: " << (dir_ / "ternd.sock").string() << "}\n"
                                       << "http: {listen: \"127.0.0.1:9479\"}\n" << extra
                                       << "peers:\n  - {address: 198.18.0.2, remote_as: 65002" << peer_extra << "}\n";
    ternd_ = std::make_unique<Daemon>(
        std::vector<std::string>{"ip", "netns", "exec", node_->name(), TERND, "--config", dir_ / "ternd.yaml"},
        dir_ / "ternd.log");
  }

  // ternd's connection, accepted by the scripted peer.
  Fd accept_ternd() {
    timeval tv{15, 0};  // bounds accept() too
    setsockopt(listener_.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return Fd(accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC));
  }

  // The peer's own connection to ternd (retried while ternd's listener comes up).
  Fd connect_to_ternd() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int s = testing::in_netns(*peer_, [] { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
      auto a = v4("198.18.0.1", 179);
      if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return Fd(s);
      close(s);
      std::this_thread::sleep_for(100ms);
    }
    return Fd();
  }

  static wire::Open open_from(const char* router_id, uint16_t hold_time = 9) {
    bgp::fsm::LocalOffer offer;
    offer.asn = 65002;
    offer.bgp_id = ntohl(v4(router_id, 0).sin_addr.s_addr);
    offer.hold_time = hold_time;
    return bgp::fsm::make_open(offer);
  }

  static uint16_t local_port(const Fd& s) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }

  nlohmann::json ternd_peer() {
    auto r = testing::run({TERNCTL, "peers", "--json", "--socket", dir_ / "ternd.sock"}, 10s);
    if (r.exit_code != 0) return {};
    auto j = nlohmann::json::parse(r.out);
    return j["peers"].empty() ? nlohmann::json{} : j["peers"][0];
  }

  // Completes the OPEN exchange on `s` (ternd's OPEN may already have been read) and
  // waits until ternd reports Established on it.
  void finish_on(const Fd& s, bool read_open, uint16_t remote_port) {
    if (read_open) {
      auto open = receive(s);
      ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();
    }
    auto keepalive = receive(s);
    ASSERT_TRUE(keepalive && std::holds_alternative<wire::Keepalive>(*keepalive)) << log();
    send_message(s, wire::Keepalive{});
    ASSERT_TRUE(testing::wait_until([&] { return ternd_peer().value("state", "") == "Established"; }, 10s, 100ms))
        << ternd_peer().dump(2) << log();
    auto p = ternd_peer();
    EXPECT_EQ(p["remote_port"], remote_port) << "the surviving connection";
    EXPECT_EQ(p["established_count"], 1);
  }

  // GET on ternd's HTTP endpoint, from inside its namespace: status code and body.
  std::pair<int, std::string> http_get(const std::string& path) {
    auto r = testing::run({"ip", "netns", "exec", node_->name(), "curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                           "http://127.0.0.1:9479" + path},
                          10s);
    auto cut = r.out.rfind('\n');
    if (r.exit_code != 0 || cut == std::string::npos) return {0, r.err};
    return {std::stoi(r.out.substr(cut + 1)), r.out.substr(0, cut)};
  }

  std::string log() const {
    std::ifstream in(dir_ / "ternd.log");
    std::stringstream s;
    s << in.rdbuf();
    return "\nternd log:\n" + s.str();
  }

  std::unique_ptr<Netns> node_, peer_;
  std::filesystem::path dir_;
  std::unique_ptr<Daemon> ternd_;
  Fd listener_;
};

TEST_F(ScriptedPeer, CollisionHigherPeerIdentifierKeepsThePeersConnection) {
  start_ternd("198.18.0.1");
  Fd ours = accept_ternd();  // the connection ternd opened
  ASSERT_GE(ours.fd, 0) << log();
  auto open = receive(ours);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();

  Fd theirs = connect_to_ternd();
  ASSERT_GE(theirs.fd, 0);
  send_message(theirs, open_from("198.18.0.200"));

  // 198.18.0.200 > 198.18.0.1: ternd closes its own with Cease/Connection Collision
  // Resolution and carries on with ours... with the peer's.
  EXPECT_TRUE(is_cease_collision(receive(ours))) << log();
  finish_on(theirs, true, local_port(theirs));
}

TEST_F(ScriptedPeer, CollisionLowerPeerIdentifierKeepsTerndsConnection) {
  start_ternd("198.18.0.9");
  Fd ours = accept_ternd();
  ASSERT_GE(ours.fd, 0) << log();
  auto open = receive(ours);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();

  Fd theirs = connect_to_ternd();
  ASSERT_GE(theirs.fd, 0);
  send_message(theirs, open_from("198.18.0.2"));

  // 198.18.0.2 < 198.18.0.9: the connection the peer opened is the one to go.
  EXPECT_TRUE(is_cease_collision(receive(theirs))) << log();
  send_message(ours, open_from("198.18.0.2"));
  finish_on(ours, false, 179);
}

TEST_F(ScriptedPeer, CollisionResolvedWhenTheOpenComesOnTerndsOwnConnectionFirst) {
  start_ternd("198.18.0.1");
  Fd ours = accept_ternd();
  ASSERT_GE(ours.fd, 0) << log();
  auto open = receive(ours);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();

  // The peer's connection is there but silent; the OPEN arrives on ternd's own.
  Fd theirs = connect_to_ternd();
  ASSERT_GE(theirs.fd, 0);
  ASSERT_TRUE(testing::wait_until([&] { return log().find("waiting for its OPEN") != std::string::npos; }, 10s, 50ms))
      << log();
  send_message(ours, open_from("198.18.0.200"));

  // ternd learns the identifier there, dumps its own connection and takes the peer's.
  EXPECT_TRUE(is_cease_collision(receive(ours))) << log();
  auto ternd_open = receive(theirs);
  ASSERT_TRUE(ternd_open && std::holds_alternative<wire::Open>(*ternd_open)) << log();
  send_message(theirs, open_from("198.18.0.200"));
  finish_on(theirs, false, local_port(theirs));
}

TEST_F(ScriptedPeer, DelayOpenWaitsForThePeersOpen) {
  start_ternd("198.18.0.1", 9, ", delay_open: 30");
  Fd s = accept_ternd();
  ASSERT_GE(s.fd, 0) << log();
  timeval tv{1, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_FALSE(receive(s)) << "no OPEN from ternd while DelayOpen runs";
  tv = {10, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  send_message(s, open_from("198.18.0.2"));
  auto open = receive(s);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << "the peer's OPEN ends the wait" << log();
  auto keepalive = receive(s);
  EXPECT_TRUE(keepalive && std::holds_alternative<wire::Keepalive>(*keepalive)) << log();
}

TEST_F(ScriptedPeer, MetricsHealthAndReadiness) {
  start_ternd("198.18.0.1", 9, ", required: true");
  Fd s = accept_ternd();
  ASSERT_GE(s.fd, 0) << log();
  auto open = receive(s);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();

  // Alive, not ready: the required peer is not up yet.
  EXPECT_EQ(http_get("/healthz").first, 200);
  auto [status, body] = http_get("/readyz");
  EXPECT_EQ(status, 503) << body;
  EXPECT_NE(body.find("required peer 198.18.0.2 (198.18.0.2) is OpenSent"), std::string::npos) << body;
  EXPECT_NE(http_get("/metrics").second.find(
                "tern_bgp_peer_state{peer=\"198.18.0.2\",address=\"198.18.0.2\",state=\"OpenSent\"} 1"),
            std::string::npos);

  send_message(s, open_from("198.18.0.2"));
  auto keepalive = receive(s);
  ASSERT_TRUE(keepalive && std::holds_alternative<wire::Keepalive>(*keepalive)) << log();
  send_message(s, wire::Keepalive{});
  ASSERT_TRUE(testing::wait_until([&] { return http_get("/readyz").first == 200; }, 10s, 100ms))
      << http_get("/readyz").second << log();

  auto metrics = http_get("/metrics");
  EXPECT_EQ(metrics.first, 200);
  const std::string labels = "{peer=\"198.18.0.2\",address=\"198.18.0.2\"}";
  for (const std::string& line : std::vector<std::string>{"tern_bgp_peer_up" + labels + " 1", "tern_bgp_peer_established_total" + labels + " 1",
                                  "tern_bgp_messages_received_total" + labels + " 2",
                                  std::string("# TYPE tern_bgp_messages_received_total counter"),
                                  std::string("tern_info{node=\"node-1\",as=\"65001\",router_id=\"198.18.0.1\"} 1")}) {
    EXPECT_NE(metrics.second.find(line + "\n"), std::string::npos) << line << "\n" << metrics.second;
  }
  EXPECT_EQ(http_get("/nothing").first, 404);
}

TEST_F(ScriptedPeer, MaxPrefixTeardownSendsCeaseOne) {
  start_ternd("198.18.0.1", 9,
              ", import: {allow: [{prefix: 198.18.0.0/15, max_length: 32}], max_prefixes: 100, "
              "max_prefix_action: teardown, max_prefix_restart: 1}");
  Fd s = accept_ternd();
  ASSERT_GE(s.fd, 0) << log();
  ASSERT_TRUE(receive(s)) << log();  // its OPEN
  send_message(s, open_from("198.18.0.2"));
  ASSERT_TRUE(receive(s)) << log();  // its KEEPALIVE
  send_message(s, wire::Keepalive{});
  std::vector<std::vector<uint8_t>> updates;
  std::vector<wire::Nlri> prefixes;
  for (uint32_t i = 0; i < 101; ++i) prefixes.push_back({Prefix(IpAddress::v4(0xc6120000u + (i << 8)), 24), 0});
  wire::PathAttributes attrs;
  attrs.origin = wire::Origin::kIgp;
  attrs.as_path = wire::AsPath{{{wire::AsSegmentType::kSequence, {65002}}}};
  attrs.next_hop = IpAddress::v4(0xc6120002);
  wire::pack_announcements(attrs, prefixes, wire::kIpv4Unicast, {}, updates);
  for (const auto& u : updates) ASSERT_EQ(send(s.fd, u.data(), u.size(), MSG_NOSIGNAL), static_cast<ssize_t>(u.size()));

  // Whatever ternd sent before (its End-of-RIB), then Cease / Maximum Number of Prefixes Reached.
  std::optional<wire::Message> m;
  while ((m = receive(s)) && !std::holds_alternative<wire::Notification>(*m)) {
  }
  ASSERT_TRUE(m) << log();
  auto n = std::get<wire::Notification>(*m);
  EXPECT_EQ(n.code, 6);
  EXPECT_EQ(n.subcode, 1);
  EXPECT_TRUE(testing::wait_until(
      [&] { return ternd_peer().value("last_error", "").find("Maximum Number of Prefixes Reached") != std::string::npos; },
      5s, 100ms))
      << ternd_peer().dump(2);
  // max_prefix_restart: a second later ternd connects again by itself.
  Fd again = accept_ternd();
  ASSERT_GE(again.fd, 0) << log();
  auto open = receive(again);
  EXPECT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();
}

TEST_F(ScriptedPeer, AdvertisementIntervalGathersChanges) {
  // The node's blocks change twice in quick succession (SIGHUP); with a 2 s MRAI the
  // peer gets them in one batch, at least 2 s after the previous one.
  auto config = [&](const std::string& blocks) {
    std::ofstream(dir_ / "ternd.yaml") << "node: {name: node-1, router_id: 198.18.0.1, as: 65001, blocks: [" << blocks
                                       << "]}\npools: [198.18.0.0/15]\n"
                                       << "bgp: {hold_time: 9, connect_retry: 1}\nhttp: {listen: \"\"}\n"
                                       << "admin: {socket: " << (dir_ / "ternd.sock").string() << "}\n"
                                       << "peers:\n  - {address: 198.18.0.2, remote_as: 65002, advertisement_interval: 2}\n";
  };
  config("198.18.100.0/24");
  ternd_ = std::make_unique<testing::Daemon>(
      std::vector<std::string>{"ip", "netns", "exec", node_->name(), TERND, "--config", dir_ / "ternd.yaml"},
      dir_ / "ternd.log");
  Fd s = accept_ternd();
  ASSERT_GE(s.fd, 0) << log();
  ASSERT_TRUE(receive(s));
  send_message(s, open_from("198.18.0.2"));
  ASSERT_TRUE(receive(s));  // KEEPALIVE
  send_message(s, wire::Keepalive{});
  // The first batch: the block, then End-of-RIB.
  std::vector<Prefix> got;
  auto next_update = [&]() -> std::optional<wire::Update> {
    while (auto m = receive(s)) {
      if (auto* u = std::get_if<wire::Update>(&*m)) return *u;
    }
    return std::nullopt;
  };
  auto first = next_update();
  ASSERT_TRUE(first && !first->nlri.empty()) << log();
  auto first_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(next_update());  // End-of-RIB

  config("198.18.100.0/24, 198.18.101.0/24");
  kill(ternd_->pid(), SIGHUP);
  std::this_thread::sleep_for(200ms);
  config("198.18.100.0/24, 198.18.101.0/24, 198.18.102.0/24");
  kill(ternd_->pid(), SIGHUP);

  auto second = next_update();
  auto second_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(second) << log();
  EXPECT_EQ(second->nlri.size(), 2u) << "both changes in one batch";
  EXPECT_GE(second_at - first_at, 1900ms) << "not before the interval";
}

// Every prefix inside 198.18.0.0/15, /16 to /32: 262,142 of them (RIB data only).
std::vector<wire::Nlri> test_prefixes() {
  std::vector<wire::Nlri> out;
  for (int length = 16; length <= 32; ++length) {
    for (uint32_t i = 0; i < (1u << (length - 15)); ++i) {
      out.push_back({Prefix(IpAddress::v4(0xc6120000u + (i << (32 - length))), length), 0});
    }
  }
  return out;
}

TEST_F(ScriptedPeer, KeepalivesStayOnTimeWhileAMillionPrefixesArrive) {
  start_ternd("198.18.0.1", 3, "", "pools: [198.18.0.0/15]\n");  // every prefix goes into the RIB
  Fd s = accept_ternd();
  ASSERT_GE(s.fd, 0) << log();
  auto open = receive(s);
  ASSERT_TRUE(open && std::holds_alternative<wire::Open>(*open)) << log();
  send_message(s, open_from("198.18.0.2", 3));
  auto keepalive = receive(s);
  ASSERT_TRUE(keepalive && std::holds_alternative<wire::Keepalive>(*keepalive)) << log();
  send_message(s, wire::Keepalive{});

  // Four rounds of the whole table (about a million prefixes, 600 UPDATEs a round
  // packed as FRR packs them), written as fast as ternd reads, while another thread
  // records when each of ternd's messages arrives.
  auto prefixes = test_prefixes();
  std::vector<std::vector<uint8_t>> updates;
  wire::PathAttributes attrs;
  attrs.origin = wire::Origin::kIgp;
  attrs.as_path = wire::AsPath{{{wire::AsSegmentType::kSequence, {65002, 65100}}}};
  attrs.next_hop = IpAddress::v4(0xc6120002);
  wire::pack_announcements(attrs, prefixes, wire::kIpv4Unicast, {}, updates);

  std::vector<std::chrono::steady_clock::time_point> keepalives;
  std::optional<wire::Message> other;
  std::atomic<bool> done = false;
  std::thread reader([&] {
    while (!done) {
      auto m = receive(s);
      if (!m) break;
      if (std::holds_alternative<wire::Keepalive>(*m)) {
        keepalives.push_back(std::chrono::steady_clock::now());
      } else if (!std::holds_alternative<wire::Update>(*m)) {  // its End-of-RIB is fine
        other = m;
        break;
      }
    }
  });
  auto start = std::chrono::steady_clock::now();
  size_t sent = 0;
  for (int round = 0; round < 4; ++round) {
    for (const auto& u : updates) {
      if (send(s.fd, u.data(), u.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(u.size())) break;
      sent += 1;
    }
    send_message(s, wire::Keepalive{});  // our own hold timer duty
  }
  // Keep the session going a few more hold times after the flood.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(1s);
    send_message(s, wire::Keepalive{});
  }
  auto end = std::chrono::steady_clock::now();
  done = true;
  shutdown(s.fd, SHUT_RD);
  reader.join();

  EXPECT_EQ(sent, 4 * updates.size());
  EXPECT_FALSE(other) << "ternd sent something other than KEEPALIVEs and UPDATEs (a NOTIFICATION?)" << log();
  auto p = ternd_peer();
  EXPECT_EQ(p.value("state", ""), "Established") << p.dump(2) << log();
  EXPECT_EQ(std::stoull(p.value("prefixes_in", "0")), 4 * prefixes.size());
  auto rib = testing::run({TERNCTL, "rib", "198.18.0.0/16", "--json", "--socket", dir_ / "ternd.sock"}, 10s);
  ASSERT_EQ(rib.exit_code, 0) << rib.err;
  EXPECT_EQ(nlohmann::json::parse(rib.out)["ipv4_prefixes"], std::to_string(prefixes.size())) << "all in the Loc-RIB";
  // The peer's hold timer (3 s) must never have expired: no gap between ternd's
  // messages reached it, from the flood's start to the end.
  ASSERT_FALSE(keepalives.empty());
  auto last = start;
  for (auto t : keepalives) {
    EXPECT_LT(t - last, 3s) << "a gap that expires the peer's hold timer";
    last = t;
  }
  EXPECT_LT(end - last, 3s);
}

}  // namespace
}  // namespace tern
