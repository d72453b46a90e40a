#include "controller/ternctl/decode.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "bgp/mrt/mrt.hpp"
#include "bgp/wire/format.hpp"
#include "bgp/wire/framer.hpp"

namespace tern::ctl {

namespace {

namespace wire = bgp::wire;
namespace mrt = bgp::mrt;
using nlohmann::json;

std::string timestamp(uint32_t seconds, uint32_t microseconds, bool with_micro) {
  std::time_t t = seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (with_micro) {
    char micro[16];
    std::snprintf(micro, sizeof micro, ".%06u", microseconds);
    s += micro;
  }
  return s + "Z";
}

std::string prefix_list(const std::vector<wire::Nlri>& a, const std::vector<wire::Nlri>* b = nullptr) {
  std::string s;
  auto add = [&](const std::vector<wire::Nlri>& list) {
    for (const auto& n : list) {
      s += (s.empty() ? "" : ",") + n.prefix.to_string();
      if (n.path_id) s += "#" + std::to_string(n.path_id);
    }
  };
  add(a);
  if (b) add(*b);
  return s.empty() ? "-" : s;
}

json prefixes_json(const std::vector<wire::Nlri>& list, json& out) {
  for (const auto& n : list) {
    json p = n.prefix.to_string();
    if (n.path_id) p = json{{"prefix", n.prefix.to_string()}, {"path_id", n.path_id}};
    out.push_back(p);
  }
  return out;
}

json attributes_json(const wire::PathAttributes& a) {
  json j = json::object();
  if (a.origin) j["origin"] = wire::origin_name(*a.origin);
  if (a.as_path) j["as_path"] = wire::to_string(*a.as_path);
  if (a.next_hop) j["next_hop"] = a.next_hop->to_string();
  if (a.mp_reach) {
    j["mp_next_hop"] = a.mp_reach->next_hop.to_string();
    if (a.mp_reach->link_local) j["mp_link_local_next_hop"] = a.mp_reach->link_local->to_string();
  }
  if (a.med) j["med"] = *a.med;
  if (a.local_pref) j["local_pref"] = *a.local_pref;
  if (a.atomic_aggregate) j["atomic_aggregate"] = true;
  if (a.aggregator) j["aggregator"] = std::to_string(a.aggregator->asn) + ":" + a.aggregator->address.to_string();
  for (uint32_t c : a.communities) j["communities"].push_back(wire::community_to_string(c));
  for (const auto& c : a.large_communities) j["large_communities"].push_back(wire::large_community_to_string(c));
  for (uint64_t c : a.extended_communities) j["extended_communities"].push_back(wire::extended_community_to_string(c));
  if (a.originator_id) j["originator_id"] = wire::bgp_id_to_string(*a.originator_id);
  for (uint32_t c : a.cluster_list) j["cluster_list"].push_back(wire::bgp_id_to_string(c));
  for (const auto& u : a.unknown) {
    std::string hex;
    for (uint8_t b : u.value) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", b);
      hex += buf;
    }
    j["unknown"].push_back({{"type", u.type}, {"flags", u.flags}, {"value", hex}});
  }
  return j;
}

// One message: readable text, or a JSON object.
std::string message_text(const wire::DecodeResult& r) {
  if (!r.ok()) {
    return "MALFORMED " + r.error().reason + " (would send NOTIFICATION " +
           wire::notification_to_string(r.error().code, r.error().subcode, r.error().data) + ")";
  }
  const auto& d = r.value();
  std::string s;
  if (const auto* u = std::get_if<wire::Update>(&d.message); u && !wire::end_of_rib(*u)) {
    const auto& a = u->attributes;
    s = "UPDATE announce " + prefix_list(u->nlri, a.mp_reach ? &a.mp_reach->nlri : nullptr) + " withdraw " +
        prefix_list(u->withdrawn, a.mp_unreach ? &a.mp_unreach->withdrawn : nullptr);
    auto attrs = wire::to_string(a);
    if (!attrs.empty()) s += " " + attrs;
  } else {
    s = wire::describe(d.message);
  }
  if (d.verdict != wire::Verdict::kAccepted) s += " [" + std::string(wire::verdict_name(d.verdict)) + "]";
  for (const auto& p : d.problems) s += " (" + p + ")";
  return s;
}

json message_json(const wire::DecodeResult& r) {
  if (!r.ok()) {
    return {{"kind", "MALFORMED"},
            {"reason", r.error().reason},
            {"notification", {{"code", r.error().code}, {"subcode", r.error().subcode}}}};
  }
  const auto& d = r.value();
  json j;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::Open>) {
          j = {{"kind", "OPEN"}, {"version", m.version}, {"as", m.asn()}, {"hold_time", m.hold_time},
               {"bgp_id", wire::bgp_id_to_string(m.bgp_identifier)}, {"capabilities", wire::to_string(m.capabilities)}};
        } else if constexpr (std::is_same_v<T, wire::Update>) {
          if (auto eor = wire::end_of_rib(m)) {
            j = {{"kind", "END-OF-RIB"}, {"family", wire::family_name(*eor)}};
            return;
          }
          j = {{"kind", "UPDATE"}, {"announce", json::array()}, {"withdraw", json::array()}};
          prefixes_json(m.nlri, j["announce"]);
          if (m.attributes.mp_reach) prefixes_json(m.attributes.mp_reach->nlri, j["announce"]);
          prefixes_json(m.withdrawn, j["withdraw"]);
          if (m.attributes.mp_unreach) prefixes_json(m.attributes.mp_unreach->withdrawn, j["withdraw"]);
          j["attributes"] = attributes_json(m.attributes);
        } else if constexpr (std::is_same_v<T, wire::Notification>) {
          j = {{"kind", "NOTIFICATION"}, {"code", m.code}, {"subcode", m.subcode},
               {"text", wire::notification_to_string(m.code, m.subcode, m.data)}};
        } else if constexpr (std::is_same_v<T, wire::Keepalive>) {
          j = {{"kind", "KEEPALIVE"}};
        } else {
          j = {{"kind", "ROUTE-REFRESH"}, {"family", wire::family_name(m.family)}, {"subtype", m.subtype}};
        }
      },
      d.message);
  j["verdict"] = wire::verdict_name(d.verdict);
  if (!d.problems.empty()) j["problems"] = d.problems;
  return j;
}

