// The live tree as a whole: built from its branch's head at mount (Load),
// and replaced by another head (a rollback run through the mount, a branch
// switch) with the old nodes left stale for open handles (fs/README.md).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {
Status Filesystem::Load() {
  // Daemons before extents kept private copies under <store>/staging/<pid>/;
  // those of dead daemons are leftovers.
  std::error_code ec;
  const std::string parent = store_->dir() + "/staging";
  for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
    const pid_t pid = static_cast<pid_t>(std::atol(e.path().filename().c_str()));
    const bool alive = pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno != ESRCH);
    if (!alive) std::filesystem::remove_all(e.path(), ec);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto root = std::make_shared<Node>();
  root->ino = FUSE_ROOT_ID;
  root->kind = kLiveDir;
  root->mode = 0755;
  root->attrs.uid = getuid();
  root->attrs.gid = getgid();
  root->mtime_ns = root->ctime_ns = NowNs();
  root->in_tree = true;
  nodes_[FUSE_ROOT_ID] = root;
  history_ = NewNode(kHistory);
  history_->mtime_ns = root->mtime_ns;
  history_->attrs = root->attrs;
  return BuildLiveTree(root.get(), branch());
}

// Fills `root` with the head of `branch` (mu_ held).
Status Filesystem::BuildLiveTree(Node* root, const std::string& branch) {
  auto head = store_->Head(branch);
  if (!head.ok()) return head.status();
  if (!head->has_value()) return Status::Ok();
  auto tree = store_->GetTree((*head)->tree);
  if (!tree.ok()) return tree.status();
  std::map<std::string, Node*> dirs = {{"", root}};
  std::map<uint64_t, NodePtr> links;  // a hard link's node, by its entries' link attribute
  for (const TreeEntry& e : *tree) {  // sorted: parents come before children
    size_t slash = e.path.rfind('/');
    std::string parent_path = slash == std::string::npos ? "" : e.path.substr(0, slash);
    auto parent = dirs.find(parent_path);
    if (parent == dirs.end()) return Status::Corruption("tree of the head snapshot lacks directory " + parent_path);
    const std::string name = e.path.substr(slash == std::string::npos ? 0 : slash + 1);
    if (e.kind != EntryKind::kDirectory && e.attrs.link != 0) {
      auto known = links.find(e.attrs.link);
      if (known != links.end() && known->second->committed == e.version && known->second->special == e.kind) {
        known->second->other_names.emplace_back(parent->second, name);  // another name of that file
        parent->second->children[name] = known->second->ino;
        continue;
      }
    }
    NodePtr n = NewNode(e.kind == EntryKind::kDirectory ? kLiveDir
                        : e.kind == EntryKind::kSymlink ? kLiveLink  // its target is read on readlink
                        : e.kind == EntryKind::kFile    ? kLiveFile
                                                        : kLiveSpecial);
    n->parent = parent->second;
    n->name = name;
    n->mode = e.mode;
    n->attrs = e.attrs;
    n->special = e.kind;
    n->mtime_ns = n->ctime_ns = e.mtime_ns;
    n->size = n->committed_size = e.size;
    n->committed = e.version;
    n->in_tree = true;
    parent->second->children[n->name] = n->ino;
    if (n->kind == kLiveDir) dirs[e.path] = n.get();
    if (n->kind != kLiveDir && e.attrs.link != 0) links.emplace(e.attrs.link, n);
  }
  return Status::Ok();
}

Status Filesystem::ReloadLiveTree() { return ReplaceLiveTree(std::nullopt, nullptr); }

Result<Snapshot> Filesystem::CommitAndReload(const std::function<Result<Snapshot>()>& commit) {
  Result<Snapshot> snap = Status::Ok();
  Status s = ReplaceLiveTree(std::nullopt, [&] {
    snap = commit();
    return snap.status();
  });
  if (!s.ok()) return s;
  return snap;
}

// Under mu_, with no file open for writing: `before` runs (a rollback's
// commit), then the new tree is built beside the old one and swapped in
// with the branch (when given), so no namespace change can commit an old
// path to the new tree and a failed build changes nothing.
Status Filesystem::ReplaceLiveTree(const std::optional<std::string>& branch, const std::function<Status()>& before) {
  std::vector<std::string> old_names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if ((branch || before) && writers_.load() > 0)
      return Status::Busy(branch ? "a file is open for writing; close it before switching branches"
                                 : "a file is open for writing; close it before a rollback");
    if (before) CIUIC_RETURN_IF_ERROR(before());
    NodePtr root = Get(FUSE_ROOT_ID);
    std::vector<Node*> old_nodes;  // the live tree now, before the new one joins the table
    for (auto& [ino, n] : nodes_)
      if (ino != FUSE_ROOT_ID && IsLive(n->kind) && n->parent) old_nodes.push_back(n.get());
    auto fresh = std::make_shared<Node>();  // the new top level, built aside
    fresh->ino = FUSE_ROOT_ID;
    fresh->kind = kLiveDir;
    fresh->attrs = root->attrs;
    CIUIC_RETURN_IF_ERROR(BuildLiveTree(fresh.get(), branch ? *branch : this->branch()));
    // Old nodes stay valid for open handles, detached and stale: what is
    // written through them is refused, and a detached directory takes no
    // new names (ENOENT).
    for (Node* n : old_nodes) {
      n->unlinked = true;
      n->stale = true;
      n->in_tree = false;
      n->parent = nullptr;
      n->other_names.clear();
    }
    for (auto& [name, ino] : root->children) old_names.push_back(name);
    root->children = std::move(fresh->children);
    for (auto& [name, ino] : root->children) Get(ino)->parent = root.get();
    if (branch) {
      std::lock_guard<std::mutex> b(branch_mu_);
      branch_ = *branch;
    }
  }
  if (session_)
    for (const std::string& name : old_names)
      fuse_lowlevel_notify_inval_entry(session_, FUSE_ROOT_ID, name.c_str(), name.size());
  return Status::Ok();
}

std::string Filesystem::branch() const {
  std::lock_guard<std::mutex> lock(branch_mu_);
  return branch_;
}

Status Filesystem::SwitchBranch(const std::string& name) {
  auto head = store_->Head(name);
  if (!head.ok()) return head.status();
  return ReplaceLiveTree(name, nullptr);
}

}  // namespace ciuicfs
