// tern::ipam::Journal: the crash-safe store behind the Allocator. An append-only text file,
// one CRC-checked record per line, replayed at start and compacted by rewrite-and-rename.
// Owned by ternd's io thread (one Journal per state dir, enforced by flock); every call
// blocks on the disk. Format and recovery rules: README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/ip.hpp"
#include "common/result.hpp"
#include "ipam/allocator.hpp"

namespace tern::ipam {

class Journal {
 public:
  struct Recovered {
    std::vector<Allocation> allocations;                // live at the end of replay, sorted by key
    std::vector<std::pair<Prefix, IpAddress>> cursors;  // last address handed out per block
    // Addresses handed out since the last C records, in order: the journal knows no
    // blocks, so the caller moves each block's cursor through these after `cursors`.
    std::vector<IpAddress> handed_out;
    // What recovery fixed, one line each, for the log (torn tail dropped, bad line skipped
    // at line N, an address owned twice — the first owner kept).
    std::vector<std::string> repairs;
  };

  // Opens (creating) the journal at `path` (its directory must exist), takes an exclusive
  // flock on `path + ".lock"` (held: Errc::kUnavailable "... is locked by another
  // process"), replays it. After repairs the file is left compacted.
  // To restore an Allocator: commit() every allocation, then set_cursor() every cursor.
  static Result<std::pair<Journal, Recovered>> open(const std::string& path);

  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  // An allocation is durable when append_allocate returns (write + fdatasync): ternd
  // replies to a CNI ADD only after it. A release is written but not synced: a crash of
  // ternd cannot lose it, a power cut can only leave an address held (never given twice,
  // as the next allocation's fdatasync writes it out first). A field with a tab or
  // newline, or a key CNI would not accept: kInvalidArgument, nothing written.
  Status append_allocate(const Allocation& allocation);
  Status append_release(const AttachmentKey& key);

  // Group commit: write_allocate() appends the record without syncing, sync() makes every
  // record written so far durable with one fdatasync. An allocation written this way is
  // acknowledged only after a sync() that began after it returned OK. A failed sync leaves
  // the journal refusing appends (the kernel may have dropped the pages; reopen to know).
  Status write_allocate(const Allocation& allocation);
  Status sync();
  // The same sync, its fdatasync run on another thread: begin_sync() names what it will
  // cover (every record written so far) and the descriptor to sync, end_sync() takes the
  // fdatasync's errno (0 when it worked), back on the journal's thread. In between,
  // records may be written (the next sync covers them); compact() must wait.
  struct PendingSync {
    int fd = -1;
    size_t records = 0;
  };
  Result<PendingSync> begin_sync() const;
  Status end_sync(const PendingSync& sync, int err);
  // Records written since the last sync() (or open/compact, which sync everything).
  size_t unsynced() const { return unsynced_; }

  // Rewrites the file as exactly this state atomically: PATH.tmp, fsync, rename over PATH,
  // fsync the directory. The lock lives on PATH.lock, so it survives the rename.
  Status compact(const std::vector<Allocation>& live,
                 const std::vector<std::pair<Prefix, IpAddress>>& cursors);

  // Records appended since the last compact(); at open, the records in the file beyond
  // what a compaction would write (released or superseded ones), so the count survives a
  // restart. The caller compacts when it grows (e.g. > 4 * live + 1024).
  size_t records() const { return records_; }

  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  Status append_line(const std::string& line, bool sync);
  void close_fds();

  std::string path_;
  int fd_ = -1;       // PATH, O_APPEND
  int lock_fd_ = -1;  // PATH.lock, flock(LOCK_EX) for the lifetime of this object
  size_t records_ = 0;
  size_t unsynced_ = 0;
  uint64_t size_ = 0;    // bytes known good: a failed append is truncated back to this
  bool broken_ = false;  // a failed append could not be undone: refuse further appends
};

}  // namespace tern::ipam
