// RFC 7606 error handling, case by case: each malformed UPDATE and the verdict it must
// get — attribute-discard, treat-as-withdraw, or a session reset with the exact
// NOTIFICATION. Cases name the section of RFC 7606 (or RFC 4271 / 6793) they check.
#include <gtest/gtest.h>

#include "bgp/wire/codec.hpp"
#include "tests/bgp/wire/wire_test_util.hpp"

namespace tern::bgp::wire {
namespace {

using testing::from_hex;

constexpr const char* kOrigin = "40 01 01 00 ";
constexpr const char* kAsPath = "40 02 06 02 01 0000fde9 ";
constexpr const char* kNextHop = "40 03 04 c6120001 ";

struct Case {
  const char* name;
  std::string attrs;        // the path attribute block, hex
  std::string nlri = "18 c6 12 08";
  bool ebgp = false;
  Verdict verdict = Verdict::kAccepted;  // when no reset is expected
  uint8_t reset_subcode = 0;             // UPDATE Message Error subcode when a reset is expected
  std::string withdrawn = "";
};

Case reset(const char* name, std::string attrs, uint8_t subcode) {
  Case c{name, std::move(attrs)};
  c.verdict = Verdict::kSessionReset;
  c.reset_subcode = subcode;
  return c;
}
Case verdict(const char* name, std::string attrs, Verdict v, bool ebgp = false) {
  Case c{name, std::move(attrs)};
  c.verdict = v;
  c.ebgp = ebgp;
  return c;
}

std::string base() { return std::string(kOrigin) + kAsPath + kNextHop; }

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> v{
        verdict("WellFormed", base(), Verdict::kAccepted),
        // §7.1 ORIGIN
        verdict("OriginLength2", std::string("40 01 02 0000 ") + kAsPath + kNextHop, Verdict::kTreatAsWithdraw),
        verdict("OriginUndefinedValue", std::string("40 01 01 03 ") + kAsPath + kNextHop, Verdict::kTreatAsWithdraw),
        verdict("OriginFlagsOptional", std::string("c0 01 01 00 ") + kAsPath + kNextHop, Verdict::kTreatAsWithdraw),
        // §7.2 AS_PATH
        verdict("AsPathUndefinedSegmentType", std::string(kOrigin) + "40 02 06 05 01 0000fde9 " + kNextHop,
                Verdict::kTreatAsWithdraw),
        verdict("AsPathZeroLengthSegment", std::string(kOrigin) + "40 02 02 02 00 " + kNextHop, Verdict::kTreatAsWithdraw),
        verdict("AsPathSegmentOverrun", std::string(kOrigin) + "40 02 06 02 02 0000fde9 " + kNextHop,
                Verdict::kTreatAsWithdraw),
        verdict("AsPathConfedFromExternalPeer", std::string(kOrigin) + "40 02 06 03 01 0000fde9 " + kNextHop,
                Verdict::kTreatAsWithdraw, true),
        verdict("AsPathConfedFromInternalPeer", std::string(kOrigin) + "40 02 06 03 01 0000fde9 " + kNextHop,
                Verdict::kAccepted),
        // §7.3 NEXT_HOP
        verdict("NextHopLength5", std::string(kOrigin) + kAsPath + "40 03 05 c612000101", Verdict::kTreatAsWithdraw),
        verdict("NextHopZero", std::string(kOrigin) + kAsPath + "40 03 04 00000000", Verdict::kTreatAsWithdraw),
        verdict("NextHopMulticast", std::string(kOrigin) + kAsPath + "40 03 04 e0000001", Verdict::kTreatAsWithdraw),
        // §7.4 MULTI_EXIT_DISC
        verdict("MedLength3", base() + "80 04 03 000064", Verdict::kTreatAsWithdraw),
        verdict("MedAsWellKnown", base() + "40 04 04 00000064", Verdict::kTreatAsWithdraw),
        // §7.5 LOCAL_PREF
        verdict("LocalPrefFromExternalPeer", base() + "40 05 04 00000064", Verdict::kAttributeDiscard, true),
        verdict("LocalPrefLength3", base() + "40 05 03 000064", Verdict::kTreatAsWithdraw),
        // §7.6 ATOMIC_AGGREGATE
        verdict("AtomicAggregateLength1", base() + "40 06 01 00", Verdict::kAttributeDiscard),
        // §7.7 AGGREGATOR
        verdict("AggregatorLength7", base() + "c0 07 07 0000fde9 c61200", Verdict::kAttributeDiscard),
        // §7.8 COMMUNITIES
        verdict("CommunitiesEmpty", base() + "c0 08 00", Verdict::kTreatAsWithdraw),
        verdict("CommunitiesLength5", base() + "c0 08 05 fde8006401", Verdict::kTreatAsWithdraw),
        // §7.9 ORIGINATOR_ID
        verdict("OriginatorIdLength3", base() + "80 09 03 c61200", Verdict::kTreatAsWithdraw),
        verdict("OriginatorIdFromExternalPeer", base() + "80 09 04 c6120005", Verdict::kAttributeDiscard, true),
        // §7.10 CLUSTER_LIST
        verdict("ClusterListLength6", base() + "80 0a 06 c6120005 0000", Verdict::kTreatAsWithdraw),
        // §7.14 EXTENDED_COMMUNITIES, RFC 8092 §5 LARGE_COMMUNITY
        verdict("ExtendedCommunitiesLength7", base() + "c0 10 07 0002fde8000000", Verdict::kTreatAsWithdraw),
        verdict("LargeCommunityLength11", base() + "c0 20 0b 0000fde8 00000001 000000", Verdict::kTreatAsWithdraw),
        // §3(d) missing well-known mandatory attributes
        verdict("OriginMissing", std::string(kAsPath) + kNextHop, Verdict::kTreatAsWithdraw),
        verdict("AsPathMissing", std::string(kOrigin) + kNextHop, Verdict::kTreatAsWithdraw),
        verdict("NextHopMissing", std::string(kOrigin) + kAsPath, Verdict::kTreatAsWithdraw),
        // §3(g) repeated attributes
        verdict("RepeatedMed", base() + "80 04 04 00000001 80 04 04 00000002", Verdict::kAttributeDiscard),
        // §4 an attribute that overruns the attribute block
        verdict("AttributeOverrun", base() + "c0 08 08 fde80064", Verdict::kTreatAsWithdraw),
        verdict("AttributeHeaderTruncated", base() + "c0", Verdict::kTreatAsWithdraw),
        // RFC 6793 §6: malformed AS4 attributes from an OLD speaker are discarded (see As4 tests);
        // from a NEW speaker they are not used at all.
        verdict("As4AggregatorFromNewSpeaker", base() + "c0 12 08 fa56ea00 c6120009", Verdict::kAttributeDiscard),
        // RFC 4271 §6.3: unrecognized well-known attribute
        reset("UnrecognizedWellKnown", base() + "40 63 01 00", update_error::kUnrecognizedWellKnownAttribute),
        // §7.11 MP_REACH_NLRI / MP_UNREACH_NLRI: the NLRI cannot be located
        reset("MpReachNextHopLength5", base() + "80 0e 0b 0002 01 05 2001db8000 00 00", update_error::kOptionalAttributeError),
        reset("MpReachBadPrefixLength", base() + "80 0e 16 0002 01 10 20010db8000000000000000000000001 00 81",
              update_error::kOptionalAttributeError),
        reset("MpReachTruncated", base() + "80 0e 02 0002", update_error::kOptionalAttributeError),
        reset("MpUnreachBadPrefix", base() + "80 0f 05 0002 01 40 20", update_error::kOptionalAttributeError),
        reset("MpReachWrongFlags", base() + "40 0e 05 0002 01 00 00", update_error::kAttributeFlagsError),
        // §3(g): MP_REACH_NLRI twice
        reset("MpUnreachTwice",
              base() + "80 0f 03 0002 01  80 0f 03 0002 01", update_error::kMalformedAttributeList),
    };
    // §5.3 / RFC 4271 §6.3: NLRI and withdrawn routes that cannot be parsed
    Case bad_nlri = reset("NlriPrefixLength33", base(), update_error::kInvalidNetworkField);
    bad_nlri.nlri = "21 c6120008 00";
    v.push_back(bad_nlri);
    Case bad_withdrawn = reset("WithdrawnOverrun", base(), update_error::kInvalidNetworkField);
    bad_withdrawn.withdrawn = "18 c612";
    v.push_back(bad_withdrawn);
    // An UPDATE that only withdraws needs no mandatory attributes.
    Case withdraw_only{"WithdrawOnly", ""};
    withdraw_only.nlri = "";
    withdraw_only.withdrawn = "18 c6 12 08";
    v.push_back(withdraw_only);
    return v;
  }();
  return all;
}

