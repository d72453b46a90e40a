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

IpAddress from_asio(const asio::ip::address& a) {
  if (a.is_v4()) return IpAddress::v4(a.to_v4().to_uint());
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return IpAddress::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
  auto b = v6.to_bytes();
  return IpAddress::v6(std::span<const uint8_t, 16>(b.data(), 16));
}

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

Session::Session(asio::io_context& io, PeerConfig config, Callbacks callbacks)
    : io_(io),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      fsm_(config_.timers),
      timers_{asio::steady_timer(io), asio::steady_timer(io), asio::steady_timer(io), asio::steady_timer(io),
              asio::steady_timer(io)} {}

Session::~Session() {
  for (auto& t : timers_) t.cancel();
  disconnect();
}

void Session::start() { feed(fsm::Event::kManualStart); }

void Session::stop(const std::string& message) {
  for (const auto& a : fsm_.shutdown(message)) perform(a);
  set_state_from_fsm();
}

void Session::feed(fsm::Event e, const fsm::OpenReceived& open, const std::optional<fsm::Notification>& error) {
  for (const auto& a : fsm_.handle(e, open, error)) perform(a);
  set_state_from_fsm();
}

void Session::set_state_from_fsm() {
  fsm::State now = fsm_.state();
  if (now == status_.state) return;
  fsm::State before = status_.state;
  status_.state = now;
  spdlog::info("peer {} ({}): {} -> {}{}", config_.name, config_.address.to_string(), fsm::to_string(before),
               fsm::to_string(now), now == fsm::State::kIdle && !status_.last_error.empty() ? " (" + status_.last_error + ")" : "");
  if (callbacks_.on_state) callbacks_.on_state(config_.name, before, now);
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
          spdlog::warn("peer {}: {}", config_.name, status_.last_error);
          send_now(wire::encode_message(wire::Notification{n.code, n.subcode, n.data}, {}));
        } else if constexpr (std::is_same_v<T, fsm::action::StartTimer>) {
          fsm::Timer t = act.timer;
          auto& timer = this->timer(t);
          timer.expires_after(act.after);
          timer.async_wait([this, t](const boost::system::error_code& ec) {
            if (!ec) feed(timer_event(t));
          });
        } else if constexpr (std::is_same_v<T, fsm::action::StopTimer>) {
          timer(act.timer).cancel();
        } else if constexpr (std::is_same_v<T, fsm::action::SessionUp>) {
          status_.established_at = std::chrono::steady_clock::now();
          ++status_.established_count;
          status_.last_error.clear();
        } else if constexpr (std::is_same_v<T, fsm::action::SessionDown>) {
          status_.negotiated.reset();
        }
      },
      a);
}

Status Session::prepare_socket(tcp::socket& s) {
  int fd = s.native_handle();
  Family family = config_.address.family();
  if (!config_.password.empty()) {
    if (auto st = set_tcp_md5(fd, Prefix(config_.address, config_.address.max_prefix_length()), config_.password); !st) {
      return st;
    }
  }
  if (auto st = config_.gtsm ? set_gtsm(fd, family, config_.ttl) : set_ttl(fd, family, config_.ttl); !st) return st;
  if (auto st = set_network_control_dscp(fd, family); !st) return st;
  if (config_.source) return bind_source(fd, *config_.source);
  return {};
}

void Session::connect() {
  disconnect();
  uint64_t gen = generation_;
  socket_.emplace(io_);
  boost::system::error_code ec;
  socket_->open(config_.address.is_v4() ? tcp::v4() : tcp::v6(), ec);
  if (auto st = ec ? Status(io_error("socket", ec.value())) : prepare_socket(*socket_); !st) {
    status_.last_error = st.error().message;
    spdlog::error("peer {}: {}", config_.name, st.error().message);
    asio::post(io_, [this, gen] {
      if (gen == generation_) feed(fsm::Event::kTcpConnectionFails);
    });
    return;
  }
  socket_->async_connect(tcp::endpoint(to_asio(config_.address), config_.port),
                         [this, gen](const boost::system::error_code& ec) {
                           if (gen != generation_) return;
                           if (ec) {
                             status_.last_error = "connect: " + ec.message();
                             feed(fsm::Event::kTcpConnectionFails);
                             return;
                           }
                           feed(fsm::Event::kTcpCrAcked);
                           if (gen == generation_) read();
                         });
}

