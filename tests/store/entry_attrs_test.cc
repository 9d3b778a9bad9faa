// Entry attributes and special files (store/FORMAT.md, "Nodes"): owners,
// a separate atime, device numbers and xattrs round trip through the node
// encoding, the commit log and the store; an entry without them encodes as
// before; special files name no version; bad attributes are refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/index/rows.h"
#include "store/journal/commit_log.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

EntryAttrs SomeAttrs() {
  EntryAttrs a;
  a.uid = 1000;
  a.gid = 1001;
  a.atime_ns = 5;
  a.xattrs = {{"user.eval_loss", "0.25"}, {"user.note", std::string("a\0b", 3)}};
  return a;
}

TEST(EntryAttrsTest, NodesRoundTripAndPlainEntriesKeepTheirBytes) {
  Node node;
  node.entries.push_back(NodeEntry{"a", EntryKind::kFile, 0644, 7, 100, Hash128::Of("v"), {}});
  const std::string plain = EncodeNode(node);
  EXPECT_EQ(uint8_t(plain[5]) & 0x80, 0) << "no attributes: the kind byte as before";
  // An atime equal to the mtime is the default too.
  node.entries[0].attrs.atime_ns = 100;
  EXPECT_EQ(EncodeNode(node), plain);
  node.entries[0].attrs = SomeAttrs();
  node.entries.push_back(NodeEntry{"dev", EntryKind::kCharDevice, 0600, 0, -50, {}, {}});
  node.entries[1].attrs.rdev = 0x0105;
  node.entries.push_back(NodeEntry{"pipe", EntryKind::kFifo, 0640, 0, 1, {}, {}});
  const std::string enc = EncodeNode(node);
  Node back;
  ASSERT_TRUE(DecodeNode(enc, &back));
  ASSERT_EQ(back.entries.size(), 3u);
  EXPECT_TRUE(back.entries[0] == node.entries[0]);
  EXPECT_TRUE(back.entries[1] == node.entries[1]);
  EXPECT_TRUE(back.entries[2] == node.entries[2]);
  EXPECT_FALSE(DecodeNode(enc.substr(0, enc.size() - 1), &back));
  // A kind past the last one is damage.
  std::string bad = plain;
  bad[5] = 8;
  EXPECT_FALSE(DecodeNode(bad, &back));
}

TEST(EntryAttrsTest, ALoggedCommitKeepsKindsAndAttributes) {
  LoggedCommit c;
  c.seq = 1;
  TreeEdit file = TreeEdit::PutExisting("f.pt", 0600, 9, Hash128::Of("v"));
  file.attrs = SomeAttrs();
  TreeEdit dev = TreeEdit::PutSpecial("d/null", EntryKind::kCharDevice, 0666, 10);
  dev.attrs.rdev = 0x0103;
  c.req.edits = {file, TreeEdit::PutDirectory("d", 0755, 8), dev, TreeEdit::PutSpecial("p", EntryKind::kFifo, 0600, 11)};
  ASSERT_TRUE(PrepareForLog(&c.req).ok());
  const std::string enc = EncodeLoggedCommit(c);
  LoggedCommit d;
  ASSERT_TRUE(DecodeLoggedCommit(enc, &d));
  ASSERT_EQ(d.req.edits.size(), 4u);
  EXPECT_TRUE(d.req.edits[0].attrs == file.attrs);
  EXPECT_TRUE(d.req.edits[1].attrs.IsDefault());
  EXPECT_EQ(d.req.edits[2].op, TreeEdit::Op::kPutSpecial);
  EXPECT_EQ(d.req.edits[2].special, EntryKind::kCharDevice);
  EXPECT_EQ(d.req.edits[2].attrs.rdev, 0x0103u);
  EXPECT_EQ(d.req.edits[3].special, EntryKind::kFifo);
  EXPECT_EQ(EncodeLoggedCommit(d), enc);
  EXPECT_FALSE(DecodeLoggedCommit(enc.substr(0, enc.size() - 1), &d));
  // A record without attributes has no tail: what a build before them wrote.
  LoggedCommit plain;
  plain.req.edits = {TreeEdit::PutDirectory("d", 0755, 8)};
  ASSERT_TRUE(PrepareForLog(&plain.req).ok());
  const std::string penc = EncodeLoggedCommit(plain);
  ASSERT_TRUE(DecodeLoggedCommit(penc, &d));
  EXPECT_TRUE(d.req.edits[0].attrs.IsDefault());
  TreeEdit again = plain.req.edits[0];
  again.attrs.uid = 1;
  plain.req.edits = {again};
  EXPECT_GT(EncodeLoggedCommit(plain).size(), penc.size());
}

