// Harness (tree_harness.h): commits to the store and the model, and the
// checks of the store's trees, snapshots, versions and contents against
// the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/commit.h"
#include "store/index/rows.h"
#include "store/ingest/ingest_session.h"
#include "store/store.h"
#include "tests/store/test_util.h"
#include "tests/store/tree_harness.h"
#include "tests/store/tree_model.h"

namespace ciuicfs::tree_model {

using testing::Ingest;
using testing::OpenStore;
using testing::ReadVersion;

bool Harness::Commit(const std::vector<Edit>& edits) {
  ++commits_;
  EXPECT_FALSE(Leaks(edits))
      << Where()
      << ": test bug: this commit drops a version it ingests:" << Show(edits);
  Expected want = Simulate(
      model_, edits, [&](const VersionId& v) { return uses_.count(v) > 0; });
  std::deque<PendingVersion> fresh;
  CommitRequest req;
  for (const Edit& e : edits) {
    TreeEdit te;
    switch (e.op) {
      case Edit::Op::kPutFresh:
        fresh.push_back(Ingest(store_.get(), e.bytes));
        EXPECT_EQ(fresh.back().id(), e.version()) << Where();
        EXPECT_EQ(fresh.back().size(), e.bytes.size()) << Where();
        te = TreeEdit::PutFile(e.path, e.mode, e.mtime, &fresh.back());
        break;
      case Edit::Op::kPutExisting:
        te = TreeEdit::PutExisting(e.path, e.mode, e.mtime, e.existing);
        break;
      case Edit::Op::kPutDir:
        te = TreeEdit::PutDirectory(e.path, e.mode, e.mtime);
        break;
      case Edit::Op::kRemove:
        te = TreeEdit::Remove(e.path);
        break;
      case Edit::Op::kRename:
        te = TreeEdit::Rename(e.from, e.path, e.mode, e.mtime);
        break;
    }
    if (e.op == Edit::Op::kPutFresh || e.op == Edit::Op::kPutExisting)
      if (e.kind == EntryKind::kSymlink) te.op = TreeEdit::Op::kPutSymlink;
    req.edits.push_back(std::move(te));
  }
  if (P(0.7)) req.step = commits_;
  req.time_ns = 1'700'000'000'000'000'000 + commits_;
  auto snap = store_->Commit(req);
  edits_ += static_cast<int>(edits.size());

  if (want.code != Code::kOk) {
    ++refused_;
    if (snap.ok()) {
      ADD_FAILURE() << Where() << ": the commit should fail ("
                    << static_cast<int>(want.code) << ") at edit #"
                    << want.failing << " (" << Show(edits[want.failing])
                    << ") but made snapshot " << snap->seq
                    << "; edits:" << Show(edits);
      return false;
    }
    EXPECT_EQ(snap.status().code(), want.code)
        << Where() << ": " << snap.status().ToString() << "; failing edit #"
        << want.failing << " (" << Show(edits[want.failing])
        << "); edits:" << Show(edits);
    // Nothing changed.
    auto head = store_->Head();
    EXPECT_TRUE(head.ok()) << head.status().ToString();
    if (head.ok()) {
      EXPECT_EQ(*head ? (*head)->seq : 0, head_seq_)
          << Where() << ": a failed commit moved the head";
      EXPECT_EQ(*head ? (*head)->tree : Hash128{}, head_root_)
          << Where() << ": a failed commit changed the tree";
    }
    if (P(0.3))
      CheckWholeTree(head_root_, model_, Where() + " (after a failed commit)");
    return false;
  }
  if (!snap.ok()) {
    ADD_FAILURE() << Where() << ": commit failed: " << snap.status().ToString()
                  << "; edits:" << Show(edits);
    return false;
  }
  EXPECT_EQ(snap->seq, head_seq_ + 1) << Where();
  if (snap->changes != want.changes)
    ADD_FAILURE() << Where() << ": snapshot changes: "
                  << FirstDiff(snap->changes, want.changes)
                  << "; edits:" << Show(edits);
  for (const Edit& e : edits)
    if (e.op == Edit::Op::kPutFresh) contents_.emplace(e.version(), e.bytes);
  model_ = std::move(want.after);
  head_seq_ = snap->seq;
  head_root_ = snap->tree;
  retained_[head_seq_] = model_;
  roots_[head_seq_] = head_root_;
  AddUses(model_, +1);
  max_entries_ = std::max(max_entries_, model_.size());
  for (auto& [path, e] : model_)
    max_depth_ = std::max(max_depth_, DepthOf(path));

  // The edited paths, their neighbours in byte order, and their parents.
  std::set<std::string> probes;
  for (const Edit& e : edits) {
    for (const std::string* p : {&e.path, &e.from}) {
      if (p->empty()) continue;
      probes.insert(*p);
      probes.insert(ParentOf(*p));
      auto it = model_.lower_bound(*p);
      if (it != model_.end()) probes.insert(it->first);
      if (it != model_.end() && ++it != model_.end()) probes.insert(it->first);
      it = model_.lower_bound(*p);
      if (it != model_.begin()) probes.insert(std::prev(it)->first);
    }
  }
  probes.erase("");
  CheckTree(head_root_, model_,
            std::vector<std::string>(probes.begin(), probes.end()),
            Where() + ", snapshot " + std::to_string(head_seq_));
  return true;
}

void Harness::AddUses(const Model& m, int delta) {
  for (auto& [path, e] : m)
    if (e.kind != EntryKind::kDirectory) {
      int& n = uses_[e.version];
      n += delta;
      if (n == 0) uses_.erase(e.version);
    }
  versions_.clear();
  for (auto& [v, n] : uses_) versions_.push_back(v);
}

bool Harness::CheckWholeTree(const Hash128& root, const Model& m,
                             const std::string& what) {
  EXPECT_EQ(root.IsZero(), m.empty())
      << what << ": the empty tree, and only it, is root zero";
  auto tree = store_->GetTree(root);
  if (!tree.ok()) {
    ADD_FAILURE() << what << ": GetTree: " << tree.status().ToString();
    return false;
  }
  Tree want = ModelTree(m);
  if (*tree != want) {
    ADD_FAILURE() << what << ": GetTree: " << FirstDiff(*tree, want);
    return false;
  }
  return true;
}

void Harness::CheckLookup(const Hash128& root, const Model& m,
                          const std::string& path, const std::string& what) {
  auto got = store_->LookupInTree(root, path);
  if (!got.ok()) {
    ADD_FAILURE() << what << ": LookupInTree('" << path
                  << "'): " << got.status().ToString();
    return;
  }
  auto it = m.find(path);
  std::optional<TreeEntry> want =
      it == m.end() ? std::nullopt : std::optional<TreeEntry>(it->second);
  if (*got != want)
    ADD_FAILURE() << what << ": LookupInTree('" << path << "'): got "
                  << Show(*got) << ", want " << Show(want);
}

void Harness::CheckList(const Hash128& root, const Model& m,
                        const std::string& dir, const std::string& what) {
  auto got = store_->ListTreeDir(root, dir);
  if (!got.ok()) {
    ADD_FAILURE() << what << ": ListTreeDir('" << dir
                  << "'): " << got.status().ToString();
    return;
  }
  std::vector<TreeEntry> want = ModelList(m, dir);
  if (*got != want)
    ADD_FAILURE() << what << ": ListTreeDir('" << dir
                  << "'): " << FirstDiff(*got, want);
}

void Harness::CheckListOfNonDir(const Hash128& root, const std::string& path,
                                const std::string& what) {
  auto got = store_->ListTreeDir(root, path);
  if (got.ok()) {
    EXPECT_TRUE(got->empty())
        << what << ": ListTreeDir('" << path << "') of a non-directory lists "
        << got->size() << " entries, the first " << Show(got->front());
  } else {
    EXPECT_TRUE(got.status().IsNotFound() ||
                got.status().code() == Code::kInvalidArgument)
        << what << ": ListTreeDir('" << path
        << "'): " << got.status().ToString();
  }
}

void Harness::CheckTree(const Hash128& root, const Model& m,
                        std::vector<std::string> probes,
                        const std::string& what) {
  if (!CheckWholeTree(root, m, what)) return;
  std::vector<const std::string*> keys;
  if (!m.empty())
    for (int i = 0; i < 8; ++i)
      keys.push_back(&std::next(m.begin(), U(m.size()))->first);
  if (!m.empty()) {
    keys.push_back(&m.begin()->first);
    keys.push_back(&m.rbegin()->first);
  }
  while (probes.size() > 24) {
    std::swap(probes[U(probes.size())], probes.back());
    probes.pop_back();
  }
  std::set<std::string> paths(probes.begin(), probes.end()), dirs{""};
  for (const std::string* k : keys) paths.insert(*k);
  std::vector<std::string> around;
  int ancestors = 0;
  for (const std::string& p : paths) {
    static const char* kNext[] = {"-", "0", "/x", "~", ".", " "};
    for (int i = 0; i < 2; ++i) around.push_back(p + kNext[U(6)]);
    if (p.size() > 1) around.push_back(p.substr(0, p.size() - 1));
    if (ancestors++ < 3)
      for (std::string d = ParentOf(p); !d.empty(); d = ParentOf(d))
        around.push_back(d);
    if (dirs.size() < 10) dirs.insert(ParentOf(p));
  }
  around.push_back("no-such-entry");
  around.push_back("no/such/deep/entry/at/all/here/x");
  paths.insert(around.begin(), around.end());
  for (const std::string& p : paths) CheckLookup(root, m, p, what);
  for (const std::string& d : focus_dirs_) dirs.insert(d);
  for (int i = 0; i < 3 && !m.empty(); ++i) {
    auto it = std::next(m.begin(), U(m.size()));
    dirs.insert(it->second.kind == EntryKind::kDirectory ? it->first
                                                         : ParentOf(it->first));
  }
  for (const std::string& d : dirs) {
    auto it = m.find(d);
    if (d.empty() ||
        (it != m.end() && it->second.kind == EntryKind::kDirectory))
      CheckList(root, m, d, what);
    else
      CheckListOfNonDir(root, d, what);
  }
  CheckListOfNonDir(root, "no-such-dir", what);
  for (const std::string* k : keys)
    if (m.at(*k).kind != EntryKind::kDirectory) {
      CheckListOfNonDir(root, *k, what);
      break;
    }
}

void Harness::CheckAllRetained(const std::string& when) {
  auto list = store_->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  std::vector<uint64_t> seqs, want;
  for (const Snapshot& s : *list) seqs.push_back(s.seq);
  for (auto& [seq, m] : retained_) want.push_back(seq);
  EXPECT_EQ(seqs, want) << "seed " << seed_ << " " << when
                        << ": the retained snapshots";
  for (auto& [seq, m] : retained_) {
    const std::string what = "seed " + std::to_string(seed_) + " " + when +
                             ", snapshot " + std::to_string(seq);
    auto snap = store_->GetSnapshot(seq);
    if (!snap.ok()) {
      ADD_FAILURE() << what << ": " << snap.status().ToString();
      continue;
    }
    EXPECT_EQ(snap->tree, roots_[seq]) << what;
    CheckTree(roots_[seq], m, {}, what);
    if (::testing::Test::HasFailure()) return;
  }
}

void Harness::TagSome(int n) {
  std::vector<uint64_t> older;
  for (auto& [seq, m] : retained_)
    if (seq != head_seq_ && !tagged_.count(seq)) older.push_back(seq);
  for (int i = 0; i < n && !older.empty(); ++i) {
    uint64_t seq = Pick(older);
    ASSERT_TRUE(store_->SetTag("keep-" + std::to_string(seq), seq).ok());
    tagged_.insert(seq);
  }
  std::vector<uint64_t> some;
  for (uint64_t seq : older)
    if (!tagged_.count(seq) && some.size() < 3) some.push_back(seq);
  if (!tagged_.empty()) {
    std::vector<uint64_t> with_tagged = some;
    with_tagged.push_back(*tagged_.begin());
    EXPECT_EQ(store_->DropSnapshots(with_tagged).code(),
              Code::kInvalidArgument);
  }
  std::vector<uint64_t> with_head = some;
  with_head.push_back(head_seq_);
  EXPECT_EQ(store_->DropSnapshots(with_head).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ListSnapshots()->size(), retained_.size())
      << "a refused drop dropped something";
}

void Harness::DropAndGc(double fraction) {
  std::vector<uint64_t> drop;
  for (auto& [seq, m] : retained_)
    if (seq != head_seq_ && !tagged_.count(seq) && P(fraction))
      drop.push_back(seq);
  std::shuffle(drop.begin(), drop.end(), rng_);
  size_t half = drop.size() / 2;
  std::vector<uint64_t> first(drop.begin(), drop.begin() + half),
      second(drop.begin() + half, drop.end());
  for (const auto& part : {first, second}) {
    if (part.empty()) continue;
    Status s = store_->DropSnapshots(part);
    ASSERT_TRUE(s.ok()) << "seed " << seed_
                        << ": DropSnapshots: " << s.ToString();
    for (uint64_t seq : part) {
      AddUses(retained_[seq], -1);
      retained_.erase(seq);
      roots_.erase(seq);
    }
  }
  auto gc = store_->Gc({});
  ASSERT_TRUE(gc.ok()) << "seed " << seed_
                       << ": Gc: " << gc.status().ToString();
}

void Harness::ExpectVerifyClean(const std::string& when) {
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const std::string& p : report->problems)
    ADD_FAILURE() << "seed " << seed_ << " " << when << ": verify: " << p;
  EXPECT_EQ(report->snapshots, retained_.size()) << when;
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->versions, uses_.size())
      << "seed " << seed_ << " " << when << ": stored versions";
  EXPECT_EQ(stats->snapshots, retained_.size()) << when;
  int checked = 0;
  for (auto& [v, bytes] : contents_) {
    if (uses_.count(v) || checked++ >= 20) continue;
    EXPECT_TRUE(store_->GetManifest(v).status().IsNotFound())
        << "seed " << seed_ << " " << when << ": version " << v.ShortHex()
        << " is named by no retained tree";
  }
}

