#include "bgp/session/session.hpp"

#include <spdlog/spdlog.h>

#include "bgp/session/socket_options.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/framer.hpp"

namespace tern::bgp::session {

namespace {

using asio::ip::tcp;

asio::ip::address to_asio(const IpAddress& a) {
  if (a.is_v4()) return asio::ip::address_v4(a.v4_host_order());
  asio::ip::address_v6::bytes_type b;
  std::copy(a.bytes().begin(), a.bytes().end(), b.begin());
  return asio::ip::address_v6(b);
}

}  // namespace

IpAddress from_asio(const asio::ip::address& a) {
  if (a.is_v4()) return IpAddress::v4(a.to_v4().to_uint());
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return IpAddress::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
  auto b = v6.to_bytes();
  return IpAddress::v6(std::span<const uint8_t, 16>(b.data(), 16));
}

namespace {

fsm::Event timer_event(fsm::Timer t) {
  switch (t) {
    case fsm::Timer::kConnectRetry: return fsm::Event::kConnectRetryTimerExpires;
    case fsm::Timer::kHold: return fsm::Event::kHoldTimerExpires;
    case fsm::Timer::kKeepalive: return fsm::Event::kKeepaliveTimerExpires;
    case fsm::Timer::kDelayOpen: return fsm::Event::kDelayOpenTimerExpires;
    case fsm::Timer::kIdleHold: return fsm::Event::kIdleHoldTimerExpires;
  }
  return fsm::Event::kIdleHoldTimerExpires;
}

fsm::Notification to_fsm(const wire::DecodeError& e) { return {e.code, e.subcode, e.data}; }

}  // namespace

struct Connection {
  explicit Connection(asio::io_context& io, bool incoming) : socket(io), incoming(incoming) {}
  tcp::socket socket;
  bool incoming;              // opened by the peer
  bool reading = false;       // a read is outstanding (it owns read_buffer until it completes)
  std::vector<uint8_t> in;    // bytes read and not yet framed
  std::array<uint8_t, 65536> read_buffer;
  std::deque<std::vector<uint8_t>> out;
  size_t out_bytes = 0;
  bool writing = false;
  wire::Context decode_ctx;
};

namespace {

// Closes a connection gracefully: FIN after what was written, then the peer's last bytes
// are read and dropped until it closes too (or two seconds pass). Closing at once with
// unread bytes would make the kernel send a RST, and a RST makes the peer throw away the
// NOTIFICATION we just sent. `closed` runs once the socket is closed.
void linger_and_close(asio::io_context& io, tcp::socket socket, std::function<void()> closed) {
  struct Linger {
    tcp::socket socket;
    asio::steady_timer timer;
    std::array<uint8_t, 4096> buffer;
    std::function<void()> closed;
  };
  auto l = std::make_shared<Linger>(Linger{std::move(socket), asio::steady_timer(io), {}, std::move(closed)});
  boost::system::error_code ignored;
  l->socket.shutdown(tcp::socket::shutdown_send, ignored);
  l->timer.expires_after(std::chrono::seconds(2));
  l->timer.async_wait([l](const boost::system::error_code&) {
    boost::system::error_code ignored;
    l->socket.close(ignored);
    if (l->closed) l->closed();
  });
  auto drain = std::make_shared<std::function<void()>>();
  *drain = [l, drain] {
    l->socket.async_read_some(asio::buffer(l->buffer), [l, drain](const boost::system::error_code& ec, size_t) {
      if (ec) {
        l->timer.cancel();  // the timer's handler closes the socket
        *drain = nullptr;   // break the cycle
        return;
      }
      (*drain)();
    });
  };
  (*drain)();
}

// Ends a connection: what is outstanding on it is cancelled first (so no completion
// writes into its buffers once it is gone), then the socket lingers until closed.
// `closed` runs after that (posted at once when there was no connection).
void close_connection(asio::io_context& io, std::shared_ptr<Connection> c, std::function<void()> closed = {}) {
  if (!c || !c->socket.is_open()) {
    if (closed) asio::post(io, std::move(closed));
    return;
  }
  boost::system::error_code ignored;
  c->socket.cancel(ignored);
  linger_and_close(io, std::move(c->socket), std::move(closed));
}

}  // namespace

Session::Session(asio::io_context& io, PeerConfig config, Callbacks callbacks)
    : io_(io),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      fsm_(config_.timers),
      rival_timer_(io),
      timers_{asio::steady_timer(io), asio::steady_timer(io), asio::steady_timer(io), asio::steady_timer(io),
              asio::steady_timer(io)} {
  status_.since = std::chrono::steady_clock::now();
}

Session::~Session() {
  for (auto& t : timers_) t.cancel();
  rival_timer_.cancel();
  close_connection(io_, std::move(rival_));
  disconnect();
}

void Session::start() { feed(fsm::Event::kManualStart); }

void Session::stop(const std::string& message, uint8_t cease_subcode, std::function<void()> closed) {
  rival_timer_.cancel();
  close_connection(io_, std::move(rival_));
  on_closed_ = std::move(closed);  // taken by disconnect(), if the shutdown disconnects
  for (const auto& a : fsm_.shutdown(message, cease_subcode)) perform(a);
  set_state_from_fsm();
  if (on_closed_) asio::post(io_, std::exchange(on_closed_, {}));
}

void Session::feed(fsm::Event e, const fsm::OpenReceived& open, const std::optional<fsm::Notification>& error) {
  for (const auto& a : fsm_.handle(e, open, error)) perform(a);
  set_state_from_fsm();
  // Our connection lost (a collision dumped it, or it failed) while the peer's own
  // connection waits aside: that one becomes the session's.
  if (fsm_.state() == fsm::State::kIdle && rival_) {
    auto c = std::move(rival_);
    rival_timer_.cancel();
    feed(fsm::Event::kManualStop);  // cancels the idle hold of the failure
    feed(fsm::Event::kManualStartPassive);
    fsm_.set_restart_passive(config_.timers.passive);
    adopt(c);
  }
}

void Session::set_state_from_fsm() {
  fsm::State now = fsm_.state();
  if (now == status_.state) return;
  fsm::State before = status_.state;
  status_.state = now;
  if (before == fsm::State::kEstablished || now == fsm::State::kEstablished) {
    status_.since = std::chrono::steady_clock::now();
  }
  spdlog::info("peer {} ({}): {} -> {}{}", config_.name, config_.address.to_string(), fsm::to_string(before),
               fsm::to_string(now), now == fsm::State::kIdle && !status_.last_error.empty() ? " (" + status_.last_error + ")" : "");
  if (callbacks_.on_state) callbacks_.on_state(*this, before, now);
}

void Session::perform(const fsm::Action& a) {
  std::visit(
      [&](const auto& act) {
        using T = std::decay_t<decltype(act)>;
        if constexpr (std::is_same_v<T, fsm::action::Connect>) {
          connect();
        } else if constexpr (std::is_same_v<T, fsm::action::Disconnect>) {
          disconnect();
        } else if constexpr (std::is_same_v<T, fsm::action::SendOpen>) {
          send(wire::encode_message(fsm::make_open(config_.offer), {}));
        } else if constexpr (std::is_same_v<T, fsm::action::SendKeepalive>) {
          send(wire::encode_message(wire::Keepalive{}, {}));
        } else if constexpr (std::is_same_v<T, fsm::action::SendNotification>) {
          const auto& n = act.notification;
          status_.last_error = "sent " + wire::notification_to_string(n.code, n.subcode, n.data);
          status_.notified = true;
          spdlog::warn("peer {}: {}", config_.name, status_.last_error);
          if (conn_) send_now(*conn_, wire::encode_message(wire::Notification{n.code, n.subcode, n.data}, {}));
        } else if constexpr (std::is_same_v<T, fsm::action::StartTimer>) {
          fsm::Timer t = act.timer;
          auto& timer = this->timer(t);
          uint64_t gen = ++timer_generation_[static_cast<size_t>(t)];
          timer.expires_after(act.after);
          // An expiry already queued when the timer was restarted or stopped still runs
          // its handler with success: the generation tells it apart (a hold timer reset by
          // a KEEPALIVE must not expire a moment later).
          timer.async_wait([this, t, gen, alive = std::weak_ptr(alive_)](const boost::system::error_code& ec) {
            if (ec || alive.expired() || gen != timer_generation_[static_cast<size_t>(t)]) return;
            feed(timer_event(t));
          });
        } else if constexpr (std::is_same_v<T, fsm::action::StopTimer>) {
          ++timer_generation_[static_cast<size_t>(act.timer)];
          timer(act.timer).cancel();
        } else if constexpr (std::is_same_v<T, fsm::action::SessionUp>) {
          ++status_.established_count;
          status_.last_error.clear();
          status_.notified = false;
        } else if constexpr (std::is_same_v<T, fsm::action::SessionDown>) {
          status_.negotiated.reset();
        }
      },
      a);
}

Status Session::prepare_socket(tcp::socket& s) {
  int fd = s.native_handle();
  if (!config_.password.empty()) {
    if (auto st = set_tcp_md5(fd, Prefix(config_.address, config_.address.max_prefix_length()), config_.password); !st) {
      return st;
    }
  }
  if (auto st = prepare_accepted(s); !st) return st;
  if (config_.source) return bind_source(fd, *config_.source);
  return {};
}

// An accepted socket inherits the listener's MD5 keys; TTL and DSCP are per peer.
Status Session::prepare_accepted(tcp::socket& s) {
  int fd = s.native_handle();
  Family family = config_.address.family();
  if (auto st = config_.gtsm ? set_gtsm(fd, family, config_.ttl) : set_ttl(fd, family, config_.ttl); !st) return st;
  return set_network_control_dscp(fd, family);
}

void Session::connect() {
  disconnect();
  auto c = std::make_shared<Connection>(io_, false);
  conn_ = c;
  boost::system::error_code ec;
  c->socket.open(config_.address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (auto st = ec ? Status(io_error("socket", ec.value())) : prepare_socket(c->socket); !st) {
    status_.last_error = st.error().message;
    spdlog::error("peer {}: {}", config_.name, st.error().message);
    asio::post(io_, [this, w = std::weak_ptr(c)] {
      if (auto c = w.lock(); c && c == conn_) feed(fsm::Event::kTcpConnectionFails);
    });
    return;
  }
  c->socket.async_connect(tcp::endpoint(to_asio(config_.address), config_.port),
                          [this, w = std::weak_ptr(c)](const boost::system::error_code& ec) {
                            auto c = w.lock();
                            if (!c || c != conn_) return;
                            if (ec) {
                              status_.last_error = "connect: " + ec.message();
                              feed(fsm::Event::kTcpConnectionFails);
                              return;
                            }
                            boost::system::error_code ignored;
                            status_.local = c->socket.local_endpoint(ignored);
                            status_.remote = c->socket.remote_endpoint(ignored);
                            feed(fsm::Event::kTcpCrAcked);
                            if (c == conn_) read(c);
                          });
}

void Session::disconnect() {
  close_connection(io_, std::move(conn_), std::exchange(on_closed_, {}));
  status_.local.reset();
  status_.remote.reset();
  status_.write_queue_bytes = 0;
  over_high_water_ = false;
}

void Session::accept(tcp::socket socket) {
  switch (fsm_.state()) {
    case fsm::State::kConnect:
    case fsm::State::kActive:
      break;
    case fsm::State::kOpenSent:
    case fsm::State::kOpenConfirm:
      if (conn_ && !conn_->incoming && !rival_) {
        hold_rival(std::move(socket));
        return;
      }
      [[fallthrough]];
    default: {
      // Idle: not started, or backing off. Established: §6.8 closes the newcomer.
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
  }
  disconnect();  // drop our own attempt in flight
  auto c = std::make_shared<Connection>(io_, true);
  c->socket = std::move(socket);
  adopt(c);
}

void Session::adopt(std::shared_ptr<Connection> c) {
  conn_ = c;
  if (auto st = prepare_accepted(c->socket); !st) spdlog::warn("peer {}: {}", config_.name, st.error().message);
  boost::system::error_code ignored;
  status_.local = c->socket.local_endpoint(ignored);
  status_.remote = c->socket.remote_endpoint(ignored);
  feed(fsm::Event::kTcpConnectionConfirmed);
  if (c == conn_) process(c);  // a rival brings the bytes it has read already
}

void Session::read(const std::shared_ptr<Connection>& c) {
  if (c->reading) return;
  c->reading = true;
  c->socket.async_read_some(asio::buffer(c->read_buffer), [this, w = std::weak_ptr(c)](const boost::system::error_code& ec,
                                                                                       size_t n) {
    auto c = w.lock();
    if (!c) return;
    c->reading = false;
    if (c == rival_) {
      if (ec) {
        drop_rival({});
        return;
      }
      c->in.insert(c->in.end(), c->read_buffer.begin(), c->read_buffer.begin() + static_cast<std::ptrdiff_t>(n));
      read_rival(c);
      return;
    }
    if (c != conn_) return;
    if (ec) {
      status_.last_error = ec == asio::error::eof ? "connection closed by the peer" : "read: " + ec.message();
      feed(fsm::Event::kTcpConnectionFails);
      return;
    }
    c->in.insert(c->in.end(), c->read_buffer.begin(), c->read_buffer.begin() + static_cast<std::ptrdiff_t>(n));
    process(c);
  });
}

void Session::process(const std::shared_ptr<Connection>& c) {
  size_t consumed = 0;
  while (c == conn_) {
    auto frame = wire::next_frame(std::span(c->in).subspan(consumed), c->decode_ctx.max_message_size());
    if (frame.status == wire::Frame::Status::kNeedMore) break;
    if (frame.status == wire::Frame::Status::kError) {
      feed(fsm::Event::kBgpHeaderErr, {}, to_fsm(frame.error));
      return;
    }
    // Copy: the handler may disconnect, which frees the connection's buffers.
    std::vector<uint8_t> message(frame.message.begin(), frame.message.end());
    consumed += message.size();
    on_message(message);
  }
  if (c != conn_) return;
  c->in.erase(c->in.begin(), c->in.begin() + static_cast<std::ptrdiff_t>(consumed));
  read(c);
}

void Session::on_message(std::span<const uint8_t> message) {
  ++status_.messages_in;
  auto decoded = wire::decode_message(message, conn_->decode_ctx);
  if (!decoded) {
    const auto& e = decoded.error();
    spdlog::warn("peer {}: malformed message: {}", config_.name, e.reason);
    fsm::Event ev = e.code == static_cast<uint8_t>(wire::ErrorCode::kMessageHeader) ? fsm::Event::kBgpHeaderErr
                    : e.code == static_cast<uint8_t>(wire::ErrorCode::kOpenMessage) ? fsm::Event::kBgpOpenMsgErr
                                                                                      : fsm::Event::kUpdateMsgErr;
    feed(ev, {}, to_fsm(e));
    return;
  }
  auto& d = decoded.value();
  if (auto* open = std::get_if<wire::Open>(&d.message)) {
    auto result = fsm::negotiate(config_.offer, config_.expect, *open);
    if (auto* refusal = std::get_if<wire::DecodeError>(&result)) {
      spdlog::warn("peer {}: OPEN refused: {}", config_.name, refusal->reason);
      feed(fsm::Event::kBgpOpenMsgErr, {}, to_fsm(*refusal));
      return;
    }
    auto& n = std::get<fsm::Negotiated>(result);
    // The peer's identifier is known now: a connection it opened meanwhile collides, and
    // if this one loses, it ends here (before our KEEPALIVE confirms it).
    if (rival_ && !resolve_collision(n.peer_id)) return;
    conn_->decode_ctx = n.decode_context(!config_.expect.internal);
    encode_ctx_ = n.encode_context(!config_.expect.internal);
    status_.negotiated = n;
    feed(fsm::Event::kBgpOpen, fsm::OpenReceived{open->hold_time});
  } else if (std::holds_alternative<wire::Keepalive>(d.message)) {
    feed(fsm::Event::kKeepAliveMsg);
  } else if (auto* update = std::get_if<wire::Update>(&d.message)) {
    ++status_.updates_in;
    status_.prefixes_in += update->nlri.size() +
                           (update->attributes.mp_reach ? update->attributes.mp_reach->nlri.size() : 0);
    for (const auto& p : d.problems) spdlog::warn("peer {}: UPDATE {}", config_.name, p);
    if (callbacks_.on_update && fsm_.state() == fsm::State::kEstablished) callbacks_.on_update(*this, d);
    feed(fsm::Event::kUpdateMsg);
  } else if (auto* n = std::get_if<wire::Notification>(&d.message)) {
    status_.last_error = "received " + wire::notification_to_string(n->code, n->subcode, n->data);
    status_.notified = true;
    spdlog::warn("peer {}: {}", config_.name, status_.last_error);
    bool version = n->code == static_cast<uint8_t>(wire::ErrorCode::kOpenMessage) &&
                   n->subcode == wire::open_error::kUnsupportedVersion;
    feed(version ? fsm::Event::kNotifMsgVerErr : fsm::Event::kNotifMsg);
  } else if (auto* refresh = std::get_if<wire::RouteRefresh>(&d.message)) {
    if (callbacks_.on_route_refresh && fsm_.state() == fsm::State::kEstablished) {
      callbacks_.on_route_refresh(*this, *refresh);
    }
  }
}

bool Session::request_refresh() {
  if (!established() || !status_.negotiated || !status_.negotiated->route_refresh) return false;
  for (const auto& f : status_.negotiated->families) {
    send(wire::encode_message(wire::RouteRefresh{f, wire::RouteRefresh::kRequest}, encode_ctx_));
  }
  return true;
}

bool Session::send_updates(std::vector<std::vector<uint8_t>> buffers, uint64_t messages, uint64_t prefixes) {
  if (!established() || !conn_) return false;
  status_.updates_out += messages;
  status_.prefixes_out += prefixes;
  // The counters count BGP messages, not the buffers that carry them.
  for (size_t i = 0; i < buffers.size(); ++i) send(std::move(buffers[i]), i == 0 ? messages : 0);
  return true;
}

void Session::hold_rival(tcp::socket socket) {
  auto c = std::make_shared<Connection>(io_, true);
  c->socket = std::move(socket);
  rival_ = c;
  spdlog::info("peer {}: connection collision: the peer opened a second connection; waiting for its OPEN",
               config_.name);
  // §8.2.2 gives a connection in OpenSent a large hold time (4 minutes): the same bound here.
  rival_timer_.expires_after(std::chrono::minutes(4));
  rival_timer_.async_wait([this, alive = std::weak_ptr(alive_)](const boost::system::error_code& ec) {
    if (!ec && !alive.expired()) drop_rival(fsm::Notification{fsm::code::kHoldTimerExpired, 0, {}});
  });
  read(c);
}

void Session::read_rival(const std::shared_ptr<Connection>& c) {
  auto frame = wire::next_frame(std::span(c->in), wire::Context{}.max_message_size());
  if (frame.status == wire::Frame::Status::kNeedMore) {
    read(c);
    return;
  }
  std::optional<wire::Open> open;
  if (frame.status == wire::Frame::Status::kMessage) {
    if (auto d = wire::decode_message(frame.message, wire::Context{}); d) {
      if (auto* o = std::get_if<wire::Open>(&d.value().message)) open = *o;
    }
  }
  if (!open) {
    // Not an OPEN first: the session's own connection carries on; this one goes.
    drop_rival(fsm::Notification{fsm::code::kFsmError, fsm::fsm_error::kUnexpectedInOpenSent, {}});
    return;
  }
  auto n = fsm::negotiate(config_.offer, config_.expect, *open);
  if (auto* refusal = std::get_if<wire::DecodeError>(&n)) {
    spdlog::warn("peer {}: OPEN on the colliding connection refused: {}", config_.name, refusal->reason);
    drop_rival(to_fsm(*refusal));
    return;
  }
  resolve_collision(std::get<fsm::Negotiated>(n).peer_id);
}

bool Session::resolve_collision(uint32_t remote_id) {
  ++status_.collisions;
  fsm::State s = fsm_.state();
  bool ours_survives = s == fsm::State::kEstablished || !conn_ || conn_->incoming ||
                       fsm::keep_locally_initiated(config_.offer.bgp_id, remote_id);
  spdlog::info("peer {}: connection collision resolved: keeping the connection {} opened", config_.name,
               ours_survives ? "we" : "the peer");
  if (ours_survives) {
    drop_rival(fsm::Notification{fsm::code::kCease, fsm::cease::kConnectionCollisionResolution, {}});
  } else {
    // Cease/Connection Collision Resolution on ours; feed() then adopts the rival.
    feed(fsm::Event::kOpenCollisionDump);
  }
  return ours_survives;
}

void Session::drop_rival(const std::optional<fsm::Notification>& why) {
  rival_timer_.cancel();
  auto c = std::move(rival_);
  if (!c) return;
  if (why) send_now(*c, wire::encode_message(wire::Notification{why->code, why->subcode, why->data}, {}));
  close_connection(io_, std::move(c));
}

void Session::send(std::vector<uint8_t> bytes, uint64_t messages) {
  if (!conn_) return;
  status_.messages_out += messages;
  conn_->out_bytes += bytes.size();
  status_.write_queue_bytes = conn_->out_bytes;
  conn_->out.push_back(std::move(bytes));
  if (conn_->out_bytes >= kHighWater) over_high_water_ = true;
  if (conn_->out_bytes > config_.max_write_queue) {
    // The peer has stopped reading. Dropping it here keeps one stuck peer from holding
    // ever more of the node's memory; its hold timer would not notice while it sends.
    status_.last_error = "the peer does not read: " + std::to_string(conn_->out_bytes) + " bytes queued";
    feed(fsm::Event::kTcpConnectionFails);
    return;
  }
  if (!conn_->writing) write_next(conn_);
}

void Session::write_next(const std::shared_ptr<Connection>& c) {
  c->writing = true;
  asio::async_write(c->socket, asio::buffer(c->out.front()),
                    [this, w = std::weak_ptr(c)](const boost::system::error_code& ec, size_t n) {
                      auto c = w.lock();
                      if (!c || c != conn_) return;
                      if (ec) {
                        status_.last_error = "write: " + ec.message();
                        feed(fsm::Event::kTcpConnectionFails);
                        return;
                      }
                      c->out_bytes -= n;
                      status_.write_queue_bytes = c->out_bytes;
                      if (over_high_water_ && c->out_bytes < kLowWater) {
                        over_high_water_ = false;
                        if (callbacks_.on_drained) callbacks_.on_drained(*this);
                        if (c != conn_) return;
                      }
                      c->out.pop_front();
                      if (c->out.empty()) {
                        c->writing = false;
                      } else {
                        write_next(c);
                      }
                    });
}

void Session::send_now(Connection& c, const std::vector<uint8_t>& bytes) {
  // A NOTIFICATION goes out just before the connection closes, so it cannot wait in the
  // queue: it is written at once (it fits the socket buffer). A message still "in flight"
  // is already in the kernel: Asio writes speculatively when async_write is called, and
  // tern's messages before a NOTIFICATION (OPEN, KEEPALIVE) are far smaller than the
  // socket buffer, so the NOTIFICATION lands after it, not inside it.
  if (!c.socket.is_open()) return;
  ++status_.messages_out;
  boost::system::error_code ec;
  c.socket.non_blocking(true, ec);
  c.socket.write_some(asio::buffer(bytes), ec);
}

Speaker::Speaker(asio::io_context& io, std::vector<PeerConfig> peers, Session::Callbacks callbacks,
                 std::vector<asio::ip::tcp::endpoint> listen, std::vector<DynamicRange> ranges, size_t dynamic_limit)
    : io_(io),
      callbacks_(std::move(callbacks)),
      listen_(std::move(listen)),
      ranges_(std::move(ranges)),
      dynamic_limit_(dynamic_limit) {
  for (auto& p : peers) sessions_.push_back(std::make_unique<Session>(io, std::move(p), session_callbacks()));
}

Session::Callbacks Speaker::session_callbacks() {
  Session::Callbacks c = callbacks_;
  c.on_state = [this](Session& s, fsm::State from, fsm::State to) { on_state(s, from, to); };
  return c;
}

Status Speaker::set_listener_keys(const std::vector<PeerConfig>& peers, const std::vector<DynamicRange>& ranges,
                                  bool remove) {
  for (const auto& acceptor : acceptors_) {
    bool v4 = acceptor->local_endpoint().address().is_v4();
    auto key = [&](const Prefix& who, const std::string& password, const std::string& name) -> Status {
      if (password.empty() || who.address().is_v4() != v4) return {};
      if (auto st = set_tcp_md5(acceptor->native_handle(), who, remove ? "" : password); !st) {
        return st.error().wrap(name);
      }
      return {};
    };
    for (const auto& p : peers) {
      if (auto st = key(Prefix(p.address, p.address.max_prefix_length()), p.password, "peer " + p.name); !st) {
        return st;
      }
    }
    for (const auto& r : ranges) {
      if (auto st = key(r.range, r.peer.password, "listen range " + r.range.to_string()); !st) return st;
    }
  }
  return {};
}

Status Speaker::start() {
  for (const auto& endpoint : listen_) {
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.protocol() == tcp::v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error(Errc::kIo, "listening on [" + endpoint.address().to_string() + "]:" +
                                       std::to_string(endpoint.port()) + ": " + ec.message(), ec.value());
    }
    acceptors_.push_back(std::move(acceptor));
  }
  // Keys before the first accept: a password peer's SYN without one is dropped.
  std::vector<PeerConfig> peers;
  for (const auto& s : sessions_) peers.push_back(s->config());
  if (auto st = set_listener_keys(peers, ranges_, false); !st) return st;
  for (auto& a : acceptors_) accept(*a);
  for (auto& s : sessions_) s->start();
  return {};
}

Status Speaker::reconfigure(std::vector<PeerConfig> peers, std::vector<DynamicRange> ranges, size_t dynamic_limit) {
  std::vector<PeerConfig> gone;
  std::vector<bool> kept(peers.size(), false);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = **it;
    if (s.config().dynamic) {
      bool covered = std::any_of(ranges.begin(), ranges.end(),
                                 [&](const DynamicRange& r) { return r.range.contains(s.config().address); });
      if (covered) {
        ++it;
        continue;
      }
      s.stop("its listen range was removed from the configuration", fsm::cease::kPeerDeconfigured);
    } else {
      auto match = std::find_if(peers.begin(), peers.end(),
                                [&](const PeerConfig& p) { return p.address == s.config().address; });
      if (match != peers.end() && *match == s.config()) {
        kept[static_cast<size_t>(match - peers.begin())] = true;
        ++it;
        continue;
      }
      gone.push_back(s.config());
      if (match == peers.end()) {
        spdlog::info("peer {} removed from the configuration", s.config().name);
        s.stop("removed from the configuration", fsm::cease::kPeerDeconfigured);
      } else {
        spdlog::info("peer {}: settings changed; the session restarts", s.config().name);
        // The new session starts once the peer has closed the old connection: a new
        // connection while the old one is Established is, to a graceful-restart helper
        // (FRR), the peer restarting, and it drops the old one, NOTIFICATION unread.
        restarting_.insert(s.config().address);
        s.stop("configuration changed", fsm::cease::kOtherConfigurationChange,
               [this, address = s.config().address, alive = std::weak_ptr<int>(alive_)] {
                 if (alive.expired()) return;
                 restarting_.erase(address);
                 if (Session* fresh = session_for(address)) {
                   spdlog::info("peer {}: the old connection is closed; the session starts again", fresh->config().name);
                   fresh->start();
                 }
               });
      }
    }
    it = sessions_.erase(it);  // stop() is synchronous; late completions see it is gone
  }
  std::vector<DynamicRange> old_ranges = std::move(ranges_);
  ranges_ = std::move(ranges);
  dynamic_limit_ = dynamic_limit;
  // Keys of peers and ranges that went are removed, then every current one set (a
  // changed password replaces the old key).
  if (auto st = set_listener_keys(gone, old_ranges, true); !st) spdlog::warn("{}", st.error().message);
  std::vector<PeerConfig> added;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!kept[i]) added.push_back(peers[i]);
  }
  std::vector<PeerConfig> current;
  for (const auto& s : sessions_) {
    if (!s->config().dynamic) current.push_back(s->config());
  }
  current.insert(current.end(), added.begin(), added.end());
  if (auto st = set_listener_keys(current, ranges_, false); !st) return st;
  for (auto& p : added) {
    bool replacing = restarting_.count(p.address) > 0;
    if (!replacing) spdlog::info("peer {} added", p.name);
    auto& s = sessions_.emplace_back(std::make_unique<Session>(io_, std::move(p), session_callbacks()));
    if (!replacing) s->start();  // else once the old connection is closed (above)
  }
  return {};
}