// Closes a connection gracefully: FIN after what was written, then the peer's last bytes
// are read and dropped until it closes too (or two seconds pass). Closing at once with
// unread bytes would make the kernel send a RST, and a RST makes the peer throw away the
// NOTIFICATION we just sent.
void linger_and_close(asio::io_context& io, tcp::socket socket) {
  struct Linger {
    tcp::socket socket;
    asio::steady_timer timer;
    std::array<uint8_t, 4096> buffer;
  };
  auto l = std::make_shared<Linger>(Linger{std::move(socket), asio::steady_timer(io), {}});
  boost::system::error_code ignored;
  l->socket.shutdown(tcp::socket::shutdown_send, ignored);
  l->timer.expires_after(std::chrono::seconds(2));
  l->timer.async_wait([l](const boost::system::error_code&) {
    boost::system::error_code ignored;
    l->socket.close(ignored);
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

void Session::disconnect() {
  ++generation_;
  if (socket_) {
    linger_and_close(io_, std::move(*socket_));
    socket_.reset();
  }
  in_.clear();
  out_.clear();
  writing_ = false;
  decode_ctx_ = {};
}

void Session::accept(tcp::socket socket) {
  fsm::State s = fsm_.state();
  if (s != fsm::State::kConnect && s != fsm::State::kActive) {
    // Idle: not started, or backing off. OpenSent and later: we already have a
    // connection; RFC 4271 §6.8 collision handling beyond this is left to the peer,
    // which closes one of the two as well.
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  disconnect();  // drop our own attempt in flight
  socket_.emplace(std::move(socket));
  int fd = socket_->native_handle();
  Family family = config_.address.family();
  auto st = config_.gtsm ? set_gtsm(fd, family, config_.ttl) : set_ttl(fd, family, config_.ttl);
  if (st) st = set_network_control_dscp(fd, family);
  if (!st) spdlog::warn("peer {}: {}", config_.name, st.error().message);
  uint64_t gen = generation_;
  feed(fsm::Event::kTcpConnectionConfirmed);
  if (gen == generation_) read();
}

void Session::read() {
  uint64_t gen = generation_;
  socket_->async_read_some(asio::buffer(read_buffer_), [this, gen](const boost::system::error_code& ec, size_t n) {
    if (gen != generation_) return;
    if (ec) {
      status_.last_error = ec == asio::error::eof ? "connection closed by the peer" : "read: " + ec.message();
      feed(fsm::Event::kTcpConnectionFails);
      return;
    }
    on_bytes(n);
  });
}

void Session::on_bytes(size_t n) {
  uint64_t gen = generation_;
  in_.insert(in_.end(), read_buffer_.begin(), read_buffer_.begin() + static_cast<std::ptrdiff_t>(n));
  size_t consumed = 0;
  while (gen == generation_) {
    auto frame = wire::next_frame(std::span(in_).subspan(consumed), decode_ctx_.max_message_size());
    if (frame.status == wire::Frame::Status::kNeedMore) break;
    if (frame.status == wire::Frame::Status::kError) {
      feed(fsm::Event::kBgpHeaderErr, {}, to_fsm(frame.error));
      return;
    }
    // Copy: the handler may disconnect, which clears in_.
    std::vector<uint8_t> message(frame.message.begin(), frame.message.end());
    consumed += message.size();
    on_message(message);
  }
  if (gen != generation_) return;
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(consumed));
  read();
}

void Session::on_message(std::span<const uint8_t> message) {
  ++status_.messages_in;
  auto decoded = wire::decode_message(message, decode_ctx_);
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
    decode_ctx_ = n.decode_context(!config_.expect.internal);
    status_.negotiated = n;
    feed(fsm::Event::kBgpOpen, fsm::OpenReceived{open->hold_time});
  } else if (std::holds_alternative<wire::Keepalive>(d.message)) {
    feed(fsm::Event::kKeepAliveMsg);
  } else if (auto* update = std::get_if<wire::Update>(&d.message)) {
    ++status_.updates_in;
    status_.prefixes_in += update->nlri.size() +
                           (update->attributes.mp_reach ? update->attributes.mp_reach->nlri.size() : 0);
    for (const auto& p : d.problems) spdlog::warn("peer {}: UPDATE {}", config_.name, p);
    if (callbacks_.on_update && fsm_.state() == fsm::State::kEstablished) callbacks_.on_update(config_.name, d);
    feed(fsm::Event::kUpdateMsg);
  } else if (auto* n = std::get_if<wire::Notification>(&d.message)) {
    status_.last_error = "received " + wire::notification_to_string(n->code, n->subcode, n->data);
    spdlog::warn("peer {}: {}", config_.name, status_.last_error);
    bool version = n->code == static_cast<uint8_t>(wire::ErrorCode::kOpenMessage) &&
                   n->subcode == wire::open_error::kUnsupportedVersion;
    feed(version ? fsm::Event::kNotifMsgVerErr : fsm::Event::kNotifMsg);
  }
  // ROUTE-REFRESH: answered once the RIB exists (the RIB issue); counted above.
}

void Session::send(std::vector<uint8_t> bytes) {
  if (!socket_) return;
  ++status_.messages_out;
  out_.push_back(std::move(bytes));
  if (!writing_) write_next();
}

void Session::write_next() {
  writing_ = true;
  uint64_t gen = generation_;
  asio::async_write(*socket_, asio::buffer(out_.front()), [this, gen](const boost::system::error_code& ec, size_t) {
    if (gen != generation_) return;
    if (ec) {
      status_.last_error = "write: " + ec.message();
      feed(fsm::Event::kTcpConnectionFails);
      return;
    }
    out_.pop_front();
    if (out_.empty()) {
      writing_ = false;
    } else {
      write_next();
    }
  });
}

void Session::send_now(const std::vector<uint8_t>& bytes) {
  // A NOTIFICATION goes out just before the connection closes, so it cannot wait in the
  // queue: it is written at once (it fits the socket buffer). A message still "in flight"
  // is already in the kernel: Asio writes speculatively when async_write is called, and
  // tern's messages before a NOTIFICATION (OPEN, KEEPALIVE) are far smaller than the
  // socket buffer, so the NOTIFICATION lands after it, not inside it.
  if (!socket_) return;
  ++status_.messages_out;
  boost::system::error_code ec;
  socket_->non_blocking(true, ec);
  socket_->write_some(asio::buffer(bytes), ec);
}

Speaker::Speaker(asio::io_context& io, std::vector<PeerConfig> peers, Session::Callbacks callbacks,
                 std::vector<asio::ip::tcp::endpoint> listen)
    : io_(io), listen_(std::move(listen)) {
  for (auto& p : peers) sessions_.push_back(std::make_unique<Session>(io, std::move(p), callbacks));
}

Status Speaker::start() {
  for (const auto& endpoint : listen_) {
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.protocol() == tcp::v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (ec) return io_error("listening socket", ec.value());
    for (const auto& s : sessions_) {
      const auto& c = s->config();
      bool same_family = c.address.is_v4() == endpoint.address().is_v4();
      if (!c.password.empty() && same_family) {
        if (auto st = set_tcp_md5(acceptor->native_handle(), Prefix(c.address, c.address.max_prefix_length()),
                                  c.password);
            !st) {
          return st.error().wrap("peer " + c.name);
        }
      }
    }
    acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error(Errc::kIo, "listening on [" + endpoint.address().to_string() + "]:" +
                                       std::to_string(endpoint.port()) + ": " + ec.message(), ec.value());
    }
    accept(*acceptor);
    acceptors_.push_back(std::move(acceptor));
  }
  for (auto& s : sessions_) s->start();
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
        for (auto& s : sessions_) {
          if (s->config().address == from) match = s.get();
        }
        if (!match) spdlog::info("connection from unknown peer {} closed", from.to_string());
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

}  // namespace tern::bgp::session
