// Store: opening, recovery after a crash, and the read-side queries.
// Ingest, commit, gc and verify live in their own files.
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cerrno>
#include <set>

#include "store/coding.h"
#include "store/index_access.h"
#include "store/lmdb_env.h"
#include "store/log.h"
#include "store/pack.h"

namespace ciuicfs {
namespace {

constexpr char kMarkerName[] = "CIUICFS-STORE";
constexpr char kMarkerText[] = "ciuicfs store v1\n";
constexpr uint32_t kFormatVersion = 1;

bool IsEmptyDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "create " + path);
  return Status::Ok();
}

Status WriteMarker(const std::string& dir) {
  std::string path = dir + "/" + kMarkerName;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  ssize_t n = write(fd, kMarkerText, sizeof(kMarkerText) - 1);
  int err = errno;
  bool ok = n == ssize_t(sizeof(kMarkerText) - 1) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Status::FromErrno(n < 0 ? err : EIO, "write " + path);
  return Status::Ok();
}

// Reads meta/format and meta/chunker; *present is false for a new index.
Status ReadMeta(Txn& txn, bool* present, ChunkerParams* params) {
  auto format = txn.Get(Db::kMeta, "format");
  if (!format.ok()) return format.status();
  *present = format->has_value();
  if (!*present) return Status::Ok();
  if ((*format)->size() != 4 || LoadLE<uint32_t>((*format)->data()) != kFormatVersion)
    return Status::InvalidArgument("store format is not version 1");
  auto c = txn.Get(Db::kMeta, "chunker");
  if (!c.ok()) return c.status();
  if (!*c || (*c)->size() != 12) return Status::Corruption("index: meta/chunker missing");
  const char* p = (*c)->data();
  *params = ChunkerParams{LoadLE<uint32_t>(p), LoadLE<uint32_t>(p + 4), LoadLE<uint32_t>(p + 8)};
  return params->Validate();
}

Status ReadOrInitMeta(LmdbEnv* env, const StoreOptions& options, ChunkerParams* params) {
  if (options.read_only) {
    auto txn = env->BeginRead();
    if (!txn.ok()) return txn.status();
    bool present = false;
    CIUIC_RETURN_IF_ERROR(ReadMeta(**txn, &present, params));
    return present ? Status::Ok() : Status::Corruption("index: meta/format missing");
  }
  return env->Write([&](Txn& txn) -> Status {
    bool present = false;
    CIUIC_RETURN_IF_ERROR(ReadMeta(txn, &present, params));
    if (present) return Status::Ok();
    std::string f, c;
    PutLE<uint32_t>(&f, kFormatVersion);
    PutLE<uint32_t>(&c, options.chunker.min_size);
    PutLE<uint32_t>(&c, options.chunker.avg_size);
    PutLE<uint32_t>(&c, options.chunker.max_size);
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, "format", f));
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, "chunker", c));
    *params = options.chunker;
    return Status::Ok();
  });
}

}  // namespace

Store::Store(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}

Store::~Store() {
  packs_.reset();
  env_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

uint64_t Store::map_size() const { return env_->map_size(); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  CIUIC_RETURN_IF_ERROR(options.chunker.Validate());
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || !options.create_if_missing) return Status::FromErrno(errno, "open store " + dir);
    CIUIC_RETURN_IF_ERROR(MakeDir(dir));
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(dir + " is not a directory");
  }
  const std::string marker = dir + "/" + kMarkerName;
  if (access(marker.c_str(), F_OK) != 0) {
    if (!IsEmptyDir(dir)) return Status::InvalidArgument(dir + " is not a ciuicfs store (no " + kMarkerName + ")");
    if (!options.create_if_missing) return Status::NotFound("no store at " + dir);
    CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/index"));
    CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/packs"));
    CIUIC_RETURN_IF_ERROR(WriteMarker(dir));
  }
  if (options.read_only) {
    if (access(marker.c_str(), F_OK) != 0) return Status::InvalidArgument(dir + " is not a ciuicfs store");
    std::unique_ptr<Store> store(new Store(dir, -1));
    store->read_only_ = true;
    auto env = LmdbEnv::Open(dir + "/index", options.initial_map_size, true);
    if (!env.ok()) return env.status();
    store->env_ = std::move(env.value());
    ChunkerParams params;
    CIUIC_RETURN_IF_ERROR(ReadOrInitMeta(store->env_.get(), options, &params));
    store->chunker_ = std::make_unique<Chunker>(params);
    store->packs_ = std::make_unique<PackStore>(dir + "/packs", 0, options.pack_target_size);
    return store;
  }
  const std::string lock_path = dir + "/LOCK";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Status::FromErrno(errno, "open " + lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) return Status::Busy("store " + dir + " is in use by another process");
    return Status::FromErrno(err, "lock " + lock_path);
  }
  std::unique_ptr<Store> store(new Store(dir, lock_fd));
  auto env = LmdbEnv::Open(dir + "/index", options.initial_map_size, false);
  if (!env.ok()) return env.status();
  store->env_ = std::move(env.value());
  ChunkerParams params;
  CIUIC_RETURN_IF_ERROR(ReadOrInitMeta(store->env_.get(), options, &params));
  store->chunker_ = std::make_unique<Chunker>(params);
  store->pack_target_size_ = options.pack_target_size;
  store->packs_ = std::make_unique<PackStore>(dir + "/packs", 1, options.pack_target_size);
  CIUIC_RETURN_IF_ERROR(store->Recover());
  return store;
}

