// The BGP finite state machine of RFC 4271 §8, as a pure machine: events in, actions out.
//
// It owns no socket and reads no clock. The session adapter (bgp/session) turns TCP and
// timer callbacks and decoded messages into Events, calls handle(), and carries out the
// returned Actions in order (send a message, start or stop a timer, connect, drop the
// connection, report the session up or down). Timers are named, not scheduled here: a
// StartTimer action replaces a running timer of the same name.
//
// One Fsm is one connection's view of one peer; the adapter resolves connection
// collisions (§6.8) between two of them with resolve_collision().
//
// Owned by the thread (strand) that owns the session; not thread-safe.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.hpp"

namespace tern::bgp::fsm {

// RFC 4271 §8.2.2 states.
enum class State : uint8_t {
  kIdle,
  kConnect,
  kActive,
  kOpenSent,
  kOpenConfirm,
  kEstablished,
};

// RFC 4271 §8.1 events, numbered as the RFC numbers them. The optional events of the RFC
// that tern does not use (6, 7: DampPeerOscillations variants — tern always damps through
// the idle hold timer) are absent.
enum class Event : uint8_t {
  kManualStart = 1,
  kManualStop = 2,
  kAutomaticStart = 3,
  kManualStartPassive = 4,     // ManualStart_with_PassiveTcpEstablishment
  kAutomaticStartPassive = 5,  // AutomaticStart_with_PassiveTcpEstablishment
  kAutomaticStop = 8,
  kConnectRetryTimerExpires = 9,
  kHoldTimerExpires = 10,
  kKeepaliveTimerExpires = 11,
  kDelayOpenTimerExpires = 12,
  kIdleHoldTimerExpires = 13,
  kTcpConnectionValid = 14,
  kTcpCrInvalid = 15,
  kTcpCrAcked = 16,             // our outgoing connection completed
  kTcpConnectionConfirmed = 17, // an incoming connection was accepted
  kTcpConnectionFails = 18,
  kBgpOpen = 19,                // a valid OPEN (see OpenReceived for its data)
  kBgpHeaderErr = 21,
  kBgpOpenMsgErr = 22,
  kOpenCollisionDump = 23,
  kNotifMsgVerErr = 24,
  kNotifMsg = 25,
  kKeepAliveMsg = 26,
  kUpdateMsg = 27,
  kUpdateMsgErr = 28,
};

enum class Timer : uint8_t { kConnectRetry, kHold, kKeepalive, kDelayOpen, kIdleHold };

// A NOTIFICATION to send (RFC 4271 §4.5). The codec owns the names of codes and subcodes;
// the FSM needs only the numbers of the few it sends itself.
struct Notification {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const Notification&, const Notification&) = default;
};

// Codes and subcodes the FSM sends on its own.
namespace code {
inline constexpr uint8_t kHoldTimerExpired = 4;
inline constexpr uint8_t kFsmError = 5;  // subcodes from RFC 6608
inline constexpr uint8_t kCease = 6;
}  // namespace code
namespace fsm_error {
inline constexpr uint8_t kUnexpectedInOpenSent = 1;
inline constexpr uint8_t kUnexpectedInOpenConfirm = 2;
inline constexpr uint8_t kUnexpectedInEstablished = 3;
}  // namespace fsm_error
namespace cease {  // RFC 4486
inline constexpr uint8_t kMaximumPrefixesReached = 1;
inline constexpr uint8_t kAdministrativeShutdown = 2;
inline constexpr uint8_t kPeerDeconfigured = 3;
inline constexpr uint8_t kAdministrativeReset = 4;
inline constexpr uint8_t kOtherConfigurationChange = 6;
inline constexpr uint8_t kConnectionCollisionResolution = 7;
}  // namespace cease

// Builds the Cease/Administrative Shutdown data of RFC 8203 (as updated by RFC 9003): one
// length octet and up to 255 octets of UTF-8. Longer text is cut at a character boundary.
std::vector<uint8_t> shutdown_communication(std::string_view text);

namespace action {
struct Connect {};     // initiate the outgoing TCP connection
struct Disconnect {};  // drop the TCP connection (after any message queued before it)
struct SendOpen {};
struct SendKeepalive {};
struct SendNotification {
  Notification notification;
};
struct StartTimer {
  Timer timer;
  Duration after;
};
struct StopTimer {
  Timer timer;
};
struct SessionUp {
  uint16_t hold_time;  // negotiated, seconds; 0 means no keepalives
};
struct SessionDown {};  // routes learned on this session must go
}  // namespace action

using Action = std::variant<action::Connect, action::Disconnect, action::SendOpen, action::SendKeepalive,
                            action::SendNotification, action::StartTimer, action::StopTimer,
                            action::SessionUp, action::SessionDown>;

