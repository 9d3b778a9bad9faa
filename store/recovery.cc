#include "store/recovery.h"

#include <algorithm>
#include <map>
#include <vector>

#include "store/base/log.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

// Keeps the rows (manifests still count on them) but marks them lost:
// reads fail, and the next ingest of the same bytes stores them again and
// repoints the row (PinTable::PinOrStore, commit).
Status MarkLost(LmdbEnv* env, std::map<uint32_t, PackRow> rows, const std::map<uint32_t, uint64_t>& lost_from) {
  return env->Write([&](Txn& txn) -> Status {
    std::vector<std::pair<ChunkId, ChunkRow>> lost;
    Status bad;
    CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
      ChunkId id;
      ChunkRow row;
      if (!DecodeHashKey(k, &id) || !DecodeChunkRow(v, &row)) {
        bad = CorruptRow(Db::kChunks, k);
        return false;
      }
      auto it = lost_from.find(row.location.pack);
      if (it != lost_from.end() && row.location.end() > it->second) lost.emplace_back(id, row);
      return true;
    }));
    CIUIC_RETURN_IF_ERROR(bad);
    for (auto& [pack, end] : lost_from) {
      PackRow row = rows[pack];
      row.indexed_end = row.synced_end = end;
      for (auto& [id, chunk] : lost) {
        if (chunk.location.pack != pack) continue;
        uint64_t bytes = chunk.location.record_bytes();
        row.live_bytes = row.live_bytes > bytes ? row.live_bytes - bytes : 0;
        row.live_records = row.live_records > 0 ? row.live_records - 1 : 0;
      }
      CIUIC_RETURN_IF_ERROR(PutPackRow(txn, pack, row));
    }
    for (auto& [id, chunk] : lost) {
      chunk.location.pack = kLostPack;
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, chunk));
    }
    return Status::Ok();
  });
}

}  // namespace

Result<uint32_t> RecoverPacks(LmdbEnv* env, PackStore* packs, bool repair) {
  std::map<uint32_t, PackRow> rows;
  {
    auto txn = env->BeginRead();
    if (!txn.ok()) return txn.status();
    auto loaded = LoadPackRows(**txn);
    if (!loaded.ok()) return loaded.status();
    rows = std::move(loaded.value());
  }
  auto files = packs->ListFiles();
  if (!files.ok()) return files.status();
  uint32_t max_pack = rows.empty() ? 0 : rows.rbegin()->first;
  for (uint32_t pack : *files) max_pack = std::max(max_pack, pack);
  if (!repair) return max_pack + 1;
  for (uint32_t pack : *files) {
    if (!rows.count(pack)) {
      LogLine("recovery: removing " + packs->Name(pack) + ", which no index entry references");
      CIUIC_RETURN_IF_ERROR(packs->Remove(pack));
    }
  }
  std::map<uint32_t, uint64_t> lost_from;  // pack -> first offset whose bytes are gone
  for (auto& [pack, row] : rows) {
    auto size = packs->FileSize(pack);
    if (!size.ok()) {
      LogLine("recovery: " + size.status().message() + " (verify will name the affected files)");
      continue;
    }
    uint64_t end = std::min(*size, row.indexed_end);
    if (row.synced_end < end) {
      uint64_t valid_end;
      CIUIC_RETURN_IF_ERROR(packs->Scan(pack, row.synced_end, end, false, nullptr, &valid_end));
      end = valid_end;
    }
    if (end < row.indexed_end) {
      LogLine("recovery: " + packs->Name(pack) + " lost bytes past offset " + std::to_string(end) +
              " (power loss?); versions that used them will fail with EIO");
      lost_from[pack] = end;
    }
    if (*size > end) {
      LogLine("recovery: cutting " + packs->Name(pack) + " from " + std::to_string(*size) + " to " +
              std::to_string(end) + " bytes (unreferenced or torn tail)");
      CIUIC_RETURN_IF_ERROR(packs->Truncate(pack, end));
    }
  }
  if (!lost_from.empty()) CIUIC_RETURN_IF_ERROR(MarkLost(env, rows, lost_from));
  return max_pack + 1;
}

}  // namespace ciuicfs
