#include "cni/spec.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace tern::cni {

using nlohmann::json;

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> versions{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  return versions;
}

namespace {

std::vector<int> version_parts(const std::string& v) {
  std::vector<int> parts;
  std::stringstream in(v);
  for (std::string item; std::getline(in, item, '.');) {
    if (item.empty() || !std::all_of(item.begin(), item.end(), ::isdigit) || item.size() > 4) return {};
    parts.push_back(std::stoi(item));
  }
  return parts;
}

Command command_from(const std::string& name) {
  if (name == "ADD") return Command::kAdd;
  if (name == "DEL") return Command::kDel;
  if (name == "CHECK") return Command::kCheck;
  if (name == "STATUS") return Command::kStatus;
  if (name == "GC") return Command::kGc;
  if (name == "VERSION") return Command::kVersion;
  throw Failure(Code::kInvalidEnvironment,
                name.empty() ? "CNI_COMMAND is not set" : "CNI_COMMAND " + name + " is not a CNI command");
}

const json& member(const json& object, const std::string& key, json::value_t type, const char* type_name,
                   const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw Failure(Code::kInvalidConfig, where + key + ": required");
  bool number_ok = type == json::value_t::number_unsigned && it->is_number_integer();
  if (it->type() != type && !number_ok) throw Failure(Code::kInvalidConfig, where + key + ": must be " + type_name);
  return *it;
}

Prefix cidr_prefix(const std::string& text, const std::string& what) {
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) throw Failure(Code::kDecoding, what + ": " + address.error().message);
  int length = address->max_prefix_length();
  if (slash != std::string::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit) ||
        std::stoi(digits) > length) {
      throw Failure(Code::kDecoding, what + ": " + text + " is not an address with a prefix length");
    }
    length = std::stoi(digits);
  }
  return Prefix(*address, length);
}

std::string text_of(const json& object, const char* key, const std::string& what) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) throw Failure(Code::kDecoding, what + "." + key + ": must be a string");
  return it->get<std::string>();
}

IpAddress address_of(const json& j, const std::string& what) {
  if (!j.is_string()) throw Failure(Code::kDecoding, what + ": must be a string");
  auto a = IpAddress::parse(j.get<std::string>());
  if (!a) throw Failure(Code::kDecoding, what + ": " + a.error().message);
  return *a;
}

}  // namespace

int compare_versions(const std::string& a, const std::string& b) {
  auto pa = version_parts(a), pb = version_parts(b);
  return pa < pb ? -1 : (pa == pb ? 0 : 1);
}

bool valid_container_id(const std::string& id) {
  if (id.empty() || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool valid_ifname(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c));
  });
}

Environment parse_environment(const std::function<const char*(const char*)>& getenv) {
  auto get = [&](const char* name) {
    const char* v = getenv(name);
    return std::string(v ? v : "");
  };
  Environment env;
  env.command = command_from(get("CNI_COMMAND"));
  env.container_id = get("CNI_CONTAINERID");
  env.netns = get("CNI_NETNS");
  env.netns_path = env.netns;
  env.ifname = get("CNI_IFNAME");
  std::stringstream path(get("CNI_PATH"));
  for (std::string dir; std::getline(path, dir, ':');) {
    if (!dir.empty()) env.path.push_back(dir);
  }
  std::stringstream args(get("CNI_ARGS"));
  for (std::string pair; std::getline(args, pair, ';');) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Failure(Code::kInvalidEnvironment, "CNI_ARGS: \"" + pair + "\" is not KEY=VALUE");
    }
    env.args[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  bool per_container = env.command == Command::kAdd || env.command == Command::kDel || env.command == Command::kCheck;
  if (per_container) {
    if (!valid_container_id(env.container_id)) {
      throw Failure(Code::kInvalidEnvironment,
                    env.container_id.empty() ? "CNI_CONTAINERID is not set"
                                             : "CNI_CONTAINERID \"" + env.container_id +
                                                   "\": must be alphanumeric, then letters, digits, _ . or -");
    }
    if (!valid_ifname(env.ifname)) {
      throw Failure(Code::kInvalidEnvironment,
                    env.ifname.empty() ? "CNI_IFNAME is not set"
                                       : "CNI_IFNAME \"" + env.ifname + "\" is not a valid interface name");
    }
    // DEL may come without a namespace (containerd's RemovePodSandbox): clean up anyway.
    if (env.netns.empty() && env.command != Command::kDel) {
      throw Failure(Code::kInvalidEnvironment, "CNI_NETNS is not set");
    }
  }
  if (env.path.empty() && env.command != Command::kVersion) {
    throw Failure(Code::kInvalidEnvironment, "CNI_PATH is not set");
  }
  return env;
}

