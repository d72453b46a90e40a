// The CNI specification as the plugins see it: the CNI_* environment, the network
// configuration on stdin, results in every version a runtime may ask for, and the error
// object. Pure: no I/O, no netlink.
//
// The plugins are short-lived programs with one way out on failure (an error object on
// stdout and a non-zero exit), so a failure anywhere is thrown as cni::Failure and caught
// once in main(); nothing else in tern throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/ip.hpp"

namespace tern::cni {

// The spec's well-known error codes (CNI 1.1.0 "Error"); 100 and up are tern's own.
enum class Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIo = 5,
  kDecoding = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,         // STATUS: cannot serve ADD
  kLimitedConnectivity = 51,  // STATUS: and the Pods there may not reach each other
  kAddressesExhausted = 100,  // tern-ipam: no free address in the node's blocks
  kInternal = 999,
};

struct Failure : std::runtime_error {
  Failure(Code code, const std::string& msg, std::string details = "")
      : std::runtime_error(msg), code(code), details(std::move(details)) {}
  Code code;
  std::string details;
};

inline constexpr const char* kLatestVersion = "1.1.0";
const std::vector<std::string>& supported_versions();  // 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0
// -1, 0, 1 as a is older than, the same as or newer than b ("0.4.0" < "1.0.0").
int compare_versions(const std::string& a, const std::string& b);

enum class Command { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

// The CNI_* variables. Which ones are required depends on the command (spec §"Parameters").
struct Environment {
  Command command = Command::kVersion;
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS; may be empty on DEL
  std::string netns_path;    // where that namespace is opened: CNI_NETNS, unless run_command was told
  std::string ifname;        // CNI_IFNAME
  std::map<std::string, std::string> args;  // CNI_ARGS "K=V;K=V"
  std::vector<std::string> path;            // CNI_PATH, split at ':'
};
// `getenv` is a parameter so tests need no process environment.
Environment parse_environment(const std::function<const char*(const char*)>& getenv);

// A result (ADD) or an IPAM plugin's abbreviated result, version-neutral.
struct Interface {
  std::string name;
  std::string mac;
  std::string sandbox;  // the netns path for a Pod's interface; empty on the host
  uint32_t mtu = 0;     // 1.1.0
};
struct IpConfig {
  IpAddress address;
  int prefix_length = 0;
  std::optional<IpAddress> gateway;
  std::optional<int> interface;  // index into interfaces
};
struct RouteConfig {
  Prefix destination;
  std::optional<IpAddress> gateway;
};
struct PluginResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteConfig> routes;
  nlohmann::json dns = nlohmann::json::object();
};
// Reads a result of any supported version (0.3.x/0.4.0 carry "version" in each IP).
PluginResult parse_result(const nlohmann::json& j);
// Writes `r` as `version` asks: 0.3.x/0.4.0 with "version" per IP, 1.1.0 with MTUs.
nlohmann::json to_json(const PluginResult& r, const std::string& version);

// The network configuration on stdin, the parts every plugin reads. `raw` is the whole
// document: a delegated IPAM plugin gets it exactly as the runtime sent it.
struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  nlohmann::json raw;
  std::optional<PluginResult> prev_result;
  // CNI 1.1 GC: "cni.dev/valid-attachments" as (container ID, interface) pairs.
  std::vector<std::pair<std::string, std::string>> valid_attachments;
};
// Decoding errors are code 6, a missing or wrong-typed required field code 7, an
// unsupported cniVersion code 1, and a command the version has not (CHECK before 0.4.0,
// STATUS and GC before 1.1.0) code 1 as well.
NetConf parse_netconf(const std::string& text, Command command);

// Typed access to a configuration's optional fields, naming the field in the error.
std::optional<std::string> string_field(const nlohmann::json& object, const std::string& key,
                                        const std::string& where);
std::optional<uint64_t> uint_field(const nlohmann::json& object, const std::string& key,
                                   const std::string& where, uint64_t max);

nlohmann::json error_json(const Failure& failure, const std::string& version);
nlohmann::json version_json();

// Spec rules for the parameters: container ID "[A-Za-z0-9][A-Za-z0-9_.-]*"; interface name
// 1..15 characters, not "." or "..", no '/', ':' or whitespace.
bool valid_container_id(const std::string& id);
bool valid_ifname(const std::string& name);

}  // namespace tern::cni
