#include "store/record/training_record.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "store/ingest/version_reader.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

constexpr uint64_t kMaxTrainerState = 64ull << 20;
constexpr size_t kMaxCached = 65536;
constexpr size_t kMaxChanges = 256;  // a rollback's or a copy's many changes say nothing of training
constexpr std::string_view kXattrPrefix = "user.ciuic.";

bool IsTrainerState(std::string_view path) {
  const size_t slash = path.rfind('/');
  return path.substr(slash == std::string_view::npos ? 0 : slash + 1) == "trainer_state.json";
}

Result<std::string> ReadWhole(Store* store, const VersionId& id, uint64_t size) {
  auto reader = store->OpenVersion(id);
  if (!reader.ok()) return reader.status();
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    auto n = (*reader)->Read(done, size - done, out.data() + done);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    done += *n;
  }
  out.resize(done);
  return out;
}

}  // namespace

void TrainingRecords::FromTrainerState(std::string_view json, int64_t step, SnapshotRecord* out) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return;
  auto history = doc.find("log_history");
  if (history == doc.end() || !history->is_array()) return;
  for (const auto& item : *history) {
    if (!item.is_object()) continue;
    auto s = item.find("step");
    if (s == item.end() || !s->is_number_integer() || s->get<int64_t>() != step) continue;
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it.key() == "step" || !it.value().is_number()) continue;
      const double v = it.value().get<double>();
      if (std::isfinite(v)) out->metrics[it.key()] = v;
    }
  }
}

void TrainingRecords::FromXattr(const std::string& name, const std::string& value, SnapshotRecord* out) {
  if (name.compare(0, kXattrPrefix.size(), kXattrPrefix) != 0) return;
  const std::string key = name.substr(kXattrPrefix.size());
  if (key.empty() || key == "step") return;
  const std::string text(value.c_str());  // a value set with its NUL counts without it
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  if (!text.empty() && errno == 0 && end == text.c_str() + text.size() && std::isfinite(v)) {
    out->metrics[key] = v;
    out->notes.erase(key);
  } else {
    out->notes[key] = value;
    out->metrics.erase(key);
  }
}

Result<SnapshotRecord> TrainingRecords::Compute(const Snapshot& s) {
  SnapshotRecord rec;
  std::vector<TreeEntry> entries;
  for (size_t i = 0; i < s.changes.size() && i < kMaxChanges; ++i) {
    const Change& c = s.changes[i];
    if (c.kind == ChangeKind::kRemove) continue;
    auto entry = store_->LookupInTree(s.tree, c.path);
    if (!entry.ok()) return entry.status();
    if (!*entry) continue;  // changed again later in the same snapshot
    entries.push_back(std::move(**entry));
  }
  for (const TreeEntry& e : entries) {
    if (e.kind != EntryKind::kFile || !IsTrainerState(e.path) || e.size > kMaxTrainerState) continue;
    auto text = ReadWhole(store_, e.version, e.size);
    if (!text.ok()) return text.status();
    FromTrainerState(*text, s.step, &rec);
  }
  for (const TreeEntry& e : entries)
    for (const auto& [name, value] : e.attrs.xattrs) FromXattr(name, value, &rec);
  return rec;
}

Result<SnapshotRecord> TrainingRecords::Of(const Snapshot& s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(s.id);
    if (it != cache_.end()) return it->second;
  }
  auto rec = Compute(s);
  if (!rec.ok()) return rec;
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_.emplace(s.id, *rec);
  return rec;
}

std::optional<Result<Snapshot>> TrainingRecords::ResolveBest(std::string_view ref, const std::string& branch) {
  if (ref.rfind("best-", 0) != 0) return std::nullopt;
  std::string metric(ref.substr(5));
  bool highest = false;
  if (metric.rfind("max-", 0) == 0) {
    highest = true;
    metric = metric.substr(4);
  }
  if (metric.empty()) return Result<Snapshot>(Status::InvalidArgument("best-: name a metric (best-eval_loss)"));
  auto line = store_->BranchLine(branch);
  if (!line.ok()) return Result<Snapshot>(line.status());
  const Snapshot* best = nullptr;
  double best_value = 0;
  for (const Snapshot& s : *line) {  // oldest first: a tie goes to the newer
    auto rec = Of(s);
    if (!rec.ok()) return Result<Snapshot>(rec.status());
    auto it = rec->metrics.find(metric);
    if (it == rec->metrics.end()) continue;
    if (!best || (highest ? it->second >= best_value : it->second <= best_value)) {
      best = &s;
      best_value = it->second;
    }
  }
  if (!best) return Result<Snapshot>(Status::NotFound("no snapshot on " + branch + " records metric '" + metric + "'"));
  return Result<Snapshot>(*best);
}

}  // namespace ciuicfs
