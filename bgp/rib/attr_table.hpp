// Interned path attributes: one copy of each distinct attribute set, shared by every
// route that carries it (a full table from one peer has a few thousand sets for a
// million prefixes). Routes hold a 32-bit id; the table counts references.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "bgp/wire/attributes.hpp"

namespace tern::bgp::rib {

using AttrId = uint32_t;

class AttrTable {
 public:
  // The id of `attrs` (MP_REACH's NLRI and MP_UNREACH are not part of a set), with one
  // more reference.
  AttrId intern(wire::PathAttributes attrs);
  void ref(AttrId id) { ++entries_[id].refs; }
  void release(AttrId id);
  const wire::PathAttributes& get(AttrId id) const { return entries_[id].attrs; }
  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    wire::PathAttributes attrs;
    std::string key;  // the canonical encoding, the index's key
    uint32_t refs = 0;
  };
  std::vector<Entry> entries_;
  std::vector<AttrId> free_;
  std::unordered_map<std::string, AttrId> index_;
};

}  // namespace tern::bgp::rib