class Rfc7606 : public ::testing::TestWithParam<Case> {};

TEST_P(Rfc7606, Verdict) {
  const Case& c = GetParam();
  Context ctx;
  ctx.ebgp = c.ebgp;
  auto bytes = testing::update_message(from_hex(c.withdrawn), from_hex(c.attrs), from_hex(c.nlri));
  auto r = decode_message(bytes, ctx);
  if (c.verdict == Verdict::kSessionReset) {
    ASSERT_FALSE(r.ok()) << "expected a session reset";
    EXPECT_EQ(r.error().code, static_cast<uint8_t>(ErrorCode::kUpdateMessage));
    EXPECT_EQ(r.error().subcode, c.reset_subcode) << r.error().reason;
    EXPECT_FALSE(r.error().reason.empty());
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(verdict_name(r.value().verdict), verdict_name(c.verdict));
  EXPECT_EQ(r.value().problems.empty(), c.verdict == Verdict::kAccepted);
  if (c.verdict == Verdict::kTreatAsWithdraw) {
    // The prefixes are still there, so the RIB can withdraw them.
    EXPECT_EQ(std::get<Update>(r.value().message).nlri.size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Rfc7606, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Rfc7606, UnrecognizedWellKnownCarriesTheAttribute) {
  auto bytes = testing::update_message({}, from_hex(base() + "40 63 01 07"), from_hex("18 c6 12 08"));
  auto r = decode_message(bytes, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().data, from_hex("40 63 01 07"));
}

TEST(Rfc7606, AttributeDiscardKeepsTheRest) {
  Context ebgp;
  ebgp.ebgp = true;
  auto bytes = testing::update_message({}, from_hex(base() + "40 05 04 00000064 80 04 04 0000000a"), from_hex("18 c6 12 08"));
  auto r = decode_message(bytes, ebgp);
  ASSERT_TRUE(r.ok());
  const auto& a = std::get<Update>(r.value().message).attributes;
  EXPECT_FALSE(a.local_pref.has_value());
  EXPECT_EQ(a.med, 10u);
}

TEST(Rfc7606, TotalAttributeLengthBeyondTheMessageIsAReset) {
  auto bytes = testing::update_message({}, from_hex(base()), from_hex("18 c6 12 08"));
  bytes[21] = 0x01;  // the attribute length now claims 256+ octets
  auto r = decode_message(bytes, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().subcode, update_error::kMalformedAttributeList);
}

}  // namespace
}  // namespace tern::bgp::wire
