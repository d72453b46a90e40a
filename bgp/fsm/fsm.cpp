#include "bgp/fsm/fsm.hpp"

#include <algorithm>

namespace tern::bgp::fsm {

namespace {

// RFC 4271 §8.2.2: after the TCP connection comes up and OPEN is sent, "sets the HoldTimer
// to a large value"; 4 minutes is the value the RFC suggests.
constexpr std::chrono::seconds kLargeHoldTime{240};

Notification cease_notification(uint8_t subcode, std::vector<uint8_t> data = {}) {
  return Notification{code::kCease, subcode, std::move(data)};
}

}  // namespace

std::vector<uint8_t> shutdown_communication(std::string_view text) {
  // RFC 9003 §2: length octet, then at most 255 octets of UTF-8. Cut before a
  // continuation byte (10xxxxxx) so the text stays valid UTF-8.
  size_t n = std::min<size_t>(text.size(), 255);
  while (n > 0 && n < text.size() && (static_cast<uint8_t>(text[n]) & 0xc0) == 0x80) --n;
  std::vector<uint8_t> data;
  data.reserve(n + 1);
  data.push_back(static_cast<uint8_t>(n));
  data.insert(data.end(), text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n));
  return data;
}

Fsm::Fsm(Config config) : config_(config), rng_(config.seed) {}

std::vector<Action> Fsm::handle(Event e, const OpenReceived& open, const std::optional<Notification>& error) {
  Actions out;
  switch (e) {  // a timer that fired is no longer running
    case Event::kConnectRetryTimerExpires: running_[static_cast<size_t>(Timer::kConnectRetry)] = false; break;
    case Event::kHoldTimerExpires: running_[static_cast<size_t>(Timer::kHold)] = false; break;
    case Event::kKeepaliveTimerExpires: running_[static_cast<size_t>(Timer::kKeepalive)] = false; break;
    case Event::kDelayOpenTimerExpires: running_[static_cast<size_t>(Timer::kDelayOpen)] = false; break;
    case Event::kIdleHoldTimerExpires: running_[static_cast<size_t>(Timer::kIdleHold)] = false; break;
    default: break;
  }
  switch (state_) {
    case State::kIdle: on_idle(e, out); break;
    case State::kConnect: on_connect(e, open, error, out); break;
    case State::kActive: on_active(e, open, error, out); break;
    case State::kOpenSent: on_open_sent(e, open, error, out); break;
    case State::kOpenConfirm: on_open_confirm(e, open, error, out); break;
    case State::kEstablished: on_established(e, error, out); break;
  }
  return out;
}

std::vector<Action> Fsm::shutdown(std::string_view message, uint8_t cease_subcode) {
  if (state_ != State::kOpenSent && state_ != State::kOpenConfirm && state_ != State::kEstablished) {
    return handle(Event::kManualStop);
  }
  Actions out;
  // RFC 8203: Administrative Shutdown and Reset carry the operator's message.
  bool with_message = cease_subcode == cease::kAdministrativeShutdown || cease_subcode == cease::kAdministrativeReset;
  send_notification(cease_notification(cease_subcode, with_message ? shutdown_communication(message)
                                                                   : std::vector<uint8_t>{}),
                    out);
  if (state_ == State::kEstablished) out.emplace_back(action::SessionDown{});
  to_idle(Stop::kManual, out);
  return out;
}

// --- Idle (RFC 4271 §8.2.2, "Idle state") ---------------------------------------------

void Fsm::on_idle(Event e, Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
      start(config_.passive, out);
      break;
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
      start(true, out);
      break;
    case Event::kIdleHoldTimerExpires:
      // The back-off after a failure is over: the automatic restart of §8.1.1.
      if (started_) start(passive_, out);
      break;
    case Event::kManualStop:
      // Not in the RFC's Idle table, whose Idle never waits: here it may be waiting out an
      // idle hold, and a stop must cancel that restart.
      stop_timer(Timer::kIdleHold, out);
      started_ = false;
      connect_retry_counter_ = 0;
      consecutive_failures_ = 0;
      break;
    default:
      break;  // "any other event ... is ignored in the Idle state"
  }
}

void Fsm::start(bool passive, Actions& out) {
  started_ = true;
  passive_ = passive;
  connect_retry_counter_ = 0;
  start_timer(Timer::kConnectRetry, jittered(config_.connect_retry), out);
  if (passive) {
    state_ = State::kActive;  // listen only
  } else {
    out.emplace_back(action::Connect{});
    state_ = State::kConnect;
  }
}