// See FORMAT.md "Writes and crash consistency": cut every pack back to what
// the index references, drop pack files the index never listed, and after a
// power loss drop index rows whose records did not reach the disk.
Status Store::Recover() {
  std::map<uint32_t, PackRow> rows;
  {
    auto txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    Status bad;
    CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kPacks, "", [&](std::string_view k, std::string_view v) {
      PackRow row;
      if (k.size() != 4 || !DecodePackRow(v, &row)) {
        bad = Status::Corruption("index: bad packs row");
        return false;
      }
      rows[LoadBE<uint32_t>(k.data())] = row;
      return true;
    }));
    CIUIC_RETURN_IF_ERROR(bad);
  }
  auto files = packs_->ListFiles();
  if (!files.ok()) return files.status();
  uint32_t max_pack = rows.empty() ? 0 : rows.rbegin()->first;
  for (uint32_t pack : *files) {
    max_pack = std::max(max_pack, pack);
    if (!rows.count(pack)) {
      LogLine("recovery: removing packs/" + PackFileName(pack) + ", which no index entry references");
      CIUIC_RETURN_IF_ERROR(packs_->Remove(pack));
    }
  }
  std::map<uint32_t, uint64_t> lost_from;  // pack -> first offset whose bytes are gone
  for (auto& [pack, row] : rows) {
    auto size = packs_->FileSize(pack);
    if (!size.ok()) {
      LogLine("recovery: " + size.status().message() + " (verify will name the affected files)");
      continue;
    }
    uint64_t end = std::min(*size, row.indexed_end);
    if (row.synced_end < end) {
      uint64_t valid_end;
      CIUIC_RETURN_IF_ERROR(packs_->Scan(pack, row.synced_end, end, false, nullptr, &valid_end));
      end = valid_end;
    }
    if (end < row.indexed_end) {
      LogLine("recovery: packs/" + PackFileName(pack) + " lost bytes past offset " + std::to_string(end) +
              " (power loss?); versions that used them will fail with EIO");
      lost_from[pack] = end;
    }
    if (*size > end) {
      LogLine("recovery: cutting packs/" + PackFileName(pack) + " from " + std::to_string(*size) + " to " +
              std::to_string(end) + " bytes (unreferenced or torn tail)");
      CIUIC_RETURN_IF_ERROR(packs_->Truncate(pack, end));
    }
  }
  if (!lost_from.empty()) {
    // Keep the rows (manifests still count on them) but mark them lost: reads
    // fail, and the next ingest of the same bytes stores them again and
    // repoints the row (see PinOrStore and CommitInTxn).
    CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
      std::vector<std::pair<std::string, ChunkRow>> lost;
      CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
        ChunkRow row;
        if (DecodeChunkRow(v, &row)) {
          auto it = lost_from.find(row.location.pack);
          if (it != lost_from.end() && row.location.end() > it->second) lost.emplace_back(std::string(k), row);
        }
        return true;
      }));
      for (auto& [pack, end] : lost_from) {
        PackRow row = rows[pack];
        row.indexed_end = row.synced_end = end;
        for (auto& [k, chunk] : lost) {
          if (chunk.location.pack != pack) continue;
          uint64_t bytes = kRecordHeaderSize + chunk.location.stored_len;
          row.live_bytes = row.live_bytes > bytes ? row.live_bytes - bytes : 0;
          row.live_records = row.live_records > 0 ? row.live_records - 1 : 0;
        }
        CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPacks, PackKey(pack), EncodePackRow(row)));
      }
      for (auto& [k, chunk] : lost) {
        chunk.location.pack = kLostPack;
        CIUIC_RETURN_IF_ERROR(txn.Put(Db::kChunks, k, EncodeChunkRow(chunk)));
      }
      return Status::Ok();
    }));
  }
  packs_ = std::make_unique<PackStore>(dir_ + "/packs", max_pack + 1, pack_target_size_);
  return Status::Ok();
}

