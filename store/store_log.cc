// The facade's side of the commit log (FORMAT.md, "Commit log"): logged
// commits, the applier, waiting for it, and the logs of dead processes at
// open. store/journal/ holds the log file and the applier thread.
#include "store/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "store/base/coding.h"
#include "store/base/log.h"
#include "store/cluster/cluster_chain.h"
#include "store/index/lmdb_env.h"
#include "store/journal/commit_log.h"
#include "store/journal/log_applier.h"
#include "store/parts.h"

namespace ciuicfs {

Result<Snapshot> Store::Commit(const CommitRequest& req) {
  // On RADOS every commit goes into the shared chain before it returns.
  if (cluster_ && !parts_->read_only) return cluster_->Commit(req);
  if (!req.logged || parts_->read_only) {
    CIUIC_RETURN_IF_ERROR(SeeLog());  // after every logged commit, as the callers saw them
    return CommitSnapshot(*parts_, req);
  }
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  CommitRequest prepared = req;
  CIUIC_RETURN_IF_ERROR(PrepareForLog(&prepared));
  Snapshot snap;
  snap.time_ns = prepared.time_ns;
  snap.changes = LoggedChanges(prepared);
  auto applier = Applier();
  if (!applier.ok()) return applier.status();
  std::vector<uint32_t> extents;
  for (const TreeEdit& e : prepared.edits)
    if (e.extent != 0) extents.push_back(e.extent);
  auto seq = (*applier)->Submit(std::move(prepared));
  if (!seq.ok()) return seq.status();
  // Named by a commit now: the writer's end keeps the file, a durable
  // commit syncs it.
  for (uint32_t e : extents) extents_->NoteCommitted(e);
  if (req.durable) CIUIC_RETURN_IF_ERROR((*applier)->WaitApplied(*seq));
  return snap;
}

Status Store::SeeLog() {
  std::shared_ptr<LogApplier> applier;
  {
    std::lock_guard<std::mutex> lock(applier_mu_);
    applier = applier_;
  }
  // Reads go on after a failed application (it is the writers' error);
  // whatever removes or moves extent bytes, or syncs, checks it.
  return applier ? applier->Settle() : Status::Ok();
}

Result<LogApplier*> Store::Applier() {
  std::lock_guard<std::mutex> lock(applier_mu_);
  if (applier_) return applier_.get();
  auto log = CommitLog::Create(dir_);
  if (!log.ok()) return log.status();
  applier_ = std::make_shared<LogApplier>(
      std::move(log.value()),
      [this](const std::string& id, const std::vector<LoggedCommit>& batch) {
        Status s = ApplyOrDrop(id, batch);
        // Anything but a full disk stops every change (FORMAT.md): a direct
        // commit must not land before logged ones the next open applies.
        if (!s.ok() && s.code() != Status::Code::kNoSpace) background_->SetError(s);
        return s;
      },
      [this] { return env_->Sync(); });
  return applier_.get();
}

// A batch, or, when the tree rejects one of its commits, each commit alone:
// a rejected one is dropped with a line in the log, the others applied.
Status Store::ApplyOrDrop(const std::string& log_id, const std::vector<LoggedCommit>& batch) {
  Status s = ApplyLogged(log_id, batch);
  if (s.code() != Status::Code::kInvalidArgument && s.code() != Status::Code::kNotFound) return s;
  for (const LoggedCommit& c : batch) {
    Status one = ApplyLogged(log_id, {c});
    if (one.code() == Status::Code::kInvalidArgument || one.code() == Status::Code::kNotFound)
      LogLine("commit log " + log_id + ": commit " + std::to_string(c.seq) + " dropped: " + one.message());
    else
      CIUIC_RETURN_IF_ERROR(one);
  }
  return Status::Ok();
}

// One batch of one log in one transaction, with the log's applied sequence.
Status Store::ApplyLogged(const std::string& log_id, const std::vector<LoggedCommit>& batch) {
  std::vector<CommitRequest> reqs;
  reqs.reserve(batch.size());
  for (const LoggedCommit& c : batch) reqs.push_back(c.req);
  std::string applied;
  PutLE<uint64_t>(&applied, batch.back().seq);
  auto snaps = CommitMany(*parts_, reqs, [&](Txn& txn) { return txn.Put(Db::kMeta, LogMetaKey(log_id), applied); });
  if (!snaps.ok()) return snaps.status();
  // An extent sealed before its commit was applied: its seal's job found no row.
  for (const CommitRequest& r : reqs)
    for (const TreeEdit& e : r.edits)
      if (e.extent != 0 && !extents_->IsWriting(e.extent)) ScheduleIngest(e.extent);
  return Status::Ok();
}

void Store::ApplyDeadLogsFirst(const std::string& dir, const StoreOptions& options) {
  auto logs = ListLogs(dir);
  if (!logs.ok()) return;
  bool dead = false;
  for (const FoundLog& found : *logs) {
    if (LogIsLive(found.path)) continue;
    auto records = ReadLog(found.path);
    dead |= records.ok() && !records->empty();
  }
  if (!dead) return;
  StoreOptions writable = options;
  writable.read_only = false;
  writable.shared = true;
  writable.create_if_missing = false;
  auto store = Store::Open(dir, writable);
  if (!store.ok())
    LogLine("store " + dir + ": commits a killed mount logged are not in the index yet (" + store.status().message() +
            "); the next mount applies them");
}

// The applier's log goes once everything in it is applied, then its row.
void Store::CloseLog() {
  std::shared_ptr<LogApplier> applier;
  {
    std::lock_guard<std::mutex> lock(applier_mu_);
    applier = applier_;
  }
  if (!applier) return;
  const std::string id = applier->log_id();
  // Stopped while still published: a job that asks meanwhile waits for it.
  Status s = applier->Stop();
  if (s.ok()) s = env_->Write([&](Txn& txn) { return txn.Del(Db::kMeta, LogMetaKey(id)); });
  if (!s.ok()) LogLine("commit log " + id + ": " + s.message() + " (the next open applies what is left)");
}

// The last sequence of log `id` that the index holds (0: none).
Result<uint64_t> Store::AppliedSeq(const std::string& id) {
  return WithRead(env_.get(), [&](Txn& txn) -> Result<uint64_t> {
    auto v = txn.Get(Db::kMeta, LogMetaKey(id));
    if (!v.ok()) return v.status();
    return *v && (*v)->size() == 8 ? LoadLE<uint64_t>((*v)->data()) : uint64_t{0};
  });
}

// Applies the logs of processes that died (FORMAT.md, "Commit log"), then
// deletes them and their rows; drops rows whose log is gone.
Status Store::ReplayDeadLogs() {
  auto logs = ListLogs(dir_);
  if (!logs.ok()) return logs.status();
  std::set<std::string> present;
  for (const FoundLog& found : *logs) {
    present.insert(found.id);
    int fd = LockDeadLog(found.path);
    if (fd < 0) continue;  // live, or another opener replays it
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{fd};
    auto records = ReadLog(found.path);
    if (!records.ok()) return records.status();
    auto applied = AppliedSeq(found.id);
    if (!applied.ok()) return applied.status();
    std::erase_if(*records, [&](const LoggedCommit& c) { return c.seq <= *applied; });
    for (size_t at = 0; at < records->size(); at += LogApplier::kMaxBatch) {
      std::vector<LoggedCommit> batch(records->begin() + at,
                                      records->begin() + std::min(records->size(), at + LogApplier::kMaxBatch));
      CIUIC_RETURN_IF_ERROR(ApplyOrDrop(found.id, batch));
    }
    if (!records->empty()) {
      LogLine("commit log " + found.id + ": applied " + std::to_string(records->size()) +
              " commit(s) of a process that ended before it did");
      CIUIC_RETURN_IF_ERROR(parts_->NoteSyncResult(env_->Sync()));
    }
    if (unlink(found.path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove " + found.path);
    present.erase(found.id);
  }
  // Rows of logs that are gone (a clean close deletes its file first).
  std::vector<std::string> stale;
  CIUIC_RETURN_IF_ERROR(WithRead(env_.get(), [&](Txn& txn) -> Status {
    return txn.Scan(Db::kMeta, "journal/", [&](std::string_view k, std::string_view) {
      if (k.substr(0, 8) != "journal/") return false;
      if (!present.count(std::string(k.substr(8)))) stale.emplace_back(k);
      return true;
    });
  }));
  if (stale.empty()) return Status::Ok();
  return env_->Write([&](Txn& txn) -> Status {
    for (const std::string& k : stale) {
      // A log made since the listing has its file before its row.
      if (access((dir_ + "/journal/" + k.substr(8) + ".log").c_str(), F_OK) == 0) continue;
      CIUIC_RETURN_IF_ERROR(txn.Del(Db::kMeta, k));
    }
    return Status::Ok();
  });
}

// A read-only open beside live mounts waits until what they logged is in
// the index (FORMAT.md, "Commit log").
void Store::AwaitLiveLogs() {
  auto logs = ListLogs(dir_);
  if (!logs.ok()) return;
  for (const FoundLog& found : *logs) {
    auto records = ReadLog(found.path);
    if (!records.ok() || records->empty()) continue;
    const uint64_t last = records->back().seq;
    for (int waited_ms = 0; waited_ms < 10000; waited_ms += 2) {
      auto applied = AppliedSeq(found.id);
      if (!applied.ok() || *applied >= last || !LogIsLive(found.path)) break;
      usleep(2000);
    }
  }
}

}  // namespace ciuicfs