PluginResult parse_result(const json& j) {
  if (!j.is_object()) throw Failure(Code::kDecoding, "result: must be an object");
  PluginResult r;
  if (auto it = j.find("interfaces"); it != j.end()) {
    if (!it->is_array()) throw Failure(Code::kDecoding, "result.interfaces: must be an array");
    for (const auto& i : *it) {
      if (!i.is_object()) throw Failure(Code::kDecoding, "result.interfaces[]: must be objects");
      Interface itf;
      itf.name = text_of(i, "name", "result.interfaces[]");
      itf.mac = text_of(i, "mac", "result.interfaces[]");
      itf.sandbox = text_of(i, "sandbox", "result.interfaces[]");
      if (auto mtu = i.find("mtu"); mtu != i.end()) {
        if (!mtu->is_number_unsigned() || mtu->get<uint64_t>() > 65535) {
          throw Failure(Code::kDecoding, "result.interfaces[].mtu: must be an integer from 0 to 65535");
        }
        itf.mtu = mtu->get<uint32_t>();
      }
      r.interfaces.push_back(std::move(itf));
    }
  }
  if (auto it = j.find("ips"); it != j.end()) {
    if (!it->is_array()) throw Failure(Code::kDecoding, "result.ips: must be an array");
    for (const auto& i : *it) {
      if (!i.is_object() || !i.contains("address") || !i["address"].is_string()) {
        throw Failure(Code::kDecoding, "result.ips[]: each needs an address");
      }
      auto text = i["address"].get<std::string>();
      auto slash = text.find('/');
      if (slash == std::string::npos) throw Failure(Code::kDecoding, "result.ips[].address: " + text + " has no prefix length");
      IpConfig ip;
      ip.address = address_of(json(text.substr(0, slash)), "result.ips[].address");
      ip.prefix_length = cidr_prefix(text, "result.ips[].address").length();
      if (auto g = i.find("gateway"); g != i.end()) ip.gateway = address_of(*g, "result.ips[].gateway");
      if (auto f = i.find("interface"); f != i.end()) {
        if (!f->is_number_integer()) throw Failure(Code::kDecoding, "result.ips[].interface: must be an integer");
        ip.interface = f->get<int>();
      }
      r.ips.push_back(ip);
    }
  }
  if (auto it = j.find("routes"); it != j.end()) {
    if (!it->is_array()) throw Failure(Code::kDecoding, "result.routes: must be an array");
    for (const auto& i : *it) {
      if (!i.is_object() || !i.contains("dst") || !i["dst"].is_string()) {
        throw Failure(Code::kDecoding, "result.routes[]: each needs a dst");
      }
      RouteConfig route{cidr_prefix(i["dst"].get<std::string>(), "result.routes[].dst"), std::nullopt};
      if (auto g = i.find("gw"); g != i.end()) route.gateway = address_of(*g, "result.routes[].gw");
      r.routes.push_back(route);
    }
  }
  if (auto it = j.find("dns"); it != j.end() && it->is_object()) r.dns = *it;
  return r;
}

json to_json(const PluginResult& r, const std::string& version) {
  bool per_ip_version = compare_versions(version, "1.0.0") < 0;  // 0.3.x and 0.4.0
  bool with_mtu = compare_versions(version, "1.1.0") >= 0;
  json out{{"cniVersion", version}};
  if (!r.interfaces.empty()) {
    json list = json::array();
    for (const auto& i : r.interfaces) {
      json itf{{"name", i.name}};
      if (!i.mac.empty()) itf["mac"] = i.mac;
      if (!i.sandbox.empty()) itf["sandbox"] = i.sandbox;
      if (with_mtu && i.mtu) itf["mtu"] = i.mtu;
      list.push_back(std::move(itf));
    }
    out["interfaces"] = std::move(list);
  }
  json ips = json::array();
  for (const auto& ip : r.ips) {
    json entry{{"address", ip.address.to_string() + "/" + std::to_string(ip.prefix_length)}};
    if (per_ip_version) entry["version"] = ip.address.is_v4() ? "4" : "6";
    if (ip.gateway) entry["gateway"] = ip.gateway->to_string();
    if (ip.interface) entry["interface"] = *ip.interface;
    ips.push_back(std::move(entry));
  }
  out["ips"] = std::move(ips);
  if (!r.routes.empty()) {
    json routes = json::array();
    for (const auto& route : r.routes) {
      json entry{{"dst", route.destination.to_string()}};
      if (route.gateway) entry["gw"] = route.gateway->to_string();
      routes.push_back(std::move(entry));
    }
    out["routes"] = std::move(routes);
  }
  out["dns"] = r.dns;
  return out;
}