namespace {

std::string IdKey(const Hash128& id) {
  std::string k;
  PutBE<uint64_t>(&k, id.hi);
  PutBE<uint64_t>(&k, id.lo);
  return k;
}

Result<Snapshot> DecodeSnapshotOrCorrupt(std::string_view v) {
  Snapshot s;
  if (!DecodeSnapshot(v, &s)) return Status::Corruption("index: undecodable snapshot row");
  return s;
}

}  // namespace

std::string SnapshotIdKey(const Hash128& id) { return IdKey(id); }

Result<std::optional<Snapshot>> LoadHead(Txn& txn) {
  std::optional<std::string> raw;
  CIUIC_RETURN_IF_ERROR(txn.ScanBack(Db::kSnapshots, SeqKey(UINT64_MAX), [&](std::string_view, std::string_view v) {
    raw.emplace(v);
    return false;
  }));
  if (!raw) return std::optional<Snapshot>();
  auto s = DecodeSnapshotOrCorrupt(*raw);
  if (!s.ok()) return s.status();
  return std::optional<Snapshot>(std::move(s.value()));
}

Result<std::optional<Snapshot>> Store::Head() {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return LoadHead(**txn);
}

Result<Snapshot> Store::GetSnapshot(uint64_t seq) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  auto v = (*txn)->Get(Db::kSnapshots, SeqKey(seq));
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no snapshot with sequence " + std::to_string(seq));
  return DecodeSnapshotOrCorrupt(**v);
}

Result<std::vector<Snapshot>> Store::ListSnapshots() {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::vector<Snapshot> out;
  Status bad;
  CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kSnapshots, "", [&](std::string_view, std::string_view v) {
    out.emplace_back();
    if (!DecodeSnapshot(v, &out.back())) bad = Status::Corruption("index: undecodable snapshot row");
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Result<Snapshot> Store::FindByStep(int64_t step) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  const std::string prefix = StepKey(step, 0).substr(0, 8);
  std::optional<uint64_t> seq;
  CIUIC_RETURN_IF_ERROR((*txn)->ScanBack(Db::kSteps, StepKey(step, UINT64_MAX), [&](std::string_view k, std::string_view) {
    if (k.size() == 16 && k.substr(0, 8) == prefix) seq = LoadBE<uint64_t>(k.data() + 8);
    return false;
  }));
  if (!seq) return Status::NotFound("no snapshot with step " + std::to_string(step));
  auto v = (*txn)->Get(Db::kSnapshots, SeqKey(*seq));
  if (!v.ok()) return v.status();
  if (!*v) return Status::Corruption("index: step row names missing snapshot " + std::to_string(*seq));
  return DecodeSnapshotOrCorrupt(**v);
}

Result<Snapshot> Store::FindByIdPrefix(std::string_view prefix) {
  if (prefix.size() < 8 || prefix.size() > 32 ||
      prefix.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
    return Status::InvalidArgument("snapshot id prefix must be 8 to 32 hex digits");
  std::string lower(prefix);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto start = Hash128::FromHex(lower + std::string(32 - lower.size(), '0'));
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::vector<uint64_t> matches;
  CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kSnapshotIds, IdKey(*start), [&](std::string_view k, std::string_view v) {
    if (k.size() != 16 || v.size() != 8) return false;
    Hash128 id{LoadBE<uint64_t>(k.data() + 8), LoadBE<uint64_t>(k.data())};
    if (id.Hex().compare(0, lower.size(), lower) != 0) return false;
    matches.push_back(LoadLE<uint64_t>(v.data()));
    return matches.size() < 2;
  }));
  if (matches.empty()) return Status::NotFound("no snapshot id starts with " + lower);
  if (matches.size() > 1) return Status::InvalidArgument("snapshot id prefix " + lower + " is ambiguous");
  auto v = (*txn)->Get(Db::kSnapshots, SeqKey(matches[0]));
  if (!v.ok()) return v.status();
  if (!*v) return Status::Corruption("index: id row names missing snapshot");
  return DecodeSnapshotOrCorrupt(**v);
}