Status decode_raw(std::span<const uint8_t> bytes, const DecodeOptions& o, std::ostream& out) {
  size_t index = 0, offset = 0;
  while (offset < bytes.size()) {
    auto frame = wire::next_frame(bytes.subspan(offset), wire::kMaxExtendedMessageSize);
    if (frame.status == wire::Frame::Status::kNeedMore) {
      return make_error(Errc::kMalformed, "truncated message at offset " + std::to_string(offset) + " (" +
                                              std::to_string(bytes.size() - offset) + " bytes left)");
    }
    if (frame.status == wire::Frame::Status::kError) {
      return make_error(Errc::kMalformed, "bad message header at offset " + std::to_string(offset) + ": " +
                                              frame.error.reason);
    }
    auto r = wire::decode_message(frame.message, o.raw_context);
    if (o.json) {
      json j = {{"type", "message"}, {"index", index}, {"offset", offset}, {"message", message_json(r)}};
      out << j.dump() << '\n';
    } else {
      out << index << " " << message_text(r) << '\n';
    }
    offset += frame.message.size();
    ++index;
  }
  return {};
}

std::string peer_text(const mrt::PeerIndexTable* peers, uint16_t index) {
  if (!peers || index >= peers->peers.size()) return "peer#" + std::to_string(index);
  const auto& p = peers->peers[index];
  return p.address.to_string() + " AS" + std::to_string(p.asn);
}

json peer_json(const mrt::PeerIndexTable* peers, uint16_t index) {
  if (!peers || index >= peers->peers.size()) return {{"index", index}};
  const auto& p = peers->peers[index];
  return {{"index", index}, {"address", p.address.to_string()}, {"as", p.asn}, {"bgp_id", wire::bgp_id_to_string(p.bgp_id)}};
}