NetConf parse_netconf(const std::string& text, Command command) {
  NetConf conf;
  try {
    conf.raw = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Failure(Code::kDecoding, std::string("network configuration is not JSON: ") + e.what());
  }
  if (!conf.raw.is_object()) throw Failure(Code::kDecoding, "network configuration: must be a JSON object");
  conf.cni_version = member(conf.raw, "cniVersion", json::value_t::string, "a string", "").get<std::string>();
  const auto& versions = supported_versions();
  if (std::find(versions.begin(), versions.end(), conf.cni_version) == versions.end()) {
    throw Failure(Code::kIncompatibleVersion, "cniVersion " + conf.cni_version + " is not supported",
                  "supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
  }
  if (command == Command::kVersion) return conf;
  if (command == Command::kCheck && compare_versions(conf.cni_version, "0.4.0") < 0) {
    throw Failure(Code::kIncompatibleVersion, "cniVersion " + conf.cni_version + " has no CHECK (0.4.0 and later)");
  }
  if ((command == Command::kStatus || command == Command::kGc) && compare_versions(conf.cni_version, "1.1.0") < 0) {
    throw Failure(Code::kIncompatibleVersion, "cniVersion " + conf.cni_version + " has no " +
                                                  (command == Command::kGc ? "GC" : "STATUS") + " (1.1.0 and later)");
  }
  conf.name = member(conf.raw, "name", json::value_t::string, "a string", "").get<std::string>();
  conf.type = member(conf.raw, "type", json::value_t::string, "a string", "").get<std::string>();
  if (conf.name.empty()) throw Failure(Code::kInvalidConfig, "name: must not be empty");
  if (auto it = conf.raw.find("prevResult"); it != conf.raw.end() && !it->is_null()) {
    conf.prev_result = parse_result(*it);
  }
  if (command == Command::kCheck && !conf.prev_result) {
    throw Failure(Code::kInvalidConfig, "prevResult: required for CHECK");
  }
  if (auto it = conf.raw.find("cni.dev/valid-attachments"); it != conf.raw.end()) {
    if (!it->is_array()) throw Failure(Code::kInvalidConfig, "cni.dev/valid-attachments: must be an array");
    for (const auto& a : *it) {
      if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string() || !a.contains("ifname") ||
          !a["ifname"].is_string()) {
        throw Failure(Code::kInvalidConfig, "cni.dev/valid-attachments[]: each needs containerID and ifname strings");
      }
      conf.valid_attachments.emplace_back(a["containerID"].get<std::string>(), a["ifname"].get<std::string>());
    }
  }
  return conf;
}

std::optional<std::string> string_field(const json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw Failure(Code::kInvalidConfig, where + key + ": must be a string");
  return it->get<std::string>();
}

std::optional<uint64_t> uint_field(const json& object, const std::string& key, const std::string& where,
                                   uint64_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || (it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() < 0) ||
      it->get<uint64_t>() > max) {
    throw Failure(Code::kInvalidConfig, where + key + ": must be an integer from 0 to " + std::to_string(max));
  }
  return it->get<uint64_t>();
}

json error_json(const Failure& failure, const std::string& version) {
  json out{{"cniVersion", version.empty() ? kLatestVersion : version},
           {"code", static_cast<int>(failure.code)},
           {"msg", failure.what()}};
  if (!failure.details.empty()) out["details"] = failure.details;
  return out;
}

json version_json() { return json{{"cniVersion", kLatestVersion}, {"supportedVersions", supported_versions()}}; }

}  // namespace tern::cni
