// The MRT reader and writer: a TABLE_DUMP_V2 written and read back, BGP4MP records, and
// damaged files that must fail with the offset of the bad record, after what decoded.
#include "bgp/mrt/mrt.hpp"

#include <gtest/gtest.h>

namespace tern::bgp::mrt {
namespace {

Prefix prefix(const char* s) { return *Prefix::parse(s); }
IpAddress address(const char* s) { return *IpAddress::parse(s); }

PeerIndexTable peers() {
  return {0xc6120001, "tern", {{0xc6120002, address("198.18.0.2"), 65002}, {0xc6120003, address("2001:db8::3"), 4200000003u}}};
}

std::vector<Rib> ribs() {
  RibEntry v4;
  v4.peer_index = 0;
  v4.originated = 1700000000;
  v4.attributes.origin = wire::Origin::kIgp;
  v4.attributes.as_path = wire::AsPath{{{wire::AsSegmentType::kSequence, {65002, 4200000000u}}}};
  v4.attributes.next_hop = address("198.18.0.2");
  v4.attributes.communities = {0xfde80064};
  v4.attributes.large_communities = {{65002, 1, 2}};
  RibEntry v6;
  v6.peer_index = 1;
  v6.originated = 1700000001;
  v6.attributes.origin = wire::Origin::kIncomplete;
  v6.attributes.as_path = wire::AsPath{{{wire::AsSegmentType::kSequence, {4200000003u}}}};
  v6.attributes.mp_reach = wire::MpReach{wire::kIpv6Unicast, address("2001:db8::3"), address("fe80::3"), {}};
  return {{0, prefix("198.18.8.0/24"), {v4}}, {1, prefix("2001:db8:8::/48"), {v6}}};
}

std::vector<Record> read_all(const std::vector<uint8_t>& bytes, std::optional<Error>* error = nullptr) {
  Reader reader(bytes);
  std::vector<Record> out;
  while (auto next = reader.next()) {
    if (!*next) {
      if (error) *error = next->error();
      break;
    }
    out.push_back(std::move(next->value()));
  }
  return out;
}

TEST(Mrt, TableDumpRoundTrips) {
  auto bytes = write_table_dump(1700000100, peers(), ribs());
  auto records = read_all(bytes);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].type, 13);
  EXPECT_EQ(records[0].subtype, table_dump_v2::kPeerIndexTable);
  EXPECT_EQ(std::get<PeerIndexTable>(records[0].body), peers());
  EXPECT_EQ(records[1].subtype, table_dump_v2::kRibIpv4Unicast);
  EXPECT_EQ(std::get<Rib>(records[1].body), ribs()[0]);
  EXPECT_EQ(records[2].subtype, table_dump_v2::kRibIpv6Unicast);
  EXPECT_EQ(std::get<Rib>(records[2].body), ribs()[1]);
  EXPECT_EQ(records[2].timestamp, 1700000100u);
}

TEST(Mrt, Bgp4mpMessagesKeepTheirContext) {
  Bgp4mpMessage m;
  m.peer_as = 4200000001u;
  m.local_as = 65001;
  m.peer_address = address("198.18.0.1");
  m.local_address = address("198.18.0.2");
  m.bytes = wire::encode_message(wire::Keepalive{}, {});
  std::vector<uint8_t> bytes;
  write_bgp4mp_message(1700000000, m, bytes);
  m.local = true;
  write_bgp4mp_message(1700000001, m, bytes);
  auto records = read_all(bytes);
  ASSERT_EQ(records.size(), 2u);
  const auto& received = std::get<Bgp4mpMessage>(records[0].body);
  EXPECT_EQ(received.peer_as, 4200000001u);
  EXPECT_FALSE(received.local);
  EXPECT_TRUE(received.context.four_octet_as);
  EXPECT_EQ(received.bytes, m.bytes);
  EXPECT_TRUE(std::get<Bgp4mpMessage>(records[1].body).local);
}

TEST(Mrt, TruncatedFileFailsAtTheRecordAfterWhatDecoded) {
  auto bytes = write_table_dump(1, peers(), ribs());
  bytes.resize(bytes.size() - 5);
  std::optional<Error> error;
  auto records = read_all(bytes, &error);
  EXPECT_EQ(records.size(), 2u) << "the records before the damage still decode";
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, Errc::kMalformed);
  EXPECT_NE(error->message.find("truncated"), std::string::npos) << error->message;
  Reader reader(bytes);
  size_t last_offset = 0;
  while (auto next = reader.next()) {
    if (!*next) break;
    last_offset = next->value().offset;
  }
  // The damaged record is the third: it starts where the second one ends.
  auto second = write_table_dump(1, peers(), {ribs()[0]});
  EXPECT_NE(error->message.find("offset " + std::to_string(second.size())), std::string::npos) << error->message;
  EXPECT_EQ(last_offset, records[1].offset);
}

TEST(Mrt, RecordBodyTooShortForItsContent) {
  // A RIB_IPV4_UNICAST whose entry count promises an entry that is not there.
  std::vector<uint8_t> bytes{0, 0, 0, 1, 0, 13, 0, 2, 0, 0, 0, 10,  // header: length 10
                             0, 0, 0, 0, 24, 198, 18, 8, 0, 1};       // seq, /24, count 1
  std::optional<Error> error;
  read_all(bytes, &error);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("offset 0"), std::string::npos) << error->message;
  EXPECT_NE(error->message.find("198.18.8.0/24"), std::string::npos) << error->message;
}

TEST(Mrt, PrefixLongerThanItsFamilyIsAnError) {
  std::vector<uint8_t> bytes{0, 0, 0, 1, 0, 13, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 33, 0, 0};
  std::optional<Error> error;
  read_all(bytes, &error);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("bad length 33"), std::string::npos) << error->message;
}

TEST(Mrt, UnknownTypesAreSkippedNotFatal) {
  std::vector<uint8_t> bytes{0, 0, 0, 1, 0, 11, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb};  // type 11 (OSPFv2)
  auto tail = write_table_dump(2, peers(), {});
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  auto records = read_all(bytes);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<Unsupported>(records[0].body));
  EXPECT_TRUE(std::holds_alternative<PeerIndexTable>(records[1].body));
}

TEST(Mrt, StateNames) {
  EXPECT_EQ(state_name(1), "Idle");
  EXPECT_EQ(state_name(6), "Established");
  EXPECT_EQ(state_name(9), "?");
}

}  // namespace
}  // namespace tern::bgp::mrt