Status decode_mrt(std::span<const uint8_t> bytes, const DecodeOptions& o, std::ostream& out) {
  mrt::Reader reader(bytes);
  std::optional<mrt::PeerIndexTable> peers;
  while (auto next = reader.next()) {
    if (!*next) return next->error();
    const auto& rec = next->value();
    bool et = rec.type == static_cast<uint16_t>(mrt::Type::kBgp4mpEt);
    std::string when = timestamp(rec.timestamp, rec.microseconds, et);
    if (const auto* t = std::get_if<mrt::PeerIndexTable>(&rec.body)) {
      peers = *t;
      if (o.json) {
        json j = {{"type", "peer_index_table"}, {"timestamp", when}, {"collector_id", wire::bgp_id_to_string(t->collector_id)},
                  {"view", t->view_name}, {"peers", json::array()}};
        for (uint16_t i = 0; i < t->peers.size(); ++i) j["peers"].push_back(peer_json(&*peers, i));
        out << j.dump() << '\n';
      } else {
        out << when << " PEERS collector " << wire::bgp_id_to_string(t->collector_id) << " " << t->peers.size() << " peers";
        for (uint16_t i = 0; i < t->peers.size(); ++i) out << " [" << i << "] " << peer_text(&*peers, i);
        out << '\n';
      }
    } else if (const auto* rib = std::get_if<mrt::Rib>(&rec.body)) {
      for (const auto& e : rib->entries) {
        const mrt::PeerIndexTable* p = peers ? &*peers : nullptr;
        if (o.json) {
          json j = {{"type", "rib"}, {"timestamp", when}, {"prefix", rib->prefix.to_string()}, {"sequence", rib->sequence},
                    {"peer", peer_json(p, e.peer_index)}, {"originated", timestamp(e.originated, 0, false)},
                    {"attributes", attributes_json(e.attributes)}};
          if (e.path_id) j["path_id"] = e.path_id;
          if (e.verdict != wire::Verdict::kAccepted) j["verdict"] = wire::verdict_name(e.verdict);
          out << j.dump() << '\n';
        } else {
          out << when << " RIB " << rib->prefix.to_string() << (e.path_id ? "#" + std::to_string(e.path_id) : "")
              << " from " << peer_text(p, e.peer_index) << " " << wire::to_string(e.attributes) << '\n';
        }
      }
    } else if (const auto* m = std::get_if<mrt::Bgp4mpMessage>(&rec.body)) {
      auto r = wire::decode_message(m->bytes, m->context);
      std::string from = m->peer_address.to_string() + " AS" + std::to_string(m->peer_as);
      std::string to = m->local_address.to_string() + " AS" + std::to_string(m->local_as);
      if (m->local) std::swap(from, to);
      if (o.json) {
        json j = {{"type", "message"}, {"timestamp", when}, {"from", from}, {"to", to},
                  {"direction", m->local ? "sent" : "received"}, {"message", message_json(r)}};
        out << j.dump() << '\n';
      } else {
        out << when << " " << from << " > " << to << " " << message_text(r) << '\n';
      }
    } else if (const auto* s = std::get_if<mrt::StateChange>(&rec.body)) {
      if (o.json) {
        json j = {{"type", "state_change"}, {"timestamp", when}, {"peer", s->peer_address.to_string()},
                  {"peer_as", s->peer_as}, {"old_state", mrt::state_name(s->old_state)},
                  {"new_state", mrt::state_name(s->new_state)}};
        out << j.dump() << '\n';
      } else {
        out << when << " STATE " << s->peer_address.to_string() << " AS" << s->peer_as << " "
            << mrt::state_name(s->old_state) << " -> " << mrt::state_name(s->new_state) << '\n';
      }
    } else if (!o.json) {
      out << when << " SKIPPED MRT type " << rec.type << " subtype " << rec.subtype << '\n';
    }
  }
  return {};
}

}  // namespace

Status decode(std::span<const uint8_t> bytes, const DecodeOptions& options, std::ostream& out) {
  bool raw = bytes.size() >= 16 && std::all_of(bytes.begin(), bytes.begin() + 16, [](uint8_t b) { return b == 0xff; });
  return raw ? decode_raw(bytes, options, out) : decode_mrt(bytes, options, out);
}

}  // namespace tern::ctl