// --- Connect ---------------------------------------------------------------------------

void Fsm::on_connect(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
    case Event::kTcpConnectionValid:
    case Event::kTcpCrInvalid:
      break;  // ignored
    case Event::kManualStop:
      to_idle(Stop::kManual, out);
      break;
    case Event::kConnectRetryTimerExpires:
      out.emplace_back(action::Disconnect{});
      stop_timer(Timer::kDelayOpen, out);
      start_timer(Timer::kConnectRetry, jittered(config_.connect_retry), out);
      out.emplace_back(action::Connect{});
      break;
    case Event::kDelayOpenTimerExpires:
      out.emplace_back(action::SendOpen{});
      start_timer(Timer::kHold, kLargeHoldTime, out);
      state_ = State::kOpenSent;
      break;
    case Event::kTcpCrAcked:
    case Event::kTcpConnectionConfirmed:
      open_sent_after_connection(out);
      break;
    case Event::kTcpConnectionFails:
      if (delay_open_running()) {
        start_timer(Timer::kConnectRetry, jittered(config_.connect_retry), out);
        stop_timer(Timer::kDelayOpen, out);
        state_ = State::kActive;
      } else {
        to_idle(Stop::kFailure, out);
      }
      break;
    case Event::kBgpOpen:
      if (delay_open_running()) {
        open_confirm_from_delay_open(open, out);
      } else {
        to_idle(Stop::kFailure, out);
      }
      break;
    case Event::kBgpHeaderErr:
    case Event::kBgpOpenMsgErr:
      if (error) send_notification(*error, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kNotifMsgVerErr:
      to_idle(delay_open_running() ? Stop::kQuiet : Stop::kFailure, out);
      break;
    default:
      to_idle(Stop::kFailure, out);
      break;
  }
}

// After the TCP connection is up in Connect or Active: OPEN now, or after DelayOpen.
void Fsm::open_sent_after_connection(Actions& out) {
  stop_timer(Timer::kConnectRetry, out);
  if (config_.delay_open.count() > 0) {
    start_timer(Timer::kDelayOpen, config_.delay_open, out);
    return;
  }
  out.emplace_back(action::SendOpen{});
  start_timer(Timer::kHold, kLargeHoldTime, out);
  state_ = State::kOpenSent;
}

// An OPEN arrived while DelayOpen held ours back: answer with OPEN and KEEPALIVE at once.
void Fsm::open_confirm_from_delay_open(const OpenReceived& open, Actions& out) {
  stop_timer(Timer::kConnectRetry, out);
  stop_timer(Timer::kDelayOpen, out);
  negotiate_hold(open.peer_hold_time);
  out.emplace_back(action::SendOpen{});
  out.emplace_back(action::SendKeepalive{});
  start_keepalive_and_hold(out);
  state_ = State::kOpenConfirm;
}

// --- Active ----------------------------------------------------------------------------

void Fsm::on_active(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
    case Event::kTcpConnectionValid:
    case Event::kTcpCrInvalid:
      break;  // ignored
    case Event::kManualStop:
      to_idle(Stop::kManual, out);
      break;
    case Event::kConnectRetryTimerExpires:
      start_timer(Timer::kConnectRetry, jittered(config_.connect_retry), out);
      if (!passive_) {  // a passive peer keeps listening and never connects
        out.emplace_back(action::Connect{});
        state_ = State::kConnect;
      }
      break;
    case Event::kDelayOpenTimerExpires:
      stop_timer(Timer::kConnectRetry, out);
      out.emplace_back(action::SendOpen{});
      start_timer(Timer::kHold, kLargeHoldTime, out);
      state_ = State::kOpenSent;
      break;
    case Event::kTcpCrAcked:
    case Event::kTcpConnectionConfirmed:
      open_sent_after_connection(out);
      break;
    case Event::kTcpConnectionFails:
      to_idle(Stop::kFailure, out);
      break;
    case Event::kBgpOpen:
      if (delay_open_running()) {
        open_confirm_from_delay_open(open, out);
      } else {
        to_idle(Stop::kFailure, out);
      }
      break;
    case Event::kBgpHeaderErr:
    case Event::kBgpOpenMsgErr:
      if (error) send_notification(*error, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kNotifMsgVerErr:
      to_idle(delay_open_running() ? Stop::kQuiet : Stop::kFailure, out);
      break;
    default:
      to_idle(Stop::kFailure, out);
      break;
  }
}

// --- OpenSent --------------------------------------------------------------------------

