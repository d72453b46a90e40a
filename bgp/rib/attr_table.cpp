#include "bgp/rib/attr_table.hpp"

#include "bgp/wire/codec.hpp"

namespace tern::bgp::rib {

AttrId AttrTable::intern(wire::PathAttributes attrs) {
  if (attrs.mp_reach) attrs.mp_reach->nlri.clear();
  attrs.mp_unreach.reset();
  // The encoding is canonical (attributes in type order, 4-octet AS), so equal sets
  // have equal keys; one encode per UPDATE, not per prefix.
  std::vector<uint8_t> bytes;
  wire::encode_attributes(attrs, wire::Context{}, bytes);
  std::string key(bytes.begin(), bytes.end());
  if (auto it = index_.find(key); it != index_.end()) {
    ++entries_[it->second].refs;
    return it->second;
  }
  AttrId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<AttrId>(entries_.size());
    entries_.emplace_back();
  }
  entries_[id] = Entry{std::move(attrs), key, 1};
  index_.emplace(std::move(key), id);
  return id;
}

void AttrTable::release(AttrId id) {
  auto& e = entries_[id];
  if (--e.refs > 0) return;
  index_.erase(e.key);
  e = Entry{};
  free_.push_back(id);
}

}  // namespace tern::bgp::rib
