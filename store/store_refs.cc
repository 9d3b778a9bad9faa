// The facade's ref changes (tags, branches, dropped snapshots): on a local
// store one index write transaction each, on RADOS a commit object that
// every node applies (FORMAT.md, "A store on RADOS").
#include "store/chain/branches.h"
#include "store/chain/refs.h"
#include "store/chain/snapshot_chain.h"
#include "store/cluster/cluster_chain.h"
#include "store/index/lmdb_env.h"
#include "store/parts.h"
#include "store/store.h"

namespace ciuicfs {

Status Store::SetTag(const std::string& name, uint64_t seq) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  CIUIC_RETURN_IF_ERROR(Refs::ValidateTagName(name));
  if (cluster_) return cluster_->ChangeRefs({RefChange::Op::kSetTag, name, {seq}});
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  return env_->Write([&](Txn& txn) { return refs_->SetTag(txn, name, seq); });
}

Status Store::DeleteTag(const std::string& name) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  if (cluster_) return cluster_->ChangeRefs({RefChange::Op::kDeleteTag, name, {}});
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  return env_->Write([&](Txn& txn) { return refs_->DeleteTag(txn, name); });
}

Status Store::CreateBranch(const std::string& name, uint64_t seq) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  if (cluster_) return cluster_->ChangeRefs({RefChange::Op::kCreateBranch, name, {seq}});
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  return env_->Write([&](Txn& txn) { return ciuicfs::CreateBranch(txn, *chain_, name, seq); });
}

Status Store::DeleteBranch(const std::string& name) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  if (cluster_) return cluster_->ChangeRefs({RefChange::Op::kDeleteBranch, name, {}});
  return ciuicfs::DeleteBranch(*parts_, name);
}

Status Store::DropSnapshots(const std::vector<uint64_t>& seqs) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  if (cluster_) return cluster_->ChangeRefs({RefChange::Op::kDropSnapshots, "", seqs});
  return ciuicfs::DropSnapshots(*parts_, seqs);
}

}  // namespace ciuicfs
