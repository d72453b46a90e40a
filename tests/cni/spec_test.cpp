// The CNI specification core: environment, configuration, results in every version.
#include "cni/spec.hpp"

#include <gtest/gtest.h>

#include <map>

namespace tern::cni {
namespace {

using nlohmann::json;

Code code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Failure& f) {
    return f.code;
  }
  return Code::kInternal;
}

Environment env_of(std::map<std::string, std::string> vars) {
  return parse_environment([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(CniSpec, EnvironmentOfAnAdd) {
  auto env = env_of({{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "abc-1.x_y"}, {"CNI_NETNS", "/var/run/netns/p"},
                     {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/opt/cni/bin::/usr/lib/cni"},
                     {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=shop"}});
  EXPECT_EQ(env.command, Command::kAdd);
  EXPECT_EQ(env.path, (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(env.args.at("K8S_POD_NAME"), "web-0");
  EXPECT_EQ(env.args.at("K8S_POD_NAMESPACE"), "shop");
}

TEST(CniSpec, DelNeedsNoNamespaceButAddDoes) {
  std::map<std::string, std::string> vars{{"CNI_CONTAINERID", "c"}, {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/x"}};
  vars["CNI_COMMAND"] = "DEL";
  EXPECT_NO_THROW(env_of(vars));
  vars["CNI_COMMAND"] = "ADD";
  EXPECT_EQ(code_of([&] { env_of(vars); }), Code::kInvalidEnvironment);
}

TEST(CniSpec, ParameterRules) {
  EXPECT_TRUE(valid_container_id("a"));
  EXPECT_TRUE(valid_container_id("0123abc_.-z"));
  EXPECT_FALSE(valid_container_id(""));
  EXPECT_FALSE(valid_container_id("-a"));
  EXPECT_FALSE(valid_container_id("a b"));
  EXPECT_TRUE(valid_ifname("eth0"));
  EXPECT_TRUE(valid_ifname("a23456789012345"));
  EXPECT_FALSE(valid_ifname("a234567890123456"));
  EXPECT_FALSE(valid_ifname("."));
  EXPECT_FALSE(valid_ifname(".."));
  EXPECT_FALSE(valid_ifname("a/b"));
  EXPECT_FALSE(valid_ifname("a:b"));
  EXPECT_FALSE(valid_ifname("a\tb"));
}

TEST(CniSpec, Versions) {
  EXPECT_LT(compare_versions("0.4.0", "1.0.0"), 0);
  EXPECT_LT(compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_EQ(compare_versions("1.1.0", "1.1.0"), 0);
  EXPECT_GT(compare_versions("1.1.0", "1.0.0"), 0);
  EXPECT_EQ(code_of([] { parse_netconf(R"({"cniVersion":"0.2.0","name":"n","type":"t"})", Command::kAdd); }),
            Code::kIncompatibleVersion);
  EXPECT_EQ(code_of([] { parse_netconf(R"({"cniVersion":"1.0.0","name":"n","type":"t"})", Command::kStatus); }),
            Code::kIncompatibleVersion);
  EXPECT_EQ(code_of([] { parse_netconf(R"({"cniVersion":"0.3.1","name":"n","type":"t","prevResult":{}})",
                                       Command::kCheck); }),
            Code::kIncompatibleVersion);
}

TEST(CniSpec, ConfigurationErrorsNameTheField) {
  try {
    parse_netconf(R"({"cniVersion":"1.0.0","type":"t"})", Command::kAdd);
    FAIL();
  } catch (const Failure& f) {
    EXPECT_EQ(f.code, Code::kInvalidConfig);
    EXPECT_STREQ(f.what(), "name: required");
  }
  EXPECT_EQ(code_of([] { parse_netconf("{", Command::kAdd); }), Code::kDecoding);
  EXPECT_EQ(code_of([] { parse_netconf(R"({"cniVersion":"1.0.0","name":"n","type":"t","prevResult":{"ips":[{"address":"x"}]}})",
                                       Command::kDel); }),
            Code::kDecoding);
  json o{{"mtu", -1}};
  EXPECT_EQ(code_of([&] { uint_field(o, "mtu", "", 65535); }), Code::kInvalidConfig);
}

TEST(CniSpec, ValidAttachmentsOfAGc) {
  auto conf = parse_netconf(R"({"cniVersion":"1.1.0","name":"n","type":"t",
      "cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"},{"containerID":"b","ifname":"net1"}]})",
                            Command::kGc);
  ASSERT_EQ(conf.valid_attachments.size(), 2u);
  EXPECT_EQ(conf.valid_attachments[1], (std::pair<std::string, std::string>{"b", "net1"}));
}

// A result read in any version and written in every other: each version's shape, the
// same content.
TEST(CniSpec, ResultsConvertBetweenVersions) {
  auto old = json::parse(R"({"cniVersion":"0.3.1",
      "interfaces":[{"name":"tern0"},{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/var/run/netns/p"}],
      "ips":[{"version":"4","address":"198.18.1.5/32","gateway":"169.254.1.1","interface":1},
             {"version":"6","address":"2001:db8::5/128","interface":1}],
      "routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}],"dns":{"nameservers":["198.18.0.53"]}})");
  auto r = parse_result(old);
  ASSERT_EQ(r.ips.size(), 2u);
  EXPECT_EQ(r.ips[1].prefix_length, 128);
  auto v1 = to_json(r, "1.0.0");
  EXPECT_FALSE(v1["ips"][0].contains("version"));
  EXPECT_EQ(v1["ips"][0]["address"], "198.18.1.5/32");
  EXPECT_EQ(v1["dns"]["nameservers"][0], "198.18.0.53");
  EXPECT_EQ(to_json(parse_result(v1), "0.3.1"), old) << "round trip back to 0.3.1";
}

TEST(CniSpec, ErrorObject) {
  auto e = error_json(Failure(Code::kTryAgainLater, "ternd is starting", "socket /run/tern/ternd.sock"), "1.0.0");
  EXPECT_EQ(e, json::parse(R"({"cniVersion":"1.0.0","code":11,"msg":"ternd is starting",
                              "details":"socket /run/tern/ternd.sock"})"));
  EXPECT_EQ(error_json(Failure(Code::kDecoding, "x"), "")["cniVersion"], "1.1.0");
}

}  // namespace
}  // namespace tern::cni
