// OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH and the framer: golden bytes both ways,
// and each header and OPEN error with the NOTIFICATION it must give.
#include <gtest/gtest.h>

#include "bgp/wire/codec.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/framer.hpp"
#include "tests/bgp/wire/wire_test_util.hpp"

namespace tern::bgp::wire {
namespace {

using testing::from_hex;
using testing::to_hex;

const std::string kMarker = "ffffffffffffffffffffffffffffffff";

Message decoded(const std::vector<uint8_t>& bytes, const Context& ctx = {}) {
  auto r = decode_message(bytes, ctx);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
  return r.ok() ? r.value().message : Message{Keepalive{}};
}

DecodeError failed(const std::vector<uint8_t>& bytes, const Context& ctx = {}) {
  auto r = decode_message(bytes, ctx);
  EXPECT_FALSE(r.ok()) << "decoded: " << (r.ok() ? describe(r.value().message) : "");
  return r.ok() ? DecodeError{} : r.error();
}

TEST(Keepalive, GoldenBytes) {
  auto bytes = encode_message(Keepalive{}, {});
  EXPECT_EQ(to_hex(bytes), kMarker + "001304");
  EXPECT_TRUE(std::holds_alternative<Keepalive>(decoded(bytes)));
}

TEST(Keepalive, WithABodyIsBadLength) {
  auto e = failed(from_hex(kMarker + "001404 00"));
  EXPECT_EQ(e.code, 1);
  EXPECT_EQ(e.subcode, header_error::kBadMessageLength);
  EXPECT_EQ(e.data, (std::vector<uint8_t>{0x00, 0x14}));
}

// OPEN from AS 65001, hold 90, id 198.18.0.1; MP ipv4-unicast, route refresh, 4-octet AS.
const std::string kOpen = kMarker + "002d01 04 fde9 005a c6120001 10 02 0e 01040001 0001 0200 4104 0000fde9";

TEST(Open, DecodesGoldenBytes) {
  auto m = decoded(from_hex(kOpen));
  const auto& open = std::get<Open>(m);
  EXPECT_EQ(open.version, 4);
  EXPECT_EQ(open.asn(), 65001u);
  EXPECT_EQ(open.hold_time, 90);
  EXPECT_EQ(bgp_id_to_string(open.bgp_identifier), "198.18.0.1");
  EXPECT_EQ(open.capabilities.multiprotocol, (std::vector<AddressFamily>{kIpv4Unicast}));
  EXPECT_TRUE(open.capabilities.route_refresh);
  EXPECT_EQ(open.capabilities.four_octet_as, 65001u);
  EXPECT_EQ(to_hex(encode_message(open, {})), to_hex(from_hex(kOpen)));
}

Open full_open() {
  Open o;
  o.my_as = static_cast<uint16_t>(kAsTrans);
  o.hold_time = 3;
  o.bgp_identifier = 0xc6120002;
  auto& c = o.capabilities;
  c.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
  c.route_refresh = true;
  c.enhanced_route_refresh = true;
  c.extended_message = true;
  c.four_octet_as = 4200000001u;
  c.graceful_restart = GracefulRestart{true, true, 120, {{kIpv4Unicast, true}, {kIpv6Unicast, false}}};
  c.long_lived_graceful_restart = std::vector<LongLivedGracefulRestartFamily>{{kIpv4Unicast, 0x80, 86400}};
  c.add_path = {{kIpv4Unicast, AddPathMode::kBoth}, {kIpv6Unicast, AddPathMode::kReceive}};
  c.extended_next_hop = {{Afi::kIpv4, 1, Afi::kIpv6}};
  c.fqdn = Fqdn{"node-1", "example.net"};
  c.unknown = {{128, {}}, {200, {1, 2, 3}}};
  return o;
}

TEST(Open, EveryCapabilityRoundTrips) {
  Open o = full_open();
  auto bytes = encode_message(o, {});
  auto m = decoded(bytes);
  EXPECT_EQ(std::get<Open>(m), o);
  EXPECT_EQ(std::get<Open>(m).asn(), 4200000001u);
}

TEST(Open, ExtendedOptionalParametersRfc9072) {
  Open o = full_open();
  for (uint8_t code = 210; code < 250; ++code) o.capabilities.unknown.push_back({code, std::vector<uint8_t>(8, code)});
  auto bytes = encode_message(o, {});
  ASSERT_GT(bytes.size(), 19u + 10u + 255u);
  EXPECT_EQ(bytes[28], 255) << "non-extended length";
  EXPECT_EQ(bytes[29], 255) << "extended parameters marker";
  EXPECT_EQ(std::get<Open>(decoded(bytes)), o);
}

struct OpenErrorCase {
  const char* name;
  std::string body;  // after the header
  uint8_t subcode;
  std::vector<uint8_t> data;
};

class OpenErrors : public ::testing::TestWithParam<OpenErrorCase> {};

TEST_P(OpenErrors, GiveTheNotificationOfRfc4271) {
  auto body = from_hex(GetParam().body);
  auto r = decode_body(MessageType::kOpen, body, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 2);
  EXPECT_EQ(r.error().subcode, GetParam().subcode) << r.error().reason;
  EXPECT_EQ(r.error().data, GetParam().data);
  EXPECT_FALSE(r.error().reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4271, OpenErrors,
    ::testing::Values(
        OpenErrorCase{"UnsupportedVersion", "03 fde9 005a c6120001 00", open_error::kUnsupportedVersion, {0, 4}},
        OpenErrorCase{"HoldTimeOne", "04 fde9 0001 c6120001 00", open_error::kUnacceptableHoldTime, {}},
        OpenErrorCase{"HoldTimeTwo", "04 fde9 0002 c6120001 00", open_error::kUnacceptableHoldTime, {}},
        OpenErrorCase{"ZeroIdentifier", "04 fde9 005a 00000000 00", open_error::kBadBgpIdentifier, {}},
        OpenErrorCase{"UnknownParameter", "04 fde9 005a c6120001 04 01 02 0000", open_error::kUnsupportedOptionalParameter, {}},
        OpenErrorCase{"ParametersLongerThanMessage", "04 fde9 005a c6120001 08 02 02 0200", open_error::kUnspecific, {}},
        OpenErrorCase{"ParametersShorterThanMessage", "04 fde9 005a c6120001 02 02 00 ff", open_error::kUnspecific, {}},
        OpenErrorCase{"CapabilityOverrunsParameter", "04 fde9 005a c6120001 04 02 02 4104", open_error::kUnspecific, {}},
        OpenErrorCase{"FourOctetAsOfBadLength", "04 fde9 005a c6120001 06 02 04 4102 fde9", open_error::kUnspecific, {}},
        OpenErrorCase{"MultiprotocolOfBadLength", "04 fde9 005a c6120001 05 02 03 0101 00", open_error::kUnspecific, {}},
        OpenErrorCase{"AddPathBadMode", "04 fde9 005a c6120001 08 02 06 4504 0001 0107", open_error::kUnspecific, {}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Open, HoldTimeZeroIsAccepted) {
  EXPECT_TRUE(decode_body(MessageType::kOpen, from_hex("04 fde9 0000 c6120001 00"), {}).ok());
}

TEST(Notification, RoundTripsWithShutdownCommunication) {
  Notification n{6, 2, {11, 'm', 'a', 'i', 'n', 't', 'e', 'n', 'a', 'n', 'c', 'e'}};
  auto bytes = encode_message(n, {});
  EXPECT_EQ(to_hex(bytes), kMarker + "002103" + "0602" + "0b6d61696e74656e616e6365");
  auto m = decoded(bytes);
  EXPECT_EQ(std::get<Notification>(m), n);
  EXPECT_EQ(shutdown_message(6, 2, n.data), "maintenance");
  EXPECT_EQ(describe(m), "NOTIFICATION 6/2 Cease / Administrative Shutdown \"maintenance\"");
}

TEST(Notification, ShutdownMessageLongerThanItsDataIsNotTrusted) {
  EXPECT_EQ(shutdown_message(6, 2, {20, 'x'}), std::nullopt);
  EXPECT_EQ(shutdown_message(6, 3, {1, 'x'}), std::nullopt) << "only subcodes 2 and 4 carry one";
}

TEST(Notification, NamesEveryCodeAndSubcode) {
  EXPECT_EQ(error_subcode_name(1, 3), "Bad Message Type");
  EXPECT_EQ(error_subcode_name(2, 7), "Unsupported Capability");
  EXPECT_EQ(error_subcode_name(3, 11), "Malformed AS_PATH");
  EXPECT_EQ(error_subcode_name(5, 3), "Receive Unexpected Message in Established State");
  EXPECT_EQ(error_subcode_name(6, 9), "Hard Reset");
  EXPECT_EQ(error_subcode_name(7, 1), "Invalid Message Length");
  EXPECT_EQ(error_code_name(4), "Hold Timer Expired");
  EXPECT_EQ(notification_to_string(3, 99, {1}), "3/99 UPDATE Message Error data 01");
}

TEST(Notification, TooShortIsBadLength) {
  auto e = failed(from_hex(kMarker + "001403 06"));
  EXPECT_EQ(e.subcode, header_error::kBadMessageLength);
}

TEST(RouteRefresh, SubtypesRoundTrip) {
  for (uint8_t subtype : {0, 1, 2, 7}) {
    RouteRefresh rr{kIpv6Unicast, subtype};
    auto bytes = encode_message(rr, {});
    EXPECT_EQ(bytes.size(), 23u);
    EXPECT_EQ(std::get<RouteRefresh>(decoded(bytes)), rr);
  }
  EXPECT_EQ(to_hex(encode_message(RouteRefresh{kIpv4Unicast, RouteRefresh::kBeginning}, {})),
            kMarker + "001705" + "00010101");
}

TEST(RouteRefresh, BadLengthCarriesTheMessageRfc7313) {
  auto bytes = from_hex(kMarker + "001805 0001000100");
  auto e = failed(bytes);
  EXPECT_EQ(e.code, 7);
  EXPECT_EQ(e.subcode, route_refresh_error::kInvalidMessageLength);
  EXPECT_EQ(e.data, bytes);
}

TEST(Framer, SplitsAStream) {
  auto stream = encode_message(Keepalive{}, {});
  auto open = from_hex(kOpen);
  stream.insert(stream.end(), open.begin(), open.end());
  std::span<const uint8_t> rest(stream);
  auto f = next_frame(rest);
  ASSERT_EQ(f.status, Frame::Status::kMessage);
  EXPECT_EQ(f.message.size(), 19u);
  rest = rest.subspan(f.message.size());
  EXPECT_EQ(next_frame(rest.first(30)).status, Frame::Status::kNeedMore);
  EXPECT_EQ(next_frame(rest.first(5)).status, Frame::Status::kNeedMore);
  f = next_frame(rest);
  ASSERT_EQ(f.status, Frame::Status::kMessage);
  EXPECT_EQ(f.message.size(), open.size());
}

struct HeaderCase {
  const char* name;
  std::string header;
  uint8_t subcode;
  std::vector<uint8_t> data;
  size_t max = kMaxMessageSize;
};

class HeaderErrors : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(HeaderErrors, GiveRfc4271Section61Notifications) {
  auto bytes = from_hex(GetParam().header);
  auto f = next_frame(bytes, GetParam().max);
  ASSERT_EQ(f.status, Frame::Status::kError);
  EXPECT_EQ(f.error.code, 1);
  EXPECT_EQ(f.error.subcode, GetParam().subcode);
  EXPECT_EQ(f.error.data, GetParam().data);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4271, HeaderErrors,
    ::testing::Values(HeaderCase{"BadMarker", "ffffffffffffffffffffffffffff00ff 0013 04", 1, {}},
                      HeaderCase{"LengthBelow19", kMarker + "0012 04", 2, {0x00, 0x12}},
                      HeaderCase{"LengthAbove4096", kMarker + "1001 02", 2, {0x10, 0x01}},
                      HeaderCase{"TypeZero", kMarker + "0013 00", 3, {0}},
                      HeaderCase{"TypeSix", kMarker + "0013 06", 3, {6}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Framer, ExtendedMessageAllowsUpTo65535) {
  auto bytes = from_hex(kMarker + "1001 02");
  EXPECT_EQ(next_frame(bytes, kMaxExtendedMessageSize).status, Frame::Status::kNeedMore);
}

TEST(Open, OversizedOpenIsRejectedEvenWithExtendedMessages) {
  Context ctx;
  ctx.extended_message = true;
  std::vector<uint8_t> bytes = from_hex(kMarker + "1001 01");
  bytes.resize(4097, 0);
  EXPECT_EQ(failed(bytes, ctx).subcode, header_error::kBadMessageLength);
}

}  // namespace
}  // namespace tern::bgp::wire