struct Config {
  std::chrono::seconds connect_retry{5};  // RFC 4271 suggests 120 s; nodes want to come back fast
  uint16_t hold_time = 90;                // seconds; 0 disables hold and keepalive timers
  std::chrono::seconds delay_open{0};     // 0: DelayOpen off
  bool passive = false;                   // never connect, only accept
  // After an error the session restarts by itself after an idle hold time that doubles
  // on each consecutive failure (RFC 4271 §8.1.1 DampPeerOscillations), up to the max.
  bool auto_restart = true;
  std::chrono::seconds idle_hold_initial{1};
  std::chrono::seconds idle_hold_max{120};
  // RFC 4271 §10: timers are jittered by a random factor in [0.75, 1.0].
  bool jitter = true;
  uint32_t seed = 0;  // seeds the jitter; tests pin it
  friend bool operator==(const Config&, const Config&) = default;
};

// An OPEN that passed validation (bgp/fsm/negotiate): what the FSM needs of it.
struct OpenReceived {
  uint16_t peer_hold_time = 0;
};

class Fsm {
 public:
  explicit Fsm(Config config);

  // Feeds one event. For kBgpOpen pass the OPEN's data; for errors that the FSM answers
  // with a NOTIFICATION (kBgpHeaderErr, kBgpOpenMsgErr, kUpdateMsgErr) pass the
  // NOTIFICATION the codec chose.
  std::vector<Action> handle(Event event, const OpenReceived& open = {},
                             const std::optional<Notification>& error = std::nullopt);

  // Administrative shutdown: a Cease (by default Administrative Shutdown, with an RFC
  // 8203 message; Peer De-configured and Other Configuration Change carry none), then
  // ManualStop.
  std::vector<Action> shutdown(std::string_view message, uint8_t cease_subcode = cease::kAdministrativeShutdown);

  // A session that took over a passive (accepted) connection after a collision restarts
  // later in the session's own mode, active or passive.
  void set_restart_passive(bool passive) { passive_ = passive; }

  State state() const { return state_; }
  uint32_t connect_retry_counter() const { return connect_retry_counter_; }
  uint16_t negotiated_hold_time() const { return negotiated_hold_time_; }
  bool delay_open_running() const { return running_[static_cast<size_t>(Timer::kDelayOpen)]; }
  bool timer_running(Timer t) const { return running_[static_cast<size_t>(t)]; }
  // The NOTIFICATION that ended the last session (sent or received is the adapter's to say).
  const std::optional<Notification>& last_sent_notification() const { return last_sent_; }

 private:
  using Actions = std::vector<Action>;
  // How a transition to Idle came about (§8.2.2 differs in what it counts and restarts).
  enum class Stop {
    kManual,     // ManualStop: counter reset, no restart
    kAutomatic,  // AutomaticStop: counted, the controller restarts
    kFailure,    // an error: counted, automatic restart after a backed-off idle hold
    kQuiet,      // NotifMsgVerErr and the like: not counted, restart as after a failure
  };

  void on_idle(Event e, Actions& out);
  void on_connect(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out);
  void on_active(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out);
  void on_open_sent(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out);
  void on_open_confirm(Event e, const OpenReceived& open, const std::optional<Notification>& error, Actions& out);
  void on_established(Event e, const std::optional<Notification>& error, Actions& out);

  // Shared steps of §8.2.2.
  void start(bool passive, Actions& out);
  void open_sent_after_connection(Actions& out);
  void open_confirm_from_delay_open(const OpenReceived& open, Actions& out);
  void negotiate_hold(uint16_t peer_hold_time);
  void start_keepalive_and_hold(Actions& out);
  void send_notification(Notification n, Actions& out);
  // To Idle: stop every timer, drop the connection, count as `how` says; with
  // auto_restart, an idle hold timer with back-off brings the session back.
  void to_idle(Stop how, Actions& out);
  // Any event that a state does not expect (§8.2.2's "any other event").
  void unexpected(uint8_t fsm_error_subcode, Actions& out);

  Duration jittered(Duration d);
  void start_timer(Timer t, Duration d, Actions& out);
  void stop_timer(Timer t, Actions& out);

  Config config_;
  State state_ = State::kIdle;
  uint32_t connect_retry_counter_ = 0;
  uint32_t consecutive_failures_ = 0;
  uint16_t negotiated_hold_time_ = 0;
  std::bitset<5> running_;  // by Timer
  bool passive_ = false;  // the current start was a passive one
  bool started_ = false;  // a start event came and no ManualStop since
  std::optional<Notification> last_sent_;
  std::minstd_rand rng_;
};

// RFC 4271 §6.8: of two connections to the same peer, the one initiated by the speaker
// with the higher BGP Identifier survives. Returns true when the connection that the
// local speaker initiated is the one to keep. Identifiers compare as host-order integers.
bool keep_locally_initiated(uint32_t local_id, uint32_t remote_id);

std::string_view to_string(State s);
std::string_view to_string(Event e);
std::string_view to_string(Timer t);
// "SendNotification(6/2 len=5)", "StartTimer(Hold 90000ms)": for logs and tests.
std::string to_string(const Action& a);

}  // namespace tern::bgp::fsm
