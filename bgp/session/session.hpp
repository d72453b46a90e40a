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
#include <string>
#include <vector>

#include "bgp/fsm/fsm.hpp"
#include "bgp/fsm/negotiate.hpp"
#include "common/ip.hpp"

namespace tern::bgp::session {

namespace asio = boost::asio;

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
};

// What an operator sees of a session (`ternctl peers`).
struct SessionStatus {
  fsm::State state = fsm::State::kIdle;
  std::optional<fsm::Negotiated> negotiated;
  std::chrono::steady_clock::time_point established_at{};
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t updates_in = 0, prefixes_in = 0;
  uint32_t established_count = 0;
  std::string last_error;  // the last NOTIFICATION sent or received, or the socket error
};

class Session {
 public:
  struct Callbacks {
    std::function<void(const std::string& peer, fsm::State from, fsm::State to)> on_state;
    // Called for each UPDATE that decoded (with its RFC 7606 verdict).
    std::function<void(const std::string& peer, const wire::Decoded& update)> on_update;
  };

  Session(asio::io_context& io, PeerConfig config, Callbacks callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Administrative shutdown: Cease with an RFC 8203 message, then Idle.
  void stop(const std::string& message);
  // An incoming connection from this peer's address (the Speaker matched it).
  void accept(asio::ip::tcp::socket socket);

  const PeerConfig& config() const { return config_; }
  const SessionStatus& status() const { return status_; }

 private:
  void feed(fsm::Event e, const fsm::OpenReceived& open = {}, const std::optional<fsm::Notification>& error = {});
  void perform(const fsm::Action& a);

  void connect();
  void disconnect();
  void read();
  void on_bytes(size_t n);
  void on_message(std::span<const uint8_t> message);
  void send(std::vector<uint8_t> bytes);
  void write_next();
  void send_now(const std::vector<uint8_t>& bytes);  // a NOTIFICATION just before closing
  asio::steady_timer& timer(fsm::Timer t) { return timers_[static_cast<size_t>(t)]; }
  void set_state_from_fsm();
  Status prepare_socket(asio::ip::tcp::socket& s);

  asio::io_context& io_;
  PeerConfig config_;
  Callbacks callbacks_;
  fsm::Fsm fsm_;
  SessionStatus status_;
  std::optional<asio::ip::tcp::socket> socket_;
  uint64_t generation_ = 0;  // bumped per connection, so stale callbacks are ignored
  std::vector<uint8_t> in_;  // bytes read and not yet framed
  std::array<uint8_t, 65536> read_buffer_;
  std::deque<std::vector<uint8_t>> out_;
  bool writing_ = false;
  std::array<asio::steady_timer, 5> timers_;
  wire::Context decode_ctx_;
};

// Accepts connections on the BGP port and hands each to the session of its peer
// address; unknown addresses are closed at once. MD5 keys of password peers are set on
// the listening socket so their SYNs are accepted.
class Speaker {
 public:
  Speaker(asio::io_context& io, std::vector<PeerConfig> peers, Session::Callbacks callbacks,
          std::vector<asio::ip::tcp::endpoint> listen);
  Status start();  // binds and listens, starts every session
  void stop(const std::string& message);
  const std::vector<std::unique_ptr<Session>>& sessions() const { return sessions_; }

 private:
  void accept(asio::ip::tcp::acceptor& acceptor);

  asio::io_context& io_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<asio::ip::tcp::endpoint> listen_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
};

}  // namespace tern::bgp::session
