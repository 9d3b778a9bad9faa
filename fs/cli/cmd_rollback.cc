// ciuicfs rollback REF: the whole tree becomes REF's tree, as one new
// snapshot on the mount's branch (main for a store that is not mounted); nothing is rewritten and no chunk bytes are added.
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunRollback(const std::vector<std::string>& args) {
  po::options_description opts("rollback options");
  opts.add_options()("ref", po::value<std::string>()->required(), "the snapshot to return to");
  po::positional_options_description pos;
  pos.add("ref", 1).add("store", 1);  // the store second, or --store
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("rollback", args, opts, "ciuicfs rollback step-1200 /ckpt", pos, true,
                        &vm, &code);
  if (!t) return code;
  auto target = t->store->ResolveRef(vm["ref"].as<std::string>(), t->branch);
  if (!target.ok()) return FailStatus("rollback", target.status());
  auto head = t->store->Head(t->branch);
  auto old_tree = head.ok() && head->has_value() ? t->store->GetTree((*head)->tree) : Result<Tree>(Tree{});
  auto new_tree = t->store->GetTree(target->tree);
  if (!old_tree.ok() || !new_tree.ok()) {
    Fail((old_tree.ok() ? new_tree.status() : old_tree.status()).message());
    return kExitFailed;
  }
  CommitRequest req;
  for (const TreeEntry& e : *old_tree)
    if (e.path.find('/') == std::string::npos) req.edits.push_back(TreeEdit::Remove(e.path));
  for (const TreeEntry& e : *new_tree) req.edits.push_back(TreeEdit::PutEntry(e));
  req.step = target->step;
  req.branch = t->branch;
  // In a mount, the commit and the new live tree are one step: no save
  // through the old tree can land between them.
  const CommandContext* ctx = CurrentContext();
  auto snap = ctx && ctx->mount.commit_and_reload
                  ? ctx->mount.commit_and_reload([&] { return t->store->Commit(req); })
                  : t->store->Commit(req);
  if (!snap.ok()) {
    Fail("rollback: " + snap.status().message());
    return kExitFailed;
  }
  std::fprintf(Out(), "rolled back to snapshot %llu (%s) as snapshot %llu; %llu bytes added\n",
              (unsigned long long)target->seq, target->id.ShortHex().c_str(), (unsigned long long)snap->seq,
              (unsigned long long)snap->bytes_added);
  return kExitOk;
}

}  // namespace ciuicfs::cli
