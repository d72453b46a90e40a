// A BGP session on Boost.Asio: one peer's socket, timers and FSM.
//
// The pure parts decide (bgp/fsm: the state machine and OPEN negotiation; bgp/wire: the
// codec); this class only carries out their actions with a socket and timers and turns
// what happens on them back into events. All of it runs on the one io_context thread
// that owns every session, so nothing here locks; other threads post to it.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bgp/fsm/fsm.hpp"
#include "bgp/fsm/negotiate.hpp"
#include "common/ip.hpp"

namespace tern::bgp::session {

namespace asio = boost::asio;

// An Asio address as tern's (IPv4-mapped IPv6 addresses as IPv4).
IpAddress from_asio(const asio::ip::address& a);

struct PeerConfig {
  std::string name;
  IpAddress address;
  uint16_t port = 179;
  fsm::PeerExpectation expect;  // remote AS, iBGP or eBGP
  std::optional<IpAddress> source;
  std::string password;  // TCP MD5 (RFC 2385); empty: none
  int ttl = 1;           // eBGP single hop by default; multihop raises it; iBGP uses 255
  bool gtsm = false;     // RFC 5082: with ttl as the hop count
  fsm::Config timers;
  fsm::LocalOffer offer;
  bool dynamic = false;  // accepted from a listen range; removed when its session ends
  // Bytes queued for the peer beyond which it counts as not reading: Cease/Out of
  // Resources and the connection is dropped, so one stuck peer cannot eat the node.
  size_t max_write_queue = 64 << 20;
  friend bool operator==(const PeerConfig&, const PeerConfig&) = default;
};

// What an operator sees of a session (`ternctl peers`).
struct SessionStatus {
  fsm::State state = fsm::State::kIdle;
  std::optional<fsm::Negotiated> negotiated;
  std::chrono::steady_clock::time_point since{};  // entered `state` (Established: the uptime)
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t updates_in = 0, prefixes_in = 0;
  uint64_t updates_out = 0, prefixes_out = 0;
  uint32_t established_count = 0;
  uint32_t collisions = 0;  // connection collisions resolved (RFC 4271 §6.8)
  std::string last_error;   // the last NOTIFICATION sent or received, or the socket error
  // A NOTIFICATION went either way since the session came up: its end was deliberate,
  // not the connection failing (what RFC 4724 graceful restart covers).
  bool notified = false;
  std::optional<boost::asio::ip::tcp::endpoint> local, remote;  // of the current connection
  size_t write_queue_bytes = 0;
};

// One TCP connection of a session: the socket and what is read and queued on it.
struct Connection;

class Session {
 public:
  struct Callbacks {
    std::function<void(Session& session, fsm::State from, fsm::State to)> on_state;
    // Called for each UPDATE that decoded (with its RFC 7606 verdict).
    std::function<void(Session& session, const wire::Decoded& update)> on_update;
    // A ROUTE-REFRESH request (or an RFC 7313 BoRR/EoRR marker) from the peer.
    std::function<void(Session& session, const wire::RouteRefresh& request)> on_route_refresh;
    // The write queue, once over the high-water mark, fell below the low one: the
    // Adj-RIB-Out may hand over more (it pulls, so a slow peer holds nobody's memory).
    std::function<void(Session& session)> on_drained;
  };

  // Queue thresholds for on_drained.
  static constexpr size_t kHighWater = 1 << 20;
  static constexpr size_t kLowWater = 256 << 10;