void Harness::CheckContents(int n, const std::string& when) {
  std::vector<VersionId> sample;
  for (int i = 0; i < n && !versions_.empty(); ++i)
    sample.push_back(Pick(versions_));
  int head_files = 0;
  for (auto& [path, e] : model_)
    if (e.kind != EntryKind::kDirectory && head_files++ < 10)
      sample.push_back(e.version);
  for (const VersionId& v : sample) {
    auto it = contents_.find(v);
    if (it == contents_.end()) {
      ADD_FAILURE() << "test: no bytes known for version " << v.ShortHex();
      continue;
    }
    EXPECT_EQ(ReadVersion(store_.get(), v), it->second)
        << "seed " << seed_ << " " << when << ": content of version "
        << v.ShortHex();
  }
}

void Harness::Reopen() {
  store_.reset();
  store_ = OpenStore(dir_.Sub("s"));
  auto head = store_->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, head_seq_);
  EXPECT_EQ((*head)->tree, head_root_);
}

void Harness::Finale(const Profile& prof) {
  CheckAllRetained("before gc");
  if (::testing::Test::HasFailure()) return;
  ExpectVerifyClean("before gc");
  TagSome(2);
  DropAndGc(0.6);
  CheckAllRetained("after drop+gc");
  ExpectVerifyClean("after drop+gc");
  CheckContents(30, "after drop+gc");
  for (int i = 0; i < 6 && !::testing::Test::HasFailure(); ++i)
    Commit(RandomEdits(1 + U(3), prof));
  DropAndGc(0.3);
  CheckAllRetained("after a second drop+gc");
  ExpectVerifyClean("after a second drop+gc");
  if (::testing::Test::HasFailure()) return;
  Reopen();
  CheckAllRetained("after reopen");
  ExpectVerifyClean("after reopen");
  CheckContents(30, "after reopen");
  for (int i = 0; i < 6 && !::testing::Test::HasFailure(); ++i)
    Commit(RandomEdits(1 + U(3), prof));
  ExpectVerifyClean("after reopen and more commits");
}

}  // namespace ciuicfs::tree_model
