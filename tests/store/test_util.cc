#include "tests/store/test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace ciuicfs::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ciuic-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (!p) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string RandomBytes(uint64_t seed, size_t n) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545f4914f6cdd1dULL;
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

std::unique_ptr<Store> OpenStore(const std::string& dir, StoreOptions options) {
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) std::abort();
  return std::move(store.value());
}

PendingVersion Ingest(Store* store, const std::string& data, size_t piece) {
  auto ingest = store->NewIngest();
  for (size_t off = 0; off < data.size(); off += piece) {
    Status s = ingest->Append(data.data() + off, std::min(piece, data.size() - off));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto v = ingest->Finish();
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  if (!v.ok()) std::abort();
  return std::move(v.value());
}

Snapshot CommitFile(Store* store, const std::string& path, const std::string& data, std::optional<int64_t> step,
                    bool durable) {
  PendingVersion v = Ingest(store, data);
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile(path, 0644, 1000, &v));
  req.step = step;
  req.durable = durable;
  auto snap = store->Commit(req);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  if (!snap.ok()) std::abort();
  return std::move(snap.value());
}

std::string ReadVersion(Store* store, const VersionId& id) {
  auto reader = store->OpenVersion(id);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return "<unreadable>";
  std::string out((*reader)->size(), '\0');
  auto n = (*reader)->Read(0, out.size(), out.data());
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  if (!n.ok()) return "<unreadable>";
  out.resize(*n);
  return out;
}

VersionId VersionIn(Store* store, const Snapshot& snap, const std::string& path) {
  auto tree = store->GetTree(snap.tree);
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
  if (tree.ok())
    for (const TreeEntry& e : *tree)
      if (e.path == path) return e.version;
  return VersionId{};
}

void ExpectVerifyClean(Store* store) {
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void FlipByte(const std::string& path, uint64_t offset, uint8_t mask) {
  int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c;
  ASSERT_EQ(pread(fd, &c, 1, offset), 1);
  c ^= static_cast<char>(mask);
  ASSERT_EQ(pwrite(fd, &c, 1, offset), 1);
  close(fd);
}

int RunChild(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace ciuicfs::testing
