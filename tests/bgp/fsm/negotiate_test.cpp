// OPEN negotiation: every refusal with its exact NOTIFICATION, and what two speakers agree on.
#include "bgp/fsm/negotiate.hpp"

#include <gtest/gtest.h>

namespace tern::bgp::fsm {
namespace {

using wire::AddPathMode;
using wire::kIpv4Unicast;
using wire::kIpv6Unicast;

LocalOffer local() {
  LocalOffer l;
  l.asn = 65001;
  l.bgp_id = 0xc6120001;
  l.hold_time = 90;
  l.families = {kIpv4Unicast, kIpv6Unicast};
  return l;
}

// The peer's OPEN as its own make_open would build it.
wire::Open peer_open(wire::Asn asn, uint32_t id, uint16_t hold = 90) {
  LocalOffer p = local();
  p.asn = asn;
  p.bgp_id = id;
  p.hold_time = hold;
  return make_open(p);
}

wire::DecodeError refused(const std::variant<Negotiated, wire::DecodeError>& r) {
  EXPECT_TRUE(std::holds_alternative<wire::DecodeError>(r)) << "expected a refusal";
  return std::holds_alternative<wire::DecodeError>(r) ? std::get<wire::DecodeError>(r) : wire::DecodeError{};
}

TEST(MakeOpen, FourOctetAsGoesInTheCapability) {
  LocalOffer l = local();
  l.asn = 4200000001u;
  auto o = make_open(l);
  EXPECT_EQ(o.my_as, wire::kAsTrans);
  EXPECT_EQ(o.capabilities.four_octet_as, 4200000001u);
  EXPECT_EQ(o.asn(), 4200000001u);
  EXPECT_TRUE(o.capabilities.route_refresh);
  EXPECT_FALSE(o.capabilities.enhanced_route_refresh) << "tern sends no BoRR/EoRR (RFC 7313)";
  EXPECT_EQ(make_open(local()).my_as, 65001);
}

TEST(MakeOpen, GracefulRestartAsOfferedAndBackFromTheWire) {
  LocalOffer l = local();
  EXPECT_FALSE(make_open(l).capabilities.graceful_restart) << "not offered unless configured";
  l.graceful_restart = wire::GracefulRestart{true, false, 120, {{kIpv4Unicast, true}}};
  auto bytes = wire::encode_message(make_open(l), {});
  auto decoded = wire::decode_message(bytes, {});
  ASSERT_TRUE(decoded);
  const auto* open = std::get_if<wire::Open>(&decoded.value().message);
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(open->capabilities.graceful_restart, l.graceful_restart);
}

TEST(Negotiate, AgreesOnTheSmallerHoldTimeAndCommonFamilies) {
  auto peer = peer_open(65002, 0xc6120002, 30);
  peer.capabilities.multiprotocol = {kIpv4Unicast};
  auto r = negotiate(local(), {65002, false}, peer);
  ASSERT_TRUE(std::holds_alternative<Negotiated>(r));
  const auto& n = std::get<Negotiated>(r);
  EXPECT_EQ(n.peer_as, 65002u);
  EXPECT_EQ(n.hold_time, 30);
  EXPECT_EQ(n.families, std::vector<wire::AddressFamily>{kIpv4Unicast});
  EXPECT_TRUE(n.four_octet_as);
  EXPECT_TRUE(n.route_refresh);
}

TEST(Negotiate, PeerWithoutMultiprotocolDoesIpv4Only) {
  auto peer = peer_open(65002, 0xc6120002);
  peer.capabilities = {};
  auto n = std::get<Negotiated>(negotiate(local(), {65002, false}, peer));
  EXPECT_EQ(n.families, std::vector<wire::AddressFamily>{kIpv4Unicast});
  EXPECT_FALSE(n.four_octet_as);
  EXPECT_FALSE(n.decode_context(true).four_octet_as) << "a 2-octet peer's AS_PATH is 2-octet";
}

TEST(Negotiate, BadPeerAs) {
  auto e = refused(negotiate(local(), {65002, false}, peer_open(65003, 0xc6120002)));
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.subcode, wire::open_error::kBadPeerAs);
  EXPECT_EQ(e.data, (std::vector<uint8_t>{0xfd, 0xeb}));
  EXPECT_NE(e.reason.find("expected 65002"), std::string::npos) << e.reason;
}

TEST(Negotiate, InternalSessionNeedsOurAs) {
  auto e = refused(negotiate(local(), {std::nullopt, true}, peer_open(65009, 0xc6120002)));
  EXPECT_EQ(e.subcode, wire::open_error::kBadPeerAs);
  EXPECT_TRUE(std::holds_alternative<Negotiated>(negotiate(local(), {std::nullopt, true}, peer_open(65001, 0xc6120002))));
}

TEST(Negotiate, AsTransWithoutTheCapabilityIsABadPeerAs) {
  auto peer = peer_open(65002, 0xc6120002);
  peer.my_as = static_cast<uint16_t>(wire::kAsTrans);
  peer.capabilities.four_octet_as.reset();
  EXPECT_EQ(refused(negotiate(local(), {std::nullopt, false}, peer)).subcode, wire::open_error::kBadPeerAs);
}

TEST(Negotiate, BadBgpIdentifier) {
  EXPECT_EQ(refused(negotiate(local(), {65001, true}, peer_open(65001, 0xc6120001))).subcode,
            wire::open_error::kBadBgpIdentifier)
      << "an internal peer with our identifier";
  EXPECT_TRUE(std::holds_alternative<Negotiated>(negotiate(local(), {65002, false}, peer_open(65002, 0xc6120001))))
      << "RFC 6286: an external peer may share it";
  EXPECT_EQ(refused(negotiate(local(), {65002, false}, peer_open(65002, 0))).subcode,
            wire::open_error::kBadBgpIdentifier);
}

TEST(Negotiate, UnacceptableHoldTime) {
  EXPECT_EQ(refused(negotiate(local(), {65002, false}, peer_open(65002, 0xc6120002, 2))).subcode,
            wire::open_error::kUnacceptableHoldTime);
  EXPECT_EQ(std::get<Negotiated>(negotiate(local(), {65002, false}, peer_open(65002, 0xc6120002, 0))).hold_time, 0);
}

TEST(Negotiate, NoCommonFamilyIsUnsupportedCapability) {
  auto peer = peer_open(65002, 0xc6120002);
  peer.capabilities.multiprotocol = {{wire::Afi::kIpv4, wire::Safi::kMulticast}};
  auto e = refused(negotiate(local(), {65002, false}, peer));
  EXPECT_EQ(e.subcode, wire::open_error::kUnsupportedCapability);
  wire::Capabilities data;
  ASSERT_FALSE(wire::decode_capabilities(e.data, data));
  EXPECT_EQ(data.multiprotocol, local().families) << "the data names the capabilities we needed";
}

TEST(Negotiate, AddPathIsDirectional) {
  LocalOffer l = local();
  l.add_path = {{kIpv4Unicast, AddPathMode::kBoth}, {kIpv6Unicast, AddPathMode::kReceive}};
  auto peer = peer_open(65002, 0xc6120002);
  peer.capabilities.add_path = {{kIpv4Unicast, AddPathMode::kReceive}, {kIpv6Unicast, AddPathMode::kBoth}};
  auto n = std::get<Negotiated>(negotiate(l, {65002, false}, peer));
  EXPECT_EQ(n.add_path_send, std::vector<wire::AddressFamily>{kIpv4Unicast});
  EXPECT_EQ(n.add_path_receive, std::vector<wire::AddressFamily>{kIpv6Unicast});
  EXPECT_FALSE(n.decode_context(false).add_path_ipv4);
  EXPECT_TRUE(n.decode_context(false).add_path_ipv6);
  EXPECT_TRUE(n.encode_context(false).add_path_ipv4);
  EXPECT_FALSE(n.encode_context(false).add_path_ipv6);
}

TEST(Negotiate, ExtendedMessageAndNextHopNeedBothSides) {
  LocalOffer l = local();
  l.extended_message = true;
  l.extended_next_hop = {{wire::Afi::kIpv4, 1, wire::Afi::kIpv6}};
  auto peer = peer_open(65002, 0xc6120002);
  auto n = std::get<Negotiated>(negotiate(l, {65002, false}, peer));
  EXPECT_FALSE(n.extended_message);
  EXPECT_FALSE(n.extended_next_hop);
  peer.capabilities.extended_message = true;
  peer.capabilities.extended_next_hop = l.extended_next_hop;
  peer.capabilities.fqdn = wire::Fqdn{"tor-1", "lab"};
  n = std::get<Negotiated>(negotiate(l, {65002, false}, peer));
  EXPECT_TRUE(n.extended_message);
  EXPECT_TRUE(n.extended_next_hop);
  EXPECT_EQ(n.decode_context(true).max_message_size(), 65535u);
  EXPECT_EQ(n.peer_hostname, "tor-1");
}

}  // namespace
}  // namespace tern::bgp::fsm
