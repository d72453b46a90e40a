// The RFC 4271 §8.2.2 transition table, row by row: from a state, one event, the actions
// the FSM returns (in order) and the state it ends in.
#include "bgp/fsm/fsm.hpp"

#include <gtest/gtest.h>

#include <set>

namespace tern::bgp::fsm {
namespace {

using namespace std::chrono_literals;

Config test_config() {
  Config c;
  c.connect_retry = 5s;
  c.hold_time = 90;
  c.jitter = false;  // exact timer values; jitter has its own test
  return c;
}

std::string describe(const std::vector<Action>& actions) {
  std::string s;
  for (const auto& a : actions) s += (s.empty() ? "" : " ") + to_string(a);
  return s;
}

enum class Start { kIdle, kConnect, kActivePassive, kActive, kOpenSent, kOpenConfirm, kEstablished,
                   kConnectDelayOpen, kEstablishedHold0 };

Fsm make(Start start) {
  Config config = test_config();
  if (start == Start::kConnectDelayOpen) config.delay_open = 3s;
  Fsm fsm(config);
  switch (start) {
    case Start::kIdle: break;
    case Start::kConnect: fsm.handle(Event::kManualStart); break;
    case Start::kActivePassive: fsm.handle(Event::kManualStartPassive); break;
    case Start::kActive:  // an active peer that lost its connection in OpenSent
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);
      fsm.handle(Event::kTcpConnectionFails);
      break;
    case Start::kOpenSent:
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);
      break;
    case Start::kOpenConfirm:
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);
      fsm.handle(Event::kBgpOpen, OpenReceived{90});
      break;
    case Start::kEstablished:
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);
      fsm.handle(Event::kBgpOpen, OpenReceived{90});
      fsm.handle(Event::kKeepAliveMsg);
      break;
    case Start::kEstablishedHold0:
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);
      fsm.handle(Event::kBgpOpen, OpenReceived{0});
      fsm.handle(Event::kKeepAliveMsg);
      break;
    case Start::kConnectDelayOpen:
      fsm.handle(Event::kManualStart);
      fsm.handle(Event::kTcpCrAcked);  // DelayOpen now running
      break;
  }
  return fsm;
}

struct Row {
  const char* name;
  Start from;
  Event event;
  State to;
  const char* actions;
  uint16_t peer_hold = 90;
  std::optional<Notification> error = std::nullopt;
};

const Notification kHeaderErr{1, 2, {0, 17}};   // Bad Message Length, with the length
const Notification kOpenErr{2, 2, {0x00, 0x64}};  // Bad Peer AS
const Notification kUpdateErr{3, 1, {}};        // Malformed Attribute List

constexpr const char* kIdleHold = "StartTimer(IdleHold 1000ms)";