void Speaker::stop(const std::string& message) {
  for (auto& a : acceptors_) {
    boost::system::error_code ignored;
    a->close(ignored);
  }
  for (auto& s : sessions_) s->stop(message);
}

void Speaker::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ep_ec;
      auto remote = socket.remote_endpoint(ep_ec);
      Session* match = nullptr;
      if (!ep_ec) {
        IpAddress from = from_asio(remote.address());
        match = session_for(from);
        if (!match) match = dynamic_session(from);
      }
      if (match) {
        match->accept(std::move(socket));
      } else {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    }
    accept(acceptor);
  });
}

Session* Speaker::session_for(const IpAddress& address) {
  for (auto& s : sessions_) {
    if (s->config().address == address) return s.get();
  }
  return nullptr;
}

Session* Speaker::dynamic_session(const IpAddress& from) {
  const DynamicRange* range = nullptr;
  for (const auto& r : ranges_) {
    if (r.range.contains(from) && (!range || r.range.length() > range->range.length())) range = &r;
  }
  if (!range) {
    spdlog::info("connection from {} closed: not a configured peer nor in a listen range", from.to_string());
    return nullptr;
  }
  size_t dynamic = 0;
  for (const auto& s : sessions_) dynamic += s->config().dynamic;
  if (dynamic >= dynamic_limit_) {
    spdlog::warn("connection from {} closed: the limit of {} dynamic neighbours is reached", from.to_string(),
                 dynamic_limit_);
    return nullptr;
  }
  PeerConfig p = range->peer;
  p.address = from;
  p.name = from.to_string();
  p.dynamic = true;
  p.timers.passive = true;        // it came to us; it will come back by itself
  p.timers.auto_restart = false;  // when it ends, the session goes (on_state)
  p.timers.seed = from.is_v4() ? from.v4_host_order() : from.bytes()[15];
  spdlog::info("dynamic neighbour {} accepted (listen range {}, template {})", from.to_string(),
               range->range.to_string(), range->template_name);
  auto& s = sessions_.emplace_back(std::make_unique<Session>(io_, std::move(p), session_callbacks()));
  s->start();
  return s.get();
}

void Speaker::on_state(Session& s, fsm::State from, fsm::State to) {
  if (callbacks_.on_state) callbacks_.on_state(s, from, to);
  if (s.config().dynamic && to == fsm::State::kIdle) remove_later(&s);
}

// Removed later, not from inside the session's own call stack.
void Speaker::remove_later(Session* session) {
  asio::post(io_, [this, session] {
    auto it = std::find_if(sessions_.begin(), sessions_.end(), [&](const auto& p) { return p.get() == session; });
    if (it != sessions_.end() && (*it)->config().dynamic && (*it)->status().state == fsm::State::kIdle) {
      spdlog::info("dynamic neighbour {} removed", (*it)->config().name);
      sessions_.erase(it);
    }
  });
}

}  // namespace tern::bgp::session