void Fsm::on_open_sent(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
    case Event::kTcpConnectionValid:
    case Event::kTcpCrInvalid:
    case Event::kTcpCrAcked:
    case Event::kTcpConnectionConfirmed:
      break;  // a second connection is the adapter's collision to resolve
    case Event::kManualStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      to_idle(Stop::kManual, out);
      break;
    case Event::kAutomaticStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      to_idle(Stop::kAutomatic, out);
      break;
    case Event::kHoldTimerExpires:
      send_notification(Notification{code::kHoldTimerExpired, 0, {}}, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kTcpConnectionFails:
      // The peer may still connect to us: keep listening in Active.
      out.emplace_back(action::Disconnect{});
      stop_timer(Timer::kHold, out);
      start_timer(Timer::kConnectRetry, jittered(config_.connect_retry), out);
      state_ = State::kActive;
      break;
    case Event::kBgpOpen:
      stop_timer(Timer::kDelayOpen, out);
      stop_timer(Timer::kConnectRetry, out);
      negotiate_hold(open.peer_hold_time);
      out.emplace_back(action::SendKeepalive{});
      start_keepalive_and_hold(out);
      state_ = State::kOpenConfirm;
      break;
    case Event::kBgpHeaderErr:
    case Event::kBgpOpenMsgErr:
      if (error) send_notification(*error, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kOpenCollisionDump:
      send_notification(cease_notification(cease::kConnectionCollisionResolution), out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kNotifMsgVerErr:
      to_idle(Stop::kQuiet, out);
      break;
    case Event::kNotifMsg:
      // The peer closed with a NOTIFICATION; answering it with another helps nobody.
      to_idle(Stop::kFailure, out);
      break;
    default:
      unexpected(fsm_error::kUnexpectedInOpenSent, out);
      break;
  }
}

// --- OpenConfirm -----------------------------------------------------------------------

void Fsm::on_open_confirm(Event e, const OpenReceived& /*open*/, const std::optional<Notification>& error,
                          Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
    case Event::kTcpConnectionValid:
    case Event::kTcpCrInvalid:
    case Event::kTcpCrAcked:
    case Event::kTcpConnectionConfirmed:
    case Event::kBgpOpen:  // §6.8: the adapter runs collision detection and may send kOpenCollisionDump
      break;
    case Event::kManualStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      to_idle(Stop::kManual, out);
      break;
    case Event::kAutomaticStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      to_idle(Stop::kAutomatic, out);
      break;
    case Event::kHoldTimerExpires:
      send_notification(Notification{code::kHoldTimerExpired, 0, {}}, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kKeepaliveTimerExpires:
      out.emplace_back(action::SendKeepalive{});
      start_timer(Timer::kKeepalive, jittered(std::chrono::seconds(negotiated_hold_time_ / 3)), out);
      break;
    case Event::kTcpConnectionFails:
    case Event::kNotifMsg:
      to_idle(Stop::kFailure, out);
      break;
    case Event::kNotifMsgVerErr:
      to_idle(Stop::kQuiet, out);
      break;
    case Event::kBgpHeaderErr:
    case Event::kBgpOpenMsgErr:
      if (error) send_notification(*error, out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kOpenCollisionDump:
      send_notification(cease_notification(cease::kConnectionCollisionResolution), out);
      to_idle(Stop::kFailure, out);
      break;
    case Event::kKeepAliveMsg:
      if (negotiated_hold_time_ != 0) {
        start_timer(Timer::kHold, std::chrono::seconds(negotiated_hold_time_), out);
      }
      consecutive_failures_ = 0;
      state_ = State::kEstablished;
      out.emplace_back(action::SessionUp{negotiated_hold_time_});
      break;
    default:
      unexpected(fsm_error::kUnexpectedInOpenConfirm, out);
      break;
  }
}

// --- Established -----------------------------------------------------------------------

void Fsm::on_established(Event e, const std::optional<Notification>& error, Actions& out) {
  switch (e) {
    case Event::kManualStart:
    case Event::kAutomaticStart:
    case Event::kManualStartPassive:
    case Event::kAutomaticStartPassive:
    case Event::kTcpConnectionValid:
    case Event::kTcpCrInvalid:
    case Event::kTcpCrAcked:
    case Event::kTcpConnectionConfirmed:
      break;
    case Event::kManualStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kManual, out);
      break;
    case Event::kAutomaticStop:
      send_notification(cease_notification(cease::kAdministrativeShutdown), out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kAutomatic, out);
      break;
    case Event::kHoldTimerExpires:
      send_notification(Notification{code::kHoldTimerExpired, 0, {}}, out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kFailure, out);
      break;
    case Event::kKeepaliveTimerExpires:
      out.emplace_back(action::SendKeepalive{});
      start_timer(Timer::kKeepalive, jittered(std::chrono::seconds(negotiated_hold_time_ / 3)), out);
      break;
    case Event::kOpenCollisionDump:
      send_notification(cease_notification(cease::kConnectionCollisionResolution), out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kFailure, out);
      break;
    case Event::kNotifMsgVerErr:
    case Event::kNotifMsg:
    case Event::kTcpConnectionFails:
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kFailure, out);
      break;
    case Event::kKeepAliveMsg:
    case Event::kUpdateMsg:
      if (negotiated_hold_time_ != 0) {
        start_timer(Timer::kHold, std::chrono::seconds(negotiated_hold_time_), out);
      }
      break;
    case Event::kBgpHeaderErr:  // RFC 4271 §6.1: a header error is answered as such in any state
    case Event::kUpdateMsgErr:
      if (error) send_notification(*error, out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kFailure, out);
      break;
    default:
      send_notification(Notification{code::kFsmError, fsm_error::kUnexpectedInEstablished, {}}, out);
      out.emplace_back(action::SessionDown{});
      to_idle(Stop::kFailure, out);
      break;
  }
}

// --- shared steps ----------------------------------------------------------------------

void Fsm::negotiate_hold(uint16_t peer_hold_time) {
  // RFC 4271 §4.2: the smaller of the two; 0 on either side means no hold timer.
  negotiated_hold_time_ = std::min(config_.hold_time, peer_hold_time);
}

void Fsm::start_keepalive_and_hold(Actions& out) {
  if (negotiated_hold_time_ == 0) {
    stop_timer(Timer::kHold, out);
    stop_timer(Timer::kKeepalive, out);
    return;
  }
  // §4.4: a reasonable keepalive interval is one third of the hold time.
  start_timer(Timer::kKeepalive, jittered(std::chrono::seconds(negotiated_hold_time_ / 3)), out);
  start_timer(Timer::kHold, std::chrono::seconds(negotiated_hold_time_), out);
}

void Fsm::send_notification(Notification n, Actions& out) {
  last_sent_ = n;
  out.emplace_back(action::SendNotification{std::move(n)});
}

void Fsm::unexpected(uint8_t fsm_error_subcode, Actions& out) {
  send_notification(Notification{code::kFsmError, fsm_error_subcode, {}}, out);
  to_idle(Stop::kFailure, out);
}

void Fsm::to_idle(Stop how, Actions& out) {
  for (Timer t : {Timer::kConnectRetry, Timer::kHold, Timer::kKeepalive, Timer::kDelayOpen, Timer::kIdleHold}) {
    stop_timer(t, out);
  }
  if (state_ != State::kIdle) out.emplace_back(action::Disconnect{});
  state_ = State::kIdle;
  negotiated_hold_time_ = 0;
  switch (how) {
    case Stop::kManual:
      connect_retry_counter_ = 0;
      consecutive_failures_ = 0;
      started_ = false;
      return;
    case Stop::kAutomatic:
      ++connect_retry_counter_;
      started_ = false;  // the controller decides when to start again (e.g. max-prefix)
      return;
    case Stop::kFailure:
      ++connect_retry_counter_;
      break;
    case Stop::kQuiet:
      break;
  }
  if (!config_.auto_restart || !started_) return;
  // §8.1.1 peer oscillation damping: the idle hold time doubles with each consecutive
  // failure, so a peer that keeps failing is retried ever more slowly.
  ++consecutive_failures_;
  auto idle_hold = config_.idle_hold_initial;
  for (uint32_t i = 1; i < consecutive_failures_ && idle_hold < config_.idle_hold_max; ++i) idle_hold *= 2;
  start_timer(Timer::kIdleHold, jittered(std::min(idle_hold, config_.idle_hold_max)), out);
}

Duration Fsm::jittered(Duration d) {
  if (!config_.jitter) return d;
  // RFC 4271 §10: "a random factor ... uniformly distributed in the range from 0.75 to 1.0".
  std::uniform_real_distribution<double> factor(0.75, 1.0);
  return std::chrono::duration_cast<Duration>(d * factor(rng_));
}

void Fsm::start_timer(Timer t, Duration d, Actions& out) {
  running_[static_cast<size_t>(t)] = true;
  out.emplace_back(action::StartTimer{t, d});
}

void Fsm::stop_timer(Timer t, Actions& out) {
  if (!running_[static_cast<size_t>(t)]) return;
  running_[static_cast<size_t>(t)] = false;
  out.emplace_back(action::StopTimer{t});
}

bool keep_locally_initiated(uint32_t local_id, uint32_t remote_id) {
  // §6.8: "If the value of the local BGP Identifier is less than the remote one, the local
  // system closes the BGP connection that already exists (the one that is already in the
  // OpenConfirm state), and accepts the BGP connection initiated by the remote system."
  // So the connection initiated by the higher identifier survives.
  return local_id > remote_id;
}

std::string_view to_string(State s) {
  switch (s) {
    case State::kIdle: return "Idle";
    case State::kConnect: return "Connect";
    case State::kActive: return "Active";
    case State::kOpenSent: return "OpenSent";
    case State::kOpenConfirm: return "OpenConfirm";
    case State::kEstablished: return "Established";
  }
  return "?";
}

std::string_view to_string(Event e) {
  switch (e) {
    case Event::kManualStart: return "ManualStart";
    case Event::kManualStop: return "ManualStop";
    case Event::kAutomaticStart: return "AutomaticStart";
    case Event::kManualStartPassive: return "ManualStart_with_PassiveTcpEstablishment";
    case Event::kAutomaticStartPassive: return "AutomaticStart_with_PassiveTcpEstablishment";
    case Event::kAutomaticStop: return "AutomaticStop";
    case Event::kConnectRetryTimerExpires: return "ConnectRetryTimer_Expires";
    case Event::kHoldTimerExpires: return "HoldTimer_Expires";
    case Event::kKeepaliveTimerExpires: return "KeepaliveTimer_Expires";
    case Event::kDelayOpenTimerExpires: return "DelayOpenTimer_Expires";
    case Event::kIdleHoldTimerExpires: return "IdleHoldTimer_Expires";
    case Event::kTcpConnectionValid: return "TcpConnection_Valid";
    case Event::kTcpCrInvalid: return "Tcp_CR_Invalid";
    case Event::kTcpCrAcked: return "Tcp_CR_Acked";
    case Event::kTcpConnectionConfirmed: return "TcpConnectionConfirmed";
    case Event::kTcpConnectionFails: return "TcpConnectionFails";
    case Event::kBgpOpen: return "BGPOpen";
    case Event::kBgpHeaderErr: return "BGPHeaderErr";
    case Event::kBgpOpenMsgErr: return "BGPOpenMsgErr";
    case Event::kOpenCollisionDump: return "OpenCollisionDump";
    case Event::kNotifMsgVerErr: return "NotifMsgVerErr";
    case Event::kNotifMsg: return "NotifMsg";
    case Event::kKeepAliveMsg: return "KeepAliveMsg";
    case Event::kUpdateMsg: return "UpdateMsg";
    case Event::kUpdateMsgErr: return "UpdateMsgErr";
  }
  return "?";
}

std::string_view to_string(Timer t) {
  switch (t) {
    case Timer::kConnectRetry: return "ConnectRetry";
    case Timer::kHold: return "Hold";
    case Timer::kKeepalive: return "Keepalive";
    case Timer::kDelayOpen: return "DelayOpen";
    case Timer::kIdleHold: return "IdleHold";
  }
  return "?";
}

std::string to_string(const Action& a) {
  struct Visitor {
    std::string operator()(const action::Connect&) const { return "Connect"; }
    std::string operator()(const action::Disconnect&) const { return "Disconnect"; }
    std::string operator()(const action::SendOpen&) const { return "SendOpen"; }
    std::string operator()(const action::SendKeepalive&) const { return "SendKeepalive"; }
    std::string operator()(const action::SendNotification& n) const {
      return "SendNotification(" + std::to_string(n.notification.code) + "/" +
             std::to_string(n.notification.subcode) + " len=" + std::to_string(n.notification.data.size()) + ")";
    }
    std::string operator()(const action::StartTimer& t) const {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.after).count();
      return "StartTimer(" + std::string(to_string(t.timer)) + " " + std::to_string(ms) + "ms)";
    }
    std::string operator()(const action::StopTimer& t) const {
      return "StopTimer(" + std::string(to_string(t.timer)) + ")";
    }
    std::string operator()(const action::SessionUp& u) const {
      return "SessionUp(hold " + std::to_string(u.hold_time) + ")";
    }
    std::string operator()(const action::SessionDown&) const { return "SessionDown"; }
  };
  return std::visit(Visitor{}, a);
}

}  // namespace tern::bgp::fsm