const Row kRows[] = {
    // Idle
    {"IdleManualStart", Start::kIdle, Event::kManualStart, State::kConnect, "StartTimer(ConnectRetry 5000ms) Connect"},
    {"IdleAutomaticStart", Start::kIdle, Event::kAutomaticStart, State::kConnect, "StartTimer(ConnectRetry 5000ms) Connect"},
    {"IdlePassiveStart", Start::kIdle, Event::kManualStartPassive, State::kActive, "StartTimer(ConnectRetry 5000ms)"},
    {"IdleAutomaticPassiveStart", Start::kIdle, Event::kAutomaticStartPassive, State::kActive, "StartTimer(ConnectRetry 5000ms)"},
    {"IdleManualStopIgnored", Start::kIdle, Event::kManualStop, State::kIdle, ""},
    {"IdleMessageIgnored", Start::kIdle, Event::kKeepAliveMsg, State::kIdle, ""},
    {"IdleConnectionIgnored", Start::kIdle, Event::kTcpConnectionConfirmed, State::kIdle, ""},
    {"IdleHoldBeforeStartIgnored", Start::kIdle, Event::kIdleHoldTimerExpires, State::kIdle, ""},

    // Connect
    {"ConnectStartIgnored", Start::kConnect, Event::kManualStart, State::kConnect, ""},
    {"ConnectManualStop", Start::kConnect, Event::kManualStop, State::kIdle, "StopTimer(ConnectRetry) Disconnect"},
    {"ConnectRetryExpires", Start::kConnect, Event::kConnectRetryTimerExpires, State::kConnect,
     "Disconnect StartTimer(ConnectRetry 5000ms) Connect"},
    {"ConnectTcpAcked", Start::kConnect, Event::kTcpCrAcked, State::kOpenSent,
     "StopTimer(ConnectRetry) SendOpen StartTimer(Hold 240000ms)"},
    {"ConnectTcpConfirmed", Start::kConnect, Event::kTcpConnectionConfirmed, State::kOpenSent,
     "StopTimer(ConnectRetry) SendOpen StartTimer(Hold 240000ms)"},
    {"ConnectTcpFails", Start::kConnect, Event::kTcpConnectionFails, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},
    {"ConnectHeaderErr", Start::kConnect, Event::kBgpHeaderErr, State::kIdle,
     "SendNotification(1/2 len=2) StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)", 90, kHeaderErr},
    {"ConnectOpenMsgErr", Start::kConnect, Event::kBgpOpenMsgErr, State::kIdle,
     "SendNotification(2/2 len=2) StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)", 90, kOpenErr},
    {"ConnectNotifVerErr", Start::kConnect, Event::kNotifMsgVerErr, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},
    {"ConnectOpenWithoutDelayOpen", Start::kConnect, Event::kBgpOpen, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},
    {"ConnectOtherEvent", Start::kConnect, Event::kKeepAliveMsg, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},

    // Connect with DelayOpen (RFC 4271 §8.2.2, DelayOpen attribute set)
    {"DelayOpenTcpAcked", Start::kConnect, Event::kTcpCrAcked, State::kOpenSent,
     "StopTimer(ConnectRetry) SendOpen StartTimer(Hold 240000ms)"},
    {"DelayOpenExpires", Start::kConnectDelayOpen, Event::kDelayOpenTimerExpires, State::kOpenSent,
     "SendOpen StartTimer(Hold 240000ms)"},
    {"DelayOpenPeerOpensFirst", Start::kConnectDelayOpen, Event::kBgpOpen, State::kOpenConfirm,
     "StopTimer(DelayOpen) SendOpen SendKeepalive StartTimer(Keepalive 10000ms) StartTimer(Hold 30000ms)", 30},
    {"DelayOpenTcpFails", Start::kConnectDelayOpen, Event::kTcpConnectionFails, State::kActive,
     "StartTimer(ConnectRetry 5000ms) StopTimer(DelayOpen)"},
    {"DelayOpenNotifVerErr", Start::kConnectDelayOpen, Event::kNotifMsgVerErr, State::kIdle,
     "StopTimer(DelayOpen) Disconnect StartTimer(IdleHold 1000ms)"},

    // Active
    {"ActiveManualStop", Start::kActivePassive, Event::kManualStop, State::kIdle, "StopTimer(ConnectRetry) Disconnect"},
    {"ActivePassiveRetryExpires", Start::kActivePassive, Event::kConnectRetryTimerExpires, State::kActive,
     "StartTimer(ConnectRetry 5000ms)"},
    {"ActiveRetryExpiresConnects", Start::kActive, Event::kConnectRetryTimerExpires, State::kConnect,
     "StartTimer(ConnectRetry 5000ms) Connect"},
    {"ActiveTcpConfirmed", Start::kActivePassive, Event::kTcpConnectionConfirmed, State::kOpenSent,
     "StopTimer(ConnectRetry) SendOpen StartTimer(Hold 240000ms)"},
    {"ActiveTcpFails", Start::kActivePassive, Event::kTcpConnectionFails, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},
    {"ActiveOpenMsgErr", Start::kActivePassive, Event::kBgpOpenMsgErr, State::kIdle,
     "SendNotification(2/2 len=2) StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)", 90, kOpenErr},
    {"ActiveOtherEvent", Start::kActivePassive, Event::kUpdateMsg, State::kIdle,
     "StopTimer(ConnectRetry) Disconnect StartTimer(IdleHold 1000ms)"},

    // OpenSent
    {"OpenSentConnectionIgnored", Start::kOpenSent, Event::kTcpConnectionConfirmed, State::kOpenSent, ""},
    {"OpenSentManualStop", Start::kOpenSent, Event::kManualStop, State::kIdle,
     "SendNotification(6/2 len=0) StopTimer(Hold) Disconnect"},
    {"OpenSentAutomaticStop", Start::kOpenSent, Event::kAutomaticStop, State::kIdle,
     "SendNotification(6/2 len=0) StopTimer(Hold) Disconnect"},
    {"OpenSentHoldExpires", Start::kOpenSent, Event::kHoldTimerExpires, State::kIdle,
     "SendNotification(4/0 len=0) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenSentTcpFails", Start::kOpenSent, Event::kTcpConnectionFails, State::kActive,
     "Disconnect StopTimer(Hold) StartTimer(ConnectRetry 5000ms)"},
    {"OpenSentOpen", Start::kOpenSent, Event::kBgpOpen, State::kOpenConfirm,
     "SendKeepalive StartTimer(Keepalive 30000ms) StartTimer(Hold 90000ms)"},
    {"OpenSentOpenSmallerHold", Start::kOpenSent, Event::kBgpOpen, State::kOpenConfirm,
     "SendKeepalive StartTimer(Keepalive 1000ms) StartTimer(Hold 3000ms)", 3},
    {"OpenSentOpenHoldZero", Start::kOpenSent, Event::kBgpOpen, State::kOpenConfirm, "SendKeepalive StopTimer(Hold)", 0},
    {"OpenSentOpenMsgErr", Start::kOpenSent, Event::kBgpOpenMsgErr, State::kIdle,
     "SendNotification(2/2 len=2) StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)", 90, kOpenErr},
    {"OpenSentHeaderErr", Start::kOpenSent, Event::kBgpHeaderErr, State::kIdle,
     "SendNotification(1/2 len=2) StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)", 90, kHeaderErr},
    {"OpenSentCollisionDump", Start::kOpenSent, Event::kOpenCollisionDump, State::kIdle,
     "SendNotification(6/7 len=0) StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenSentNotifVerErr", Start::kOpenSent, Event::kNotifMsgVerErr, State::kIdle,
     "StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenSentNotif", Start::kOpenSent, Event::kNotifMsg, State::kIdle,
     "StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenSentUnexpectedKeepalive", Start::kOpenSent, Event::kKeepAliveMsg, State::kIdle,
     "SendNotification(5/1 len=0) StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenSentUnexpectedUpdate", Start::kOpenSent, Event::kUpdateMsg, State::kIdle,
     "SendNotification(5/1 len=0) StopTimer(Hold) Disconnect StartTimer(IdleHold 1000ms)"},

    // OpenConfirm
    {"OpenConfirmOpenIgnored", Start::kOpenConfirm, Event::kBgpOpen, State::kOpenConfirm, ""},
    {"OpenConfirmManualStop", Start::kOpenConfirm, Event::kManualStop, State::kIdle,
     "SendNotification(6/2 len=0) StopTimer(Hold) StopTimer(Keepalive) Disconnect"},
    {"OpenConfirmAutomaticStop", Start::kOpenConfirm, Event::kAutomaticStop, State::kIdle,
     "SendNotification(6/2 len=0) StopTimer(Hold) StopTimer(Keepalive) Disconnect"},
    {"OpenConfirmHoldExpires", Start::kOpenConfirm, Event::kHoldTimerExpires, State::kIdle,
     "SendNotification(4/0 len=0) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenConfirmKeepaliveTimer", Start::kOpenConfirm, Event::kKeepaliveTimerExpires, State::kOpenConfirm,
     "SendKeepalive StartTimer(Keepalive 30000ms)"},
    {"OpenConfirmTcpFails", Start::kOpenConfirm, Event::kTcpConnectionFails, State::kIdle,
     "StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenConfirmNotif", Start::kOpenConfirm, Event::kNotifMsg, State::kIdle,
     "StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenConfirmNotifVerErr", Start::kOpenConfirm, Event::kNotifMsgVerErr, State::kIdle,
     "StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenConfirmHeaderErr", Start::kOpenConfirm, Event::kBgpHeaderErr, State::kIdle,
     "SendNotification(1/2 len=2) StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)", 90,
     kHeaderErr},
    {"OpenConfirmCollisionDump", Start::kOpenConfirm, Event::kOpenCollisionDump, State::kIdle,
     "SendNotification(6/7 len=0) StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"OpenConfirmKeepalive", Start::kOpenConfirm, Event::kKeepAliveMsg, State::kEstablished,
     "StartTimer(Hold 90000ms) SessionUp(hold 90)"},
    {"OpenConfirmUnexpectedUpdate", Start::kOpenConfirm, Event::kUpdateMsg, State::kIdle,
     "SendNotification(5/2 len=0) StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},

    // Established
    {"EstablishedConnectionIgnored", Start::kEstablished, Event::kTcpConnectionConfirmed, State::kEstablished, ""},
    {"EstablishedManualStop", Start::kEstablished, Event::kManualStop, State::kIdle,
     "SendNotification(6/2 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect"},
    {"EstablishedAutomaticStop", Start::kEstablished, Event::kAutomaticStop, State::kIdle,
     "SendNotification(6/2 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect"},
    {"EstablishedHoldExpires", Start::kEstablished, Event::kHoldTimerExpires, State::kIdle,
     "SendNotification(4/0 len=0) SessionDown StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedKeepaliveTimer", Start::kEstablished, Event::kKeepaliveTimerExpires, State::kEstablished,
     "SendKeepalive StartTimer(Keepalive 30000ms)"},
    {"EstablishedKeepalive", Start::kEstablished, Event::kKeepAliveMsg, State::kEstablished, "StartTimer(Hold 90000ms)"},
    {"EstablishedUpdate", Start::kEstablished, Event::kUpdateMsg, State::kEstablished, "StartTimer(Hold 90000ms)"},
    {"EstablishedHoldZeroKeepalive", Start::kEstablishedHold0, Event::kKeepAliveMsg, State::kEstablished, ""},
    {"EstablishedUpdateErr", Start::kEstablished, Event::kUpdateMsgErr, State::kIdle,
     "SendNotification(3/1 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)",
     90, kUpdateErr},
    {"EstablishedHeaderErr", Start::kEstablished, Event::kBgpHeaderErr, State::kIdle,
     "SendNotification(1/2 len=2) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)",
     90, kHeaderErr},
    {"EstablishedNotif", Start::kEstablished, Event::kNotifMsg, State::kIdle,
     "SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedNotifVerErr", Start::kEstablished, Event::kNotifMsgVerErr, State::kIdle,
     "SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedTcpFails", Start::kEstablished, Event::kTcpConnectionFails, State::kIdle,
     "SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedCollisionDump", Start::kEstablished, Event::kOpenCollisionDump, State::kIdle,
     "SendNotification(6/7 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedUnexpectedOpen", Start::kEstablished, Event::kBgpOpen, State::kIdle,
     "SendNotification(5/3 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
    {"EstablishedUnexpectedRetryTimer", Start::kEstablished, Event::kConnectRetryTimerExpires, State::kIdle,
     "SendNotification(5/3 len=0) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect StartTimer(IdleHold 1000ms)"},
};

class Transition : public ::testing::TestWithParam<Row> {};

TEST_P(Transition, MatchesRfc4271) {
  const Row& row = GetParam();
  Fsm fsm = make(row.from);
  auto actions = fsm.handle(row.event, OpenReceived{row.peer_hold}, row.error);
  EXPECT_EQ(describe(actions), row.actions);
  EXPECT_EQ(to_string(fsm.state()), to_string(row.to));
}

INSTANTIATE_TEST_SUITE_P(Rfc4271, Transition, ::testing::ValuesIn(kRows),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Fsm, IdleHoldBacksOffAndRestarts) {
  Fsm fsm(test_config());
  fsm.handle(Event::kManualStart);
  std::vector<std::string> idle_holds;
  for (int i = 0; i < 9; ++i) {
    auto actions = fsm.handle(Event::kTcpConnectionFails);
    ASSERT_EQ(fsm.state(), State::kIdle);
    idle_holds.push_back(to_string(actions.back()));
    // The idle hold expiring restarts the session by itself.
    EXPECT_EQ(describe(fsm.handle(Event::kIdleHoldTimerExpires)), "StartTimer(ConnectRetry 5000ms) Connect");
  }
  EXPECT_EQ(idle_holds, (std::vector<std::string>{
                            "StartTimer(IdleHold 1000ms)", "StartTimer(IdleHold 2000ms)", "StartTimer(IdleHold 4000ms)",
                            "StartTimer(IdleHold 8000ms)", "StartTimer(IdleHold 16000ms)", "StartTimer(IdleHold 32000ms)",
                            "StartTimer(IdleHold 64000ms)", "StartTimer(IdleHold 120000ms)",
                            "StartTimer(IdleHold 120000ms)"}));
  EXPECT_EQ(fsm.connect_retry_counter(), 0u) << "each restart is a new start (§8.2.2 Idle: counter to zero)";
}

TEST(Fsm, EstablishedResetsBackOff) {
  Fsm fsm(test_config());
  fsm.handle(Event::kManualStart);
  fsm.handle(Event::kTcpConnectionFails);
  fsm.handle(Event::kIdleHoldTimerExpires);
  fsm.handle(Event::kTcpConnectionFails);  // second failure: 2 s
  fsm.handle(Event::kIdleHoldTimerExpires);
  fsm.handle(Event::kTcpCrAcked);
  fsm.handle(Event::kBgpOpen, OpenReceived{90});
  fsm.handle(Event::kKeepAliveMsg);
  ASSERT_EQ(fsm.state(), State::kEstablished);
  auto actions = fsm.handle(Event::kHoldTimerExpires);
  EXPECT_EQ(to_string(actions.back()), kIdleHold);
}

TEST(Fsm, ManualStopEndsAutomaticRestart) {
  Fsm fsm(test_config());
  fsm.handle(Event::kManualStart);
  fsm.handle(Event::kTcpConnectionFails);
  EXPECT_TRUE(fsm.timer_running(Timer::kIdleHold));
  EXPECT_EQ(describe(fsm.handle(Event::kManualStop)), "StopTimer(IdleHold)");
  EXPECT_EQ(describe(fsm.handle(Event::kIdleHoldTimerExpires)), "");
  EXPECT_EQ(fsm.state(), State::kIdle);
}

TEST(Fsm, AutomaticStopLeavesRestartToController) {
  Fsm fsm = make(Start::kEstablished);
  fsm.handle(Event::kAutomaticStop);
  EXPECT_FALSE(fsm.timer_running(Timer::kIdleHold));
  EXPECT_EQ(fsm.connect_retry_counter(), 1u);
}

TEST(Fsm, NoAutoRestartWhenDisabled) {
  Config c = test_config();
  c.auto_restart = false;
  Fsm fsm(c);
  fsm.handle(Event::kManualStart);
  EXPECT_EQ(describe(fsm.handle(Event::kTcpConnectionFails)), "StopTimer(ConnectRetry) Disconnect");
  EXPECT_EQ(fsm.connect_retry_counter(), 1u);
}

TEST(Fsm, PassiveRestartStaysPassive) {
  Fsm fsm(test_config());
  fsm.handle(Event::kManualStartPassive);
  fsm.handle(Event::kTcpConnectionFails);
  EXPECT_EQ(describe(fsm.handle(Event::kIdleHoldTimerExpires)), "StartTimer(ConnectRetry 5000ms)");
  EXPECT_EQ(fsm.state(), State::kActive);
}

TEST(Fsm, ConfiguredPassiveNeverConnects) {
  Config c = test_config();
  c.passive = true;
  Fsm fsm(c);
  EXPECT_EQ(describe(fsm.handle(Event::kManualStart)), "StartTimer(ConnectRetry 5000ms)");
  EXPECT_EQ(fsm.state(), State::kActive);
  EXPECT_EQ(describe(fsm.handle(Event::kConnectRetryTimerExpires)), "StartTimer(ConnectRetry 5000ms)");
}

TEST(Fsm, NegotiatesSmallerHoldTime) {
  Fsm fsm = make(Start::kOpenSent);
  fsm.handle(Event::kBgpOpen, OpenReceived{30});
  EXPECT_EQ(fsm.negotiated_hold_time(), 30);
  Fsm other = make(Start::kOpenSent);
  other.handle(Event::kBgpOpen, OpenReceived{180});
  EXPECT_EQ(other.negotiated_hold_time(), 90);
}

TEST(Fsm, JitterStaysWithinRfcRangeAndIsSeeded) {
  // RFC 4271 §10: factor uniformly in [0.75, 1.0].
  std::set<Duration::rep> seen;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    Config c = test_config();
    c.jitter = true;
    c.seed = seed;
    Fsm fsm(c);
    auto actions = fsm.handle(Event::kManualStart);
    auto timer = std::get<action::StartTimer>(actions.front());
    EXPECT_GE(timer.after, std::chrono::duration_cast<Duration>(3750ms));
    EXPECT_LE(timer.after, std::chrono::duration_cast<Duration>(5000ms));
    seen.insert(timer.after.count());

    Fsm again(c);
    EXPECT_EQ(std::get<action::StartTimer>(again.handle(Event::kManualStart).front()).after, timer.after);
  }
  EXPECT_GT(seen.size(), 100u) << "jitter should spread the timers";
}

TEST(Fsm, AdministrativeShutdownCarriesMessage) {
  Fsm fsm = make(Start::kEstablished);
  auto actions = fsm.shutdown("maintenance");
  ASSERT_FALSE(actions.empty());
  auto sent = std::get<action::SendNotification>(actions.front()).notification;
  EXPECT_EQ(sent.code, code::kCease);
  EXPECT_EQ(sent.subcode, cease::kAdministrativeShutdown);
  EXPECT_EQ(sent.data, shutdown_communication("maintenance"));
  EXPECT_EQ(describe(actions),
            "SendNotification(6/2 len=12) SessionDown StopTimer(Hold) StopTimer(Keepalive) Disconnect");
  EXPECT_EQ(fsm.last_sent_notification(), sent);
  EXPECT_EQ(fsm.state(), State::kIdle);
}

TEST(Fsm, DeconfiguredAndReconfiguredPeersGetTheirCeaseWithoutMessage) {
  for (uint8_t subcode : {cease::kPeerDeconfigured, cease::kOtherConfigurationChange}) {
    Fsm fsm = make(Start::kEstablished);
    auto actions = fsm.shutdown("ignored", subcode);
    auto sent = std::get<action::SendNotification>(actions.front()).notification;
    EXPECT_EQ(sent.code, code::kCease);
    EXPECT_EQ(sent.subcode, subcode);
    EXPECT_TRUE(sent.data.empty()) << "RFC 8203 messages belong to Administrative Shutdown and Reset";
    EXPECT_EQ(fsm.state(), State::kIdle);
  }
  Fsm fsm = make(Start::kOpenConfirm);
  auto reset = std::get<action::SendNotification>(fsm.shutdown("reset", cease::kAdministrativeReset).front());
  EXPECT_EQ(reset.notification.data, shutdown_communication("reset"));
}

TEST(Fsm, ShutdownBeforeOpenIsManualStop) {
  Fsm fsm = make(Start::kConnect);
  EXPECT_EQ(describe(fsm.shutdown("bye")), "StopTimer(ConnectRetry) Disconnect");
}

TEST(ShutdownCommunication, LengthPrefixedAndCutAt255Octets) {
  EXPECT_EQ(shutdown_communication("ok"), (std::vector<uint8_t>{2, 'o', 'k'}));
  EXPECT_EQ(shutdown_communication(""), (std::vector<uint8_t>{0}));
  auto long_text = shutdown_communication(std::string(300, 'x'));
  EXPECT_EQ(long_text.size(), 256u);
  EXPECT_EQ(long_text[0], 255);
  // 254 ASCII bytes then a 2-byte "é": the cut must not split it.
  auto utf8 = shutdown_communication(std::string(254, 'a') + "\xc3\xa9");
  EXPECT_EQ(utf8[0], 254);
}

TEST(Collision, HigherIdentifierKeepsItsConnection) {
  EXPECT_TRUE(keep_locally_initiated(0xc6120002, 0xc6120001));
  EXPECT_FALSE(keep_locally_initiated(0xc6120001, 0xc6120002));
}

}  // namespace
}  // namespace tern::bgp::fsm