Result<Tree> LoadTree(Txn& txn, const Hash128& tree_id, uint32_t* refcount) {
  Tree tree;
  if (tree_id.IsZero()) return tree;
  auto v = txn.Get(Db::kTrees, tree_id.Bytes());
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tree " + tree_id.Hex());
  if ((*v)->size() < 4 || !DecodeTree((*v)->substr(4), &tree))
    return Status::Corruption("index: undecodable tree " + tree_id.Hex());
  if (refcount) *refcount = LoadLE<uint32_t>((*v)->data());
  return tree;
}

Result<Tree> Store::GetTree(const Hash128& tree_id) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return LoadTree(**txn, tree_id, nullptr);
}

Result<Manifest> LoadManifest(Txn& txn, const VersionId& id, uint32_t* refcount) {
  Manifest m;
  m.id = id;
  auto v = txn.Get(Db::kManifests, id.Bytes());
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no file version " + id.Hex());
  if (!DecodeManifest(**v, &m, refcount)) return Status::Corruption("index: undecodable manifest " + id.Hex());
  return m;
}

Result<Manifest> Store::GetManifest(const VersionId& id) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return LoadManifest(**txn, id, nullptr);
}

Result<std::vector<std::pair<uint64_t, Change>>> Store::PathHistory(std::string_view path) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string prefix(path);
  prefix.push_back('\0');
  std::vector<std::pair<uint64_t, Change>> out;
  CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kPaths, prefix, [&](std::string_view k, std::string_view v) {
    if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) return false;
    Decoder d(v);
    Change c;
    c.path = std::string(path);
    c.kind = static_cast<ChangeKind>(d.LE<uint8_t>());
    std::string_view id = d.Bytes(16);
    c.size = d.LE<uint64_t>();
    if (d.done()) {
      c.version = Hash128::FromBytes(id.data());
      out.emplace_back(LoadBE<uint64_t>(k.data() + prefix.size()), std::move(c));
    }
    return true;
  }));
  return out;
}

Status Store::Sync() {
  if (read_only_) return Status::Ok();  // nothing of ours to sync
  std::map<uint32_t, uint64_t> synced;
  CIUIC_RETURN_IF_ERROR(packs_->SyncAll(&synced));
  if (!synced.empty()) {
    CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
      for (auto& [pack, end] : synced) {
        auto v = txn.Get(Db::kPacks, PackKey(pack));
        if (!v.ok()) return v.status();
        PackRow row;
        if (!*v || !DecodePackRow(**v, &row)) continue;
        row.synced_end = std::max(row.synced_end, std::min(end, row.indexed_end));
        CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPacks, PackKey(pack), EncodePackRow(row)));
      }
      return Status::Ok();
    }));
  }
  return env_->Sync();
}

Result<StoreStats> Store::Stats() {
  StoreStats st;
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  auto count = [&](Db db, uint64_t* n) {
    return (*txn)->Scan(db, "", [&](std::string_view, std::string_view) {
      ++*n;
      return true;
    });
  };
  CIUIC_RETURN_IF_ERROR(count(Db::kSnapshots, &st.snapshots));
  CIUIC_RETURN_IF_ERROR(count(Db::kManifests, &st.versions));
  CIUIC_RETURN_IF_ERROR(count(Db::kChunks, &st.chunks));
  std::vector<uint32_t> packs;
  CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kPacks, "", [&](std::string_view k, std::string_view v) {
    PackRow row;
    if (k.size() == 4 && DecodePackRow(v, &row)) {
      packs.push_back(LoadBE<uint32_t>(k.data()));
      st.live_bytes += row.live_bytes;
    }
    return true;
  }));
  txn->reset();
  for (uint32_t pack : packs) {
    auto size = packs_->FileSize(pack);
    if (size.ok()) {
      st.stored_bytes += *size;
      ++st.pack_files;
    }
  }
  return st;
}

}  // namespace ciuicfs
