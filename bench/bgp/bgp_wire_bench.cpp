// UPDATE decoding throughput: one million IPv4 prefixes packed as FRR packs a full table
// (one attribute set per UPDATE, as many prefixes as fit in 4,096 octets), decoded
// message by message. Reports prefixes/s and heap allocations per prefix.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include <fstream>

#include "bgp/mrt/mrt.hpp"
#include "bgp/wire/codec.hpp"
#include "bgp/wire/update_packer.hpp"

namespace {

std::atomic<size_t> g_allocations{0};

}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tern::bgp::wire {
namespace {

constexpr size_t kPrefixes = 1'000'000;

// A full-table-like mix: mostly /24s, some shorter; RIB-only prefixes (never sent traffic).
std::vector<Nlri> table() {
  std::vector<Nlri> out;
  out.reserve(kPrefixes);
  for (uint32_t i = 0; out.size() < kPrefixes; ++i) {
    int length = (i % 10 == 0) ? 16 + static_cast<int>(i % 8) : 24;
    out.push_back({Prefix(IpAddress::v4(0x01000000u + i * 256), length), 0});
  }
  return out;
}

// FRR packs every prefix that shares an attribute set into full UPDATEs. `per_set` prefixes
// share one set: the whole table (one set, fullest messages) or 200 (a more varied feed).
std::vector<std::vector<uint8_t>> frr_like_updates(const std::vector<Nlri>& prefixes, size_t per_set) {
  std::vector<std::vector<uint8_t>> messages;
  Context ctx;
  for (size_t start = 0; start < prefixes.size(); start += per_set) {
    PathAttributes a;
    a.origin = Origin::kIgp;
    a.as_path = AsPath{{{AsSegmentType::kSequence, {65001, 65100 + static_cast<Asn>(start % 1000), 13335}}}};
    a.next_hop = IpAddress::v4(0xc6120001);
    a.med = static_cast<uint32_t>(start % 7);
    a.communities = {0xfde80064};
    size_t n = std::min(per_set, prefixes.size() - start);
    pack_announcements(a, std::span(prefixes).subspan(start, n), kIpv4Unicast, ctx, messages);
  }
  return messages;
}

void BM_DecodeUpdates(benchmark::State& state) {
  auto prefixes = table();
  auto messages = frr_like_updates(prefixes, static_cast<size_t>(state.range(0)));
  Context ctx;
  size_t decoded = 0, allocations = 0;
  for (auto _ : state) {
    size_t before = g_allocations.load();
    decoded = 0;
    for (const auto& m : messages) {
      auto r = decode_message(m, ctx);
      decoded += std::get<Update>(r.value().message).nlri.size();
      benchmark::DoNotOptimize(r);
    }
    allocations = g_allocations.load() - before;
  }
  if (decoded != kPrefixes) state.SkipWithError("not every prefix decoded");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * decoded));
  state.counters["messages"] = static_cast<double>(messages.size());
  state.counters["allocs_per_prefix"] = static_cast<double>(allocations) / static_cast<double>(decoded);
  state.counters["allocs_per_update"] = static_cast<double>(allocations) / static_cast<double>(messages.size());
}
BENCHMARK(BM_DecodeUpdates)->Arg(kPrefixes)->Arg(200)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_EncodeUpdates(benchmark::State& state) {
  auto prefixes = table();
  for (auto _ : state) {
    auto messages = frr_like_updates(prefixes, kPrefixes);
    benchmark::DoNotOptimize(messages);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPrefixes));
}
BENCHMARK(BM_EncodeUpdates)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The same feed as an MRT BGP4MP file, for the side-by-side run in bench/bgp/run.
void write_mrt(const char* path) {
  std::vector<uint8_t> out;
  mrt::Bgp4mpMessage m;
  m.peer_as = 65001;
  m.local_as = 65002;
  m.peer_address = IpAddress::v4(0xc6120001);
  m.local_address = IpAddress::v4(0xc6120002);
  for (auto& bytes : frr_like_updates(table(), kPrefixes)) {
    m.bytes = std::move(bytes);
    mrt::write_bgp4mp_message(1700000000, m, out);
  }
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(out.data()),
                                              static_cast<std::streamsize>(out.size()));
}

}  // namespace
}  // namespace tern::bgp::wire

int main(int argc, char** argv) {
  if (const char* path = std::getenv("TERN_BENCH_WRITE_MRT")) {
    tern::bgp::wire::write_mrt(path);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