TEST(EntryAttrsTest, TheStoreKeepsThemThroughRenameReopenAndGc) {
  TempDir dir;
  Snapshot first;
  {
    auto store = OpenStore(dir.path());
    first = CommitFile(store.get(), "run/model.pt", RandomBytes(1, 1 << 20));
    const VersionId v = VersionIn(store.get(), first, "run/model.pt");
    CommitRequest req;
    TreeEdit file = TreeEdit::PutExisting("run/model.pt", 0600, 42, v);
    file.attrs = SomeAttrs();
    TreeEdit dir_edit = TreeEdit::PutDirectory("run", 0750, 41);
    dir_edit.attrs.xattrs["user.run"] = "a";
    TreeEdit dev = TreeEdit::PutSpecial("run/zero", EntryKind::kCharDevice, 0644, 43);
    dev.attrs.rdev = 0x0105;
    req.edits = {dir_edit, file, dev, TreeEdit::PutSpecial("run/pipe", EntryKind::kFifo, 0600, 44)};
    auto snap = store->Commit(req);
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    CommitRequest move;
    move.edits = {TreeEdit::Rename("run", "kept", 0750, 45)};
    ASSERT_TRUE(store->Commit(move).ok());
  }
  auto store = OpenStore(dir.path());
  auto head = store->Head("main");
  ASSERT_TRUE(head.ok() && head->has_value());
  auto entry = [&](const std::string& path) {
    auto e = store->LookupInTree((*head)->tree, path);
    EXPECT_TRUE(e.ok() && e->has_value()) << path;
    return e.ok() && e->has_value() ? **e : TreeEntry{};
  };
  EXPECT_TRUE(entry("kept/model.pt").attrs == SomeAttrs());
  EXPECT_EQ(entry("kept/model.pt").mode, 0600u);
  EXPECT_EQ(entry("kept").attrs.xattrs.at("user.run"), "a") << "a rename keeps the moved entry's attributes";
  const TreeEntry zero = entry("kept/zero");
  EXPECT_EQ(zero.kind, EntryKind::kCharDevice);
  EXPECT_EQ(zero.attrs.rdev, 0x0105u);
  EXPECT_TRUE(zero.version.IsZero());
  EXPECT_EQ(entry("kept/pipe").kind, EntryKind::kFifo);
  auto listed = store->ListTreeDir((*head)->tree, "kept");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 3u);
  // Special files hold no references: dropping every snapshot but the
  // head and collecting leaves verify clean, the model's bytes intact.
  auto snaps = store->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  std::vector<uint64_t> drop;
  for (const Snapshot& s : *snaps)
    if (s.seq != (*head)->seq) drop.push_back(s.seq);
  ASSERT_TRUE(store->DropSnapshots(drop).ok());
  ASSERT_TRUE(store->Gc({}).ok());
  ExpectVerifyClean(store.get());
  EXPECT_EQ(ReadVersion(store.get(), entry("kept/model.pt").version), RandomBytes(1, 1 << 20));
}

TEST(EntryAttrsTest, BadAttributesAreRefusedAndChangeNothing) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto refused = [&](EntryAttrs attrs) {
    CommitRequest req;
    TreeEdit e = TreeEdit::PutDirectory("d", 0755, 1);
    e.attrs = std::move(attrs);
    req.edits = {e};
    auto snap = store->Commit(req);
    return !snap.ok() && snap.status().code() == Status::Code::kInvalidArgument;
  };
  EntryAttrs empty_name;
  empty_name.xattrs[""] = "x";
  EXPECT_TRUE(refused(empty_name));
  EntryAttrs long_name;
  long_name.xattrs["user." + std::string(251, 'n')] = "x";
  EXPECT_TRUE(refused(long_name));
  EntryAttrs big_value;
  big_value.xattrs["user.big"] = std::string((64 << 10) + 1, 'v');
  EXPECT_TRUE(refused(big_value));
  CommitRequest not_special;
  not_special.edits = {TreeEdit::PutSpecial("s", EntryKind::kFile, 0644, 1)};
  EXPECT_FALSE(store->Commit(not_special).ok());
  auto snaps = store->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  EXPECT_TRUE(snaps->empty());
}

}  // namespace
}  // namespace ciuicfs
