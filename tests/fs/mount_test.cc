// End-to-end tests against a real ciuicfs mount in a temp dir.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <vector>
#include <cstdio>
#include <chrono>
#include <fstream>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "tests/fs/mount_fixture.h"
#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

class MountTest : public MountedTest {
 protected:
  int HistoryCount() const { return CountEntries(M("@history")); }
};

// The mount says which write path it took; with --no-passthrough (the
// suite's second run) it is the daemon's. Either way a saved file's bytes
// are in an extent at close() and reach packs only in the background.
TEST_F(MountTest, ASaveLandsInAnExtentAndIsIngestedInTheBackground) {
  const char* more = getenv("CIUICFS_TEST_MOUNT_ARGS");
  const bool forced_off = more && std::string(more).find("--no-passthrough") != std::string::npos;
  struct stat root;
  ASSERT_EQ(stat(M("").c_str(), &root), 0);  // a request answered: the daemon's init (which logs the path) is done
  const std::string log = ReadFile(dir_.Sub("store.log"));
  if (forced_off) EXPECT_NE(log.find("through the daemon into the store's extents (no passthrough: --no-passthrough)"), std::string::npos) << log;
  else EXPECT_TRUE(log.find("writes go through kernel passthrough") != std::string::npos ||
                   log.find("this libfuse or kernel lacks it") != std::string::npos) << log;
  const std::string data = RandomBytes(5, 6 << 20);
  ASSERT_TRUE(WriteFile(M("model.pt"), data));
  EXPECT_EQ(ReadFile(M("@latest/model.pt")), data);
  EXPECT_EQ(ReadFile(M("model.pt")), data);
  mount_->Unmount();  // ingests the backlog before the daemon exits
  CommandResult st = RunCiuicfs("stats --json --store '" + dir_.Sub("store") + "'", dir_.path());
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_NE(st.out.find("\"backlog_versions\":0,"), std::string::npos) << st.out;
  // Fresh bytes are written once: they stay in their extent as its chunks.
  EXPECT_NE(st.out.find("\"pack_bytes\":0,"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("\"extent_bytes\":0,"), std::string::npos) << st.out;
  CommandResult v = RunCiuicfs("verify '" + dir_.Sub("store") + "'", dir_.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(ReadFile(M("@latest/model.pt")), data) << "read back from packs after ingest";
}

// One writer and one reader of the same live file at once see what a local
// disk gives: the reader reads what was written so far, bit for bit.
TEST_F(MountTest, AReaderOfAFileBeingWrittenSeesWhatWasWritten) {
  const std::string data = RandomBytes(6, 4 << 20);
  int w = open(M("live.bin").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(w, 0);
  ASSERT_EQ(write(w, data.data(), data.size() / 2), ssize_t(data.size() / 2));
  int r = open(M("live.bin").c_str(), O_RDONLY);
  ASSERT_GE(r, 0) << strerror(errno);
  std::string got(data.size() / 2, '\0');
  ASSERT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(got.size()));
  EXPECT_EQ(got, data.substr(0, data.size() / 2));
  ASSERT_EQ(write(w, data.data() + data.size() / 2, data.size() - data.size() / 2), ssize_t(data.size() - data.size() / 2));
  got.assign(data.size(), '\0');
  ASSERT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(got.size()));
  EXPECT_EQ(got, data);
  ASSERT_EQ(close(w), 0);
  close(r);
  EXPECT_EQ(ReadFile(M("@latest/live.bin")), data);
}

// A file overwritten in place (O_TRUNC) while another handle still holds
// it open: the version its first close committed stays what it was, in
// @history, on both write paths (with passthrough the kernel still writes
// the same backing file: the committed bytes are moved aside first).
TEST_F(MountTest, OverwritingAFileAnotherHandleHoldsKeepsTheCommittedVersion) {
  const std::string v1 = RandomBytes(30, 3 << 20), v2 = RandomBytes(31, 2 << 20);
  int w = open(M("x.pt").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(w, 0);
  ASSERT_EQ(write(w, v1.data(), v1.size()), ssize_t(v1.size()));
  int r = open(M("x.pt").c_str(), O_RDONLY);  // shares the writer's backing file, if it has one
  ASSERT_GE(r, 0) << strerror(errno);
  ASSERT_EQ(close(w), 0);  // v1 committed; the reader keeps the file open
  const int after_v1 = HistoryCount();
  w = open(M("x.pt").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(w, 0) << strerror(errno);
  ASSERT_EQ(write(w, v2.data(), v2.size()), ssize_t(v2.size()));
  ASSERT_EQ(close(w), 0);
  std::string got(v2.size(), '\0');
  EXPECT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(v2.size())) << "the reader sees the file as it is now";
  EXPECT_EQ(got, v2);
  close(r);
  EXPECT_EQ(Diff(ReadFile(M("@latest/x.pt")), v2), "same");
  DIR* d = opendir(M("@history").c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  ASSERT_GE(int(names.size()), after_v1);
  EXPECT_EQ(Diff(ReadFile(M("@history/" + names[size_t(after_v1 - 1)] + "/x.pt")), v1), "same");
  mount_->Unmount();
  CommandResult v = RunCiuicfs("verify '" + dir_.Sub("store") + "'", dir_.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(Diff(ReadFile(M("@history/" + names[size_t(after_v1 - 1)] + "/x.pt")), v1), "same");
}

// Opening a file for writing and closing it without a write saves nothing.
TEST_F(MountTest, AWritableOpenWithoutWritesAddsNoSnapshot) {
  ASSERT_TRUE(WriteFile(M("y.pt"), RandomBytes(32, 1 << 20)));
  const int before = HistoryCount();
  int fd = open(M("y.pt").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(close(fd), 0);
  EXPECT_EQ(HistoryCount(), before);
}

// Writes into a shared map are saved: unmapped before close() on both
// paths (close's FLUSH sees them); unmapped after close() through the daemon,
// where the kernel writes the pages back at munmap, after the handle's FLUSH,
// and the release commits them. (With passthrough the map is of the extent
// itself and outlives the release: fs/README.md, "Known limits".) The live
// file, @latest and a remount all hold them.
TEST_F(MountTest, WritesIntoASharedMapAreSaved) {
  struct stat root;
  ASSERT_EQ(stat(M("").c_str(), &root), 0);  // the daemon's init (which logs the path) is done
  const bool passthrough = ReadFile(dir_.Sub("store.log")).find("writes go through kernel passthrough") != std::string::npos;
  const std::string before = RandomBytes(33, 256 << 10);
  std::map<std::string, std::string> want;
  for (const bool after_close : {false, true}) {
    if (after_close && passthrough) break;
    const std::string name = after_close ? "after.bin" : "before.bin";
    ASSERT_TRUE(WriteFile(M(name), before));
    std::string after = before;
    const std::string patch = RandomBytes(after_close ? 34 : 35, 5000);
    after.replace(100000, patch.size(), patch);
    int fd = open(M(name).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    void* p = mmap(nullptr, before.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED) << strerror(errno);
    if (after_close) ASSERT_EQ(close(fd), 0);  // FLUSH: nothing written yet
    std::memcpy(static_cast<char*>(p) + 100000, patch.data(), patch.size());
    ASSERT_EQ(munmap(p, before.size()), 0);
    if (!after_close) ASSERT_EQ(close(fd), 0);
    EXPECT_EQ(Diff(ReadFile(M(name)), after), "same") << name;
    // After close, the release's commit comes just after munmap returns.
    std::string latest;
    for (int i = 0; i < 100 && (latest = ReadFile(M("@latest/" + name))) != after; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(Diff(latest, after), "same") << name;
    want[name] = after;
  }
  EXPECT_EQ(want.size(), passthrough ? 1u : 2u);
  Remount();
  for (const auto& [name, bytes] : want) {
    EXPECT_EQ(Diff(ReadFile(M(name)), bytes), "same") << name;
    EXPECT_EQ(Diff(ReadFile(M("@latest/" + name)), bytes), "same") << name;
  }
}

TEST_F(MountTest, ClosedVersionsAppearInLatestHistoryAndStep) {
  std::string v1 = RandomBytes(1, 3 << 20), v2 = RandomBytes(2, 3 << 20);
  ASSERT_TRUE(WriteFile(M("model_step_100.pt"), v1));
  EXPECT_EQ(Diff(ReadFile(M("@latest/model_step_100.pt")), v1), "same");
  EXPECT_EQ(Diff(ReadFile(M("@step-100/model_step_100.pt")), v1), "same");
  EXPECT_EQ(HistoryCount(), 1);
  ASSERT_TRUE(WriteFile(M("latest.pt"), v2));
  EXPECT_EQ(HistoryCount(), 2);
  EXPECT_EQ(Diff(ReadFile(M("@latest/latest.pt")), v2), "same");
  // A deleted file keeps its history.
  ASSERT_EQ(unlink(M("model_step_100.pt").c_str()), 0);
  EXPECT_EQ(Diff(ReadFile(M("@latest/model_step_100.pt")), "<missing>"), "same");
  // (@step-100 now names the unlink's snapshot, which inherited step 100;
  // the deleted version stays reachable through @history and its id.)
  DIR* d = opendir(M("@history").c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  ASSERT_EQ(names.size(), 3u);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names[0].substr(0, 18), "00000001-step-100-");
  EXPECT_EQ(Diff(ReadFile(M("@history/" + names[0] + "/model_step_100.pt")), v1), "same");
  // The id prefix in the name reaches the same snapshot.
  std::string id8 = names[0].substr(names[0].rfind('-') + 1);
  EXPECT_EQ(Diff(ReadFile(M("@" + id8 + "/model_step_100.pt")), v1), "same");
  // Reported size and mtime are real.
  struct stat live, frozen;
  ASSERT_EQ(stat(M("latest.pt").c_str(), &live), 0);
  ASSERT_EQ(stat(M("@latest/latest.pt").c_str(), &frozen), 0);
  EXPECT_EQ(frozen.st_size, live.st_size);
  EXPECT_EQ(frozen.st_mtim.tv_sec, live.st_mtim.tv_sec);
}

TEST_F(MountTest, CheckpointFolderPerStep) {
  for (int step : {500, 1000}) {
    std::string dir = "checkpoint-" + std::to_string(step);
    ASSERT_EQ(mkdir(M(dir).c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(M(dir + "/model.safetensors"), RandomBytes(step, 2 << 20)));
    ASSERT_TRUE(WriteFile(M(dir + "/optimizer.pt"), RandomBytes(step + 1, 3 << 20)));
    ASSERT_TRUE(WriteFile(M(dir + "/rng_state.pth"), RandomBytes(step + 2, 15000)));
    ASSERT_TRUE(WriteFile(M(dir + "/trainer_state.json"), "{\"global_step\": " + std::to_string(step) + "}"));
  }
  for (int step : {500, 1000}) {
    std::string dir = "@step-" + std::to_string(step) + "/checkpoint-" + std::to_string(step);
    EXPECT_EQ(CountEntries(M(dir)), 4) << dir;
    EXPECT_EQ(Diff(ReadFile(M(dir + "/optimizer.pt")), RandomBytes(step + 1, 3 << 20)), "same");
    EXPECT_EQ(Diff(ReadFile(M(dir + "/trainer_state.json")), "{\"global_step\": " + std::to_string(step) + "}"), "same");
  }
  // The xattr outranks the path.
  ASSERT_TRUE(WriteFile(M("checkpoint-1000/extra.bin"), "a"));
  int fd = open(M("checkpoint-1000/extra.bin").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_EQ(fsetxattr(fd, "user.ciuic.step", "77", 2, 0), 0);
  ASSERT_EQ(write(fd, "b", 1), 1);
  close(fd);
  EXPECT_EQ(Diff(ReadFile(M("@step-77/checkpoint-1000/extra.bin")), "b"), "same");
}

TEST_F(MountTest, RollbackByCopyAddsOneSnapshotAndNoChunkBytes) {
  std::string a = RandomBytes(10, 4 << 20), b = RandomBytes(11, 4 << 20);
  ASSERT_TRUE(WriteFile(M("x_step_1.pt"), a));
  ASSERT_EQ(rename(M("x_step_1.pt").c_str(), M("x.pt").c_str()), 0);
  ASSERT_TRUE(WriteFile(M("x_step_2.pt"), b));
  ASSERT_EQ(rename(M("x_step_2.pt").c_str(), M("x.pt").c_str()), 0);
  EXPECT_EQ(Diff(ReadFile(M("@latest/x.pt")), b), "same");
  const int before = HistoryCount();
  ASSERT_TRUE(WaitForIngest(mount_->path(), dir_.path()));
  const uint64_t packs_before = DirBytes(dir_.Sub("store/packs"));
  ASSERT_EQ(system(("cp '" + M("@step-1/x.pt") + "' '" + M("x.pt") + "'").c_str()), 0);
  EXPECT_EQ(Diff(ReadFile(M("x.pt")), a), "same");
  EXPECT_EQ(Diff(ReadFile(M("@latest/x.pt")), a), "same");
  EXPECT_EQ(HistoryCount(), before + 1);
  // The copy lands in an extent; its ingest finds every chunk stored.
  ASSERT_TRUE(WaitForIngest(mount_->path(), dir_.path()));
  EXPECT_EQ(DirBytes(dir_.Sub("store/packs")), packs_before);
}

TEST_F(MountTest, VirtualPathsAreReadOnlyAndUnknownNamesAreMissing) {
  ASSERT_TRUE(WriteFile(M("ckpt-5.pt"), "five"));
  errno = 0;
  EXPECT_EQ(open(M("@latest/ckpt-5.pt").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(open(M("@latest/new").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(mkdir(M("@latest/d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(unlink(M("@latest/ckpt-5.pt").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(rename(M("@latest/ckpt-5.pt").c_str(), M("@latest/y").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(setxattr(M("@latest/ckpt-5.pt").c_str(), "user.a", "b", 1, 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(truncate(M("@step-5/ckpt-5.pt").c_str(), 0), -1);
  EXPECT_EQ(errno, EROFS);
  for (const char* bad : {"@step-abc", "@step-999999", "@abc", "@nosuch", "@0000000000", "@history/1-step-1-x"}) {
    struct stat st;
    errno = 0;
    EXPECT_EQ(stat(M(bad).c_str(), &st), -1) << bad;
    EXPECT_EQ(errno, ENOENT) << bad;
  }
  EXPECT_EQ(mkdir(M("@mine").c_str(), 0755), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(open(M("@file").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, EPERM);
  // Only the root reserves '@'.
  ASSERT_EQ(mkdir(M("sub").c_str(), 0755), 0);
  EXPECT_TRUE(WriteFile(M("sub/@fine"), "ok"));
  EXPECT_EQ(Diff(ReadFile(M("@latest/sub/@fine")), "ok"), "same");
}

TEST_F(MountTest, KillNineKeepsEveryClosedVersionAndNoPartialOne) {
  std::vector<std::string> saved;
  for (int i = 0; i < 5; ++i) {
    saved.push_back(RandomBytes(100 + i, (1 << 20) + i * 1000));
    ASSERT_TRUE(WriteFile(M("ckpt_step_" + std::to_string(i) + ".pt.tmp"), saved.back()));
    ASSERT_EQ(rename(M("ckpt_step_" + std::to_string(i) + ".pt.tmp").c_str(),
                     M("ckpt_step_" + std::to_string(i) + ".pt").c_str()), 0);
  }
  const int history = HistoryCount();
  // A save in flight: written, never closed.
  int fd = open(M("inflight_step_9.pt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::string partial = RandomBytes(9, 5 << 20);
  ASSERT_EQ(write(fd, partial.data(), partial.size()), ssize_t(partial.size()));
  mount_->KillHard();
  close(fd);
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(HistoryCount(), history);
  for (int i = 0; i < 5; ++i) {
    std::string name = "ckpt_step_" + std::to_string(i) + ".pt";
    EXPECT_EQ(Diff(ReadFile(M(name)), saved[i]), "same") << name;
    EXPECT_EQ(Diff(ReadFile(M("@step-" + std::to_string(i) + "/" + name)), saved[i]), "same") << name;
  }
  EXPECT_EQ(Diff(ReadFile(M("inflight_step_9.pt")), "<missing>"), "same");
  EXPECT_EQ(Diff(ReadFile(M("@latest/inflight_step_9.pt")), "<missing>"), "same");
  // And saving goes on.
  ASSERT_TRUE(WriteFile(M("after.pt"), "after"));
  EXPECT_EQ(Diff(ReadFile(M("@latest/after.pt")), "after"), "same");
}

TEST_F(MountTest, ReadsSeeWritesWhileTheFileIsOpen) {
  std::string data = RandomBytes(5, 3 << 20);
  int w = open(M("growing_step_1.pt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(w, 0);
  ASSERT_EQ(write(w, data.data(), 2 << 20), 2 << 20);
  int r = open(M("growing_step_1.pt").c_str(), O_RDONLY);
  ASSERT_GE(r, 0);
  std::string buf(4096, '\0');
  ASSERT_EQ(pread(r, buf.data(), buf.size(), 1 << 20), ssize_t(buf.size()));
  EXPECT_EQ(buf, data.substr(1 << 20, 4096));
  ASSERT_EQ(write(w, data.data() + (2 << 20), 1 << 20), 1 << 20);  // keeps appending after the read
  close(r);
  ASSERT_EQ(close(w), 0);
  EXPECT_EQ(Diff(ReadFile(M("@latest/growing_step_1.pt")), data), "same");
  EXPECT_EQ(Diff(ReadFile(M("growing_step_1.pt")), data), "same");
}

TEST_F(MountTest, FourWritersAndAHistoryWalker) {
  std::map<std::string, std::string> saved;  // name -> content, each name written once
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 5; ++i)
      saved["w" + std::to_string(t) + "_step_" + std::to_string(i) + ".pt"] =
          RandomBytes(t * 100 + i, (1 << 20) + 4096 * (t + i));
  std::atomic<bool> writers_done{false};
  std::atomic<int> errors{0}, walks{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::string name = "w" + std::to_string(t) + "_step_" + std::to_string(i) + ".pt";
        if (!WriteFile(M(name + ".tmp"), saved[name]) || rename(M(name + ".tmp").c_str(), M(name).c_str()) != 0)
          ++errors;
      }
    });
  std::thread walker([&] {
    while (!writers_done) {
      DIR* d = opendir(M("@history").c_str());
      if (!d) {
        ++errors;
        continue;
      }
      std::vector<std::string> snaps;
      while (struct dirent* e = readdir(d))
        if (e->d_name[0] != '.') snaps.push_back(e->d_name);
      closedir(d);
      if (!snaps.empty()) {
        std::string last = M("@history/" + snaps.back());
        if (CountEntries(last) < 0) ++errors;
      }
      ++walks;
    }
  });
  for (auto& w : writers) w.join();
  writers_done = true;
  walker.join();
  EXPECT_EQ(errors, 0);
  EXPECT_GT(walks, 0);
  // Every file of every snapshot reads back as exactly what was saved.
  DIR* d = opendir(M("@history").c_str());
  ASSERT_NE(d, nullptr);
  int checked = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string snap = M(std::string("@history/") + e->d_name);
    DIR* f = opendir(snap.c_str());
    ASSERT_NE(f, nullptr) << snap;
    while (struct dirent* fe = readdir(f)) {
      std::string name = fe->d_name;
      if (name[0] == '.') continue;
      std::string key = name.size() > 4 && name.substr(name.size() - 4) == ".tmp" ? name.substr(0, name.size() - 4) : name;
      ASSERT_TRUE(saved.count(key)) << name;
      EXPECT_EQ(Diff(ReadFile(snap + "/" + name), saved[key]), "same") << snap << "/" << name;
      ++checked;
    }
    closedir(f);
  }
  closedir(d);
  EXPECT_GT(checked, 20);
  for (auto& [name, content] : saved) EXPECT_EQ(Diff(ReadFile(M("@latest/" + name)), content), "same") << name;
}

TEST_F(MountTest, ASecondDaemonOnTheSameBranchIsRefused) {
  mkdir(dir_.Sub("mnt2").c_str(), 0755);
  CommandResult r = RunCiuicfs("mount " + dir_.Sub("mnt2") + " --store " + dir_.Sub("store"), dir_.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("branch 'main' is mounted for writing at " + mount_->path()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(IsMounted(dir_.Sub("mnt2")));
  r = RunCiuicfs("mount " + mount_->path() + " --store " + dir_.Sub("other"), dir_.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already a ciuicfs mount"), std::string::npos) << r.err;
}

TEST(MountCliTest, BadMountpointsAndOptionsGetOneLine) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  mkdir(dir.Sub("full").c_str(), 0755);
  WriteFile(dir.Sub("full/file"), "x");
  mkdir(dir.Sub("empty").c_str(), 0755);
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"mount " + dir.Sub("missing") + " --store " + dir.Sub("s"), 2, "is not a directory"},
      {"mount " + dir.Sub("full") + " --store " + dir.Sub("s"), 2, "is not empty"},
      {"mount " + dir.Sub("empty") + " --store " + dir.Sub("s") + " --step-pattern '(['", 2, "bad step pattern"},
      {"mount " + dir.Sub("empty") + " --store " + dir.Sub("empty/s"), 2, "inside the mountpoint"},
      {"mount", 2, "mountpoint"},
      {"umount " + dir.Sub("empty"), 1, "not a ciuicfs mount"},
  };
  for (const Case& c : cases) {
    CommandResult r = RunCiuicfs(c.args, dir.path());
    EXPECT_EQ(r.code, c.code) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << ": " << r.err;
  }
  EXPECT_NE(access(dir.Sub("s").c_str(), F_OK), 0) << "a failed mount created the store";
}

TEST(MountCliTest, DaemonizedMountAndUmount) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  mkdir(dir.Sub("mnt").c_str(), 0755);
  CommandResult r = RunCiuicfs("mount " + dir.Sub("mnt") + " --store " + dir.Sub("s"), dir.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("store " + dir.Sub("s")), std::string::npos) << r.out;
  ASSERT_TRUE(IsMounted(dir.Sub("mnt")));  // live when the command returns
  EXPECT_TRUE(WriteFile(dir.Sub("mnt/a_step_3.pt"), "three"));
  r = RunCiuicfs("umount " + dir.Sub("mnt"), dir.path());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(IsMounted(dir.Sub("mnt")));
  CommandResult m = RunCiuicfs("mount " + dir.Sub("mnt") + " --store " + dir.Sub("s"), dir.path());
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(Diff(ReadFile(dir.Sub("mnt/@step-3/a_step_3.pt")), "three"), "same");
  EXPECT_EQ(RunCiuicfs("umount " + dir.Sub("mnt"), dir.path()).code, 0);
}

TEST(MountCliTest, DefaultStoreUnderTheDataDirectory) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  mkdir(dir.Sub("mnt").c_str(), 0755);
  CommandResult r = RunCiuicfs("mount " + dir.Sub("mnt"), dir.path(), "XDG_DATA_HOME=" + dir.Sub("xdg"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("store " + dir.Sub("xdg") + "/ciuicfs/store"), std::string::npos) << r.out;
  EXPECT_TRUE(WriteFile(dir.Sub("mnt/f"), "x"));
  EXPECT_EQ(RunCiuicfs("umount " + dir.Sub("mnt"), dir.path()).code, 0);
  EXPECT_EQ(access((dir.Sub("xdg") + "/ciuicfs/store/CIUICFS-STORE").c_str(), F_OK), 0);
}

// The mount helper's call (`ciuicfs STORE MNT -o OPTS`, as mount.fuse3
// makes it for mount -t fuse.ciuicfs and fstab) and `ciuicfs mount -o`:
// every option has an -o spelling, the kernel's flags reach the kernel, and
// a bad one is one line and exit 2 with nothing mounted.
TEST(MountCliTest, TheMountHelperCallAndDashOSpellTheOptions) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  mkdir(dir.Sub("mnt").c_str(), 0755);
  CommandResult r = RunCiuicfs(dir.Sub("s") + " " + dir.Sub("mnt") + " -o rw,dev,suid,branch=exp,create,noatime,_netdev",
                               dir.path());
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(IsMounted(dir.Sub("mnt")));
  // The mount's own flags (/proc/self/mounts; mountinfo's are the superblock's).
  const std::string mounts = ReadFile("/proc/self/mounts");
  const size_t line = mounts.find(" " + dir.Sub("mnt") + " fuse.ciuicfs ");
  ASSERT_NE(line, std::string::npos) << mounts;
  EXPECT_NE(mounts.substr(line, mounts.find('\n', line) - line).find("noatime"), std::string::npos) << mounts;
  EXPECT_TRUE(WriteFile(dir.Sub("mnt/a_step_3.pt"), "three"));
  EXPECT_EQ(RunCiuicfs("umount " + dir.Sub("mnt"), dir.path()).code, 0);
  EXPECT_NE(RunCiuicfs("log " + dir.Sub("s") + " --branch exp --json", dir.path()).out.find("a_step_3.pt"),
            std::string::npos);
  EXPECT_EQ(RunCiuicfs("log " + dir.Sub("s") + " --json", dir.path()).out.find("a_step_3.pt"), std::string::npos);
  // ro: the kernel refuses writes; the branch's files are there to read.
  r = RunCiuicfs("mount " + dir.Sub("mnt") + " -o store=" + dir.Sub("s") + ",branch=exp -oro", dir.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Diff(ReadFile(dir.Sub("mnt/a_step_3.pt")), "three"), "same");
  errno = 0;
  EXPECT_FALSE(WriteFile(dir.Sub("mnt/b"), "x"));
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(RunCiuicfs("umount " + dir.Sub("mnt"), dir.path()).code, 0);
  for (const char* bad : {"-o bogus", "-o branch", "-o create=1", "-o mountpoint=/x", "-o"}) {
    CommandResult b = RunCiuicfs(dir.Sub("s") + " " + dir.Sub("mnt") + " " + std::string(bad), dir.path());
    EXPECT_EQ(b.code, 2) << bad;
    EXPECT_EQ(CountLines(b.err), 1) << bad << ": " << b.err;
    EXPECT_FALSE(IsMounted(dir.Sub("mnt"))) << bad;
  }
}

}  // namespace
}  // namespace ciuicfs