  Session(asio::io_context& io, PeerConfig config, Callbacks callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Administrative shutdown: Cease (Administrative Shutdown with an RFC 8203 message,
  // unless another subcode is given), then Idle. `closed` runs once the connection is
  // closed (the peer closed its end after reading the NOTIFICATION, or two seconds passed).
  void stop(const std::string& message, uint8_t cease_subcode = fsm::cease::kAdministrativeShutdown,
            std::function<void()> closed = {});
  // An incoming connection from this peer's address (the Speaker matched it).
  void accept(asio::ip::tcp::socket socket);

  const PeerConfig& config() const { return config_; }
  const SessionStatus& status() const { return status_; }
  bool established() const { return status_.state == fsm::State::kEstablished; }

  // How to encode what we send this peer (valid while Established).
  const wire::Context& encode_context() const { return encode_ctx_; }
  // Queues encoded UPDATEs (or ROUTE-REFRESH) while Established, back to back in
  // `buffers`; `messages` counts them and `prefixes` the NLRI they announce. False when the session is not Established (nothing is queued).
  // True with writable() false asks the caller to wait for on_drained.
  bool send_updates(std::vector<std::vector<uint8_t>> buffers, uint64_t messages, uint64_t prefixes);
  bool writable() const { return status_.write_queue_bytes < kHighWater; }
  // Asks the peer to send its routes again (RFC 2918), for every negotiated family; false
  // when it did not offer route refresh (the operator then resets the session).
  bool request_refresh();

 private:
  void feed(fsm::Event e, const fsm::OpenReceived& open = {}, const std::optional<fsm::Notification>& error = {});
  void perform(const fsm::Action& a);

  void connect();
  void disconnect();
  void adopt(std::shared_ptr<Connection> c);  // makes `c` the session's connection
  void read(const std::shared_ptr<Connection>& c);
  void process(const std::shared_ptr<Connection>& c);  // frames and handles what was read
  void on_message(std::span<const uint8_t> message);
  // `messages`: how many BGP messages `bytes` holds (several, back to back, from send_updates).
  void send(std::vector<uint8_t> bytes, uint64_t messages = 1);
  void write_next(const std::shared_ptr<Connection>& c);
  void send_now(Connection& c, const std::vector<uint8_t>& bytes);  // a NOTIFICATION just before closing
  asio::steady_timer& timer(fsm::Timer t) { return timers_[static_cast<size_t>(t)]; }
  void set_state_from_fsm();
  Status prepare_socket(asio::ip::tcp::socket& s);
  Status prepare_accepted(asio::ip::tcp::socket& s);

  // Connection collisions (RFC 4271 §6.8): a connection the peer opens while ours is in
  // OpenSent or OpenConfirm is kept aside until its OPEN names the peer's identifier;
  // then the one opened by the higher identifier survives.
  void hold_rival(asio::ip::tcp::socket socket);
  void read_rival(const std::shared_ptr<Connection>& c);
  bool resolve_collision(uint32_t remote_id);  // true: our connection survives
  void drop_rival(const std::optional<fsm::Notification>& why);

  asio::io_context& io_;
  PeerConfig config_;
  Callbacks callbacks_;
  fsm::Fsm fsm_;
  SessionStatus status_;
  std::shared_ptr<Connection> conn_;   // the session's connection, if any
  std::shared_ptr<Connection> rival_;  // a colliding incoming connection awaiting its OPEN
  std::function<void()> on_closed_;    // stop()'s, handed to the connection's close
  wire::Context encode_ctx_;
  bool over_high_water_ = false;
  asio::steady_timer rival_timer_;
  std::array<asio::steady_timer, 5> timers_;
  std::array<uint64_t, 5> timer_generation_{};
  // Timer handlers check it: a cancelled timer whose handler was already queued still
  // runs it, possibly after a dynamic neighbour's session is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// Dynamic neighbours: any address in the range may open a session with the settings of
// the template (how a route reflector accepts nodes that come and go).
struct DynamicRange {
  Prefix range;
  std::string template_name;
  PeerConfig peer;  // the template; address, name and seed are filled in per neighbour
};

// Accepts connections on the BGP port and hands each to the session of its peer
// address. An address in a dynamic-neighbour range gets a new session from the range's
// template; any other is closed at once. MD5 keys of password peers and ranges are set
// on the listening sockets so their SYNs are accepted.
class Speaker {
 public:
  Speaker(asio::io_context& io, std::vector<PeerConfig> peers, Session::Callbacks callbacks,
          std::vector<asio::ip::tcp::endpoint> listen, std::vector<DynamicRange> ranges = {},
          size_t dynamic_limit = 1000);
  Status start();  // binds and listens, starts every session
  void stop(const std::string& message);
  // A new configuration (SIGHUP): peers that are gone get Cease/Peer De-configured,
  // changed ones Cease/Other Configuration Change and a new session, new ones start;
  // sessions whose settings did not change are not touched. Dynamic neighbours outside
  // every new range end. Listening addresses and the node's identity need a restart.
  Status reconfigure(std::vector<PeerConfig> peers, std::vector<DynamicRange> ranges, size_t dynamic_limit);
  const std::vector<std::unique_ptr<Session>>& sessions() const { return sessions_; }

 private:
  void accept(asio::ip::tcp::acceptor& acceptor);
  Session* session_for(const IpAddress& address);  // configured or dynamic; nullptr when none
  Session* dynamic_session(const IpAddress& from);
  void on_state(Session& s, fsm::State from, fsm::State to);
  Session::Callbacks session_callbacks();
  Status set_listener_keys(const std::vector<PeerConfig>& peers, const std::vector<DynamicRange>& ranges,
                           bool remove);
  void remove_later(Session* session);

  asio::io_context& io_;
  Session::Callbacks callbacks_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<asio::ip::tcp::endpoint> listen_;
  std::vector<DynamicRange> ranges_;
  size_t dynamic_limit_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::set<IpAddress> restarting_;  // changed peers: the new session waits for the old connection's close
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for those closes, which may come after us
};

}  // namespace tern::bgp::session
