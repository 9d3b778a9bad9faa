// Kill -9 of the daemon at random moments while a trainer-like writer saves
// checkpoints (tmp-then-rename, then chmod and setxattr of each file, a
// `latest` symlink renamed over the old one, old folders deleted) and, in some rounds,
// prune + gc run; or at a named point inside a commit. After every remount:
// each version whose close() returned is there and bit-exact, no file holds
// anything but a whole version, verify is clean, and saving goes on.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/fs/mount_util.h"
#include "tests/reliability/reliability_util.h"

namespace ciuicfs::testing {
namespace {

// What the writer saw return, under a mutex shared with the checker.
struct Ledger {
  std::mutex mu;
  std::set<std::string> closed;   // final names whose tmp file closed
  std::set<std::string> renamed;  // final names whose rename returned
  std::set<std::string> deleted;  // final names whose unlink returned
  std::set<std::string> dirs_removed;
  std::set<std::string> meta;        // final names whose chmod 0600 and setxattr returned
  std::string latest_done, latest_trying;  // the `latest` symlink's target: returned, being made
  std::vector<std::string> folders;  // saved and not yet deleted, oldest first
  std::string cleanup_error;          // the last failed deletion, for the report
};

std::string FinalName(const std::string& rel) {
  const std::string tmp = ".tmp";
  if (rel.size() > tmp.size() && rel.compare(rel.size() - tmp.size(), tmp.size(), tmp) == 0)
    return rel.substr(0, rel.size() - tmp.size());
  return rel;
}

bool WriteInPieces(const std::string& path, const std::string& data, std::mt19937_64& rng) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  for (size_t off = 0; off < data.size();) {
    size_t n = std::min<size_t>(data.size() - off, 1 + rng() % (256 << 10));
    ssize_t w = write(fd, data.data() + off, n);
    if (w <= 0) {
      close(fd);
      return false;
    }
    off += size_t(w);
  }
  return close(fd) == 0;
}

// Saves ckpt/r<round>_s<k>/{model,optim}.bin until an operation fails (the
// daemon is gone), keeping the newest 3 folders like a trainer's --keep.
void Writer(const std::string& mnt, int round, Ledger* ledger, std::atomic<bool>* stop, std::atomic<bool>* done) {
  struct Done {
    std::atomic<bool>* d;
    ~Done() { *d = true; }
  } mark{done};
  std::mt19937_64 rng(round * 7919 + 1);
  for (int k = 0; !stop->load(); ++k) {
    const std::string folder = "ckpt/r" + std::to_string(round) + "_s" + std::to_string(k);
    if (mkdir((mnt + "/" + folder).c_str(), 0755) != 0) return;
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->folders.push_back(folder);
    }
    for (const char* file : {"model.bin", "optim.bin"}) {
      const std::string name = folder + "/" + file;
      if (!WriteInPieces(mnt + "/" + name + ".tmp", ContentFor(name), rng)) return;
      {
        std::lock_guard<std::mutex> lock(ledger->mu);
        ledger->closed.insert(name);
      }
      if (rename((mnt + "/" + name + ".tmp").c_str(), (mnt + "/" + name).c_str()) != 0) return;
      {
        std::lock_guard<std::mutex> lock(ledger->mu);
        ledger->renamed.insert(name);
      }
      // Metadata, as a trainer or its tools change it: each call that
      // returns is kept by the same rule as a close.
      const std::string path = mnt + "/" + name;
      if (chmod(path.c_str(), 0600) != 0 || setxattr(path.c_str(), "user.saved", name.data(), name.size(), 0) != 0) return;
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->meta.insert(name);
    }
    // ln -sfn FOLDER latest: a new link renamed over the old one.
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->latest_trying = folder;
    }
    unlink((mnt + "/latest.tmp").c_str());
    if (symlink(folder.c_str(), (mnt + "/latest.tmp").c_str()) != 0 ||
        rename((mnt + "/latest.tmp").c_str(), (mnt + "/latest").c_str()) != 0)
      return;
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->latest_done = folder;
    }
    for (;;) {  // all beyond the newest 3, also those an earlier kill left behind
      std::string old;
      {
        std::lock_guard<std::mutex> lock(ledger->mu);
        if (ledger->folders.size() <= 3) break;
        old = ledger->folders.front();
      }
      // (a kill may have come after some of these reached the store)
      for (const char* file : {"model.bin", "optim.bin", "model.bin.tmp", "optim.bin.tmp"}) {
        {
          // Marked before the call: a kill after the daemon committed the
          // removal but before it answered leaves the file gone and the
          // unlink failed, so from here on the file may be absent.
          std::lock_guard<std::mutex> lock(ledger->mu);
          ledger->deleted.insert(old + "/" + FinalName(file));
        }
        if (unlink((mnt + "/" + old + "/" + file).c_str()) != 0 && errno != ENOENT) {
          std::lock_guard<std::mutex> lock(ledger->mu);
          ledger->cleanup_error = "unlink " + old + "/" + file + ": " + strerror(errno);
          return;
        }
      }
      if (rmdir((mnt + "/" + old).c_str()) != 0 && errno != ENOENT) {  // ENOENT: a kill came after it
        std::lock_guard<std::mutex> lock(ledger->mu);
        ledger->cleanup_error = "rmdir " + old + ": " + strerror(errno);
        return;
      }
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->dirs_removed.insert(old);
      ledger->folders.erase(ledger->folders.begin());
    }
  }
}

// Every regular file under `dir` (relative names).
void Walk(const std::string& root, const std::string& rel, std::vector<std::string>* out) {
  DIR* d = opendir((root + "/" + rel).c_str());
  if (!d) return;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string sub = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (lstat((root + "/" + sub).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) Walk(root, sub, out);
    else out->push_back(sub);
  }
  closedir(d);
}

// Checks the tree under `root` (the live tree or a snapshot): every file
// holds the whole content its name calls for. Returns the number checked.
int CheckTree(const std::string& root, const std::string& what) {
  std::vector<std::string> files;
  Walk(root, "ckpt", &files);
  for (const std::string& rel : files) {
    std::string got = ReadFile(root + "/" + rel);
    EXPECT_EQ(Diff(got, ContentFor(FinalName(rel))), "same") << what << ": " << rel;
  }
  return int(files.size());
}

TEST(CrashLoopTest, KillAtRandomMomentsKeepsEveryClosedVersion) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  const std::string store = dir.Sub("store"), mnt = dir.Sub("mnt");
  const int rounds = Scaled(50, 400);
  // The background ingest's points are reached during the round's saves
  // or, with a backlog left by the last kill, while the daemon mounts; the
  // commit's points and the commit log's too, by the commits the last kill
  // left in its log, applied while the daemon mounts; re-encoding's after
  // each ingest (its transaction runs even when no chunk paid).
  // (Fresh bytes stay in their extents, so no pack record is written.)
  const char* kPoints[] = {"ingest.before_sync", "commit.before_txn_commit", "commit.after_txn",
                           "ingest.before_txn_commit", "ingest.after_txn", "journal.before_apply",
                           "reencode.before_txn_commit", "reencode.after_txn"};
  constexpr int kNumPoints = sizeof(kPoints) / sizeof(kPoints[0]);
  Ledger ledger;
  std::mt19937_64 rng(2026);
  int random_kills = 0, point_kills = 0, gc_rounds = 0, policy_rounds = 0, files_checked = 0;
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  for (int round = 0; round <= rounds; ++round) {
    // Every 5th round the daemon kills itself at a named point of a commit.
    const char* point = (round % 5 == 4) ? kPoints[(round / 5) % kNumPoints] : nullptr;
    if (point) setenv("CIUICFS_CRASH_AT", point, 1);
    // Every 4th round the mount has a retention policy: its keeper drops
    // snapshots and runs gc in the daemon while the writer saves, and the
    // kill may land in either (store/retention/README.md).
    const bool policy = round % 4 == 3;
    policy_rounds += policy;
    Mount m(mnt, store, policy ? "--keep-last 6" : "");
    bool started = m.Start();
    unsetenv("CIUICFS_CRASH_AT");
    // Every point may be reached while the daemon mounts (a backlog, or a
    // log, that the last kill left): a kill all the same, and the next
    // round checks what it left.
    const bool armed_point = point != nullptr;
    auto dies_on_backlog = [&] {  // the daemon exits at the point, or its backlog is ingested
      for (int i = 0; i < 300; ++i) {
        if (m.ExitsWithin(50)) return true;
        CommandResult st = RunCiuicfs("stats --json '" + mnt + "'", dir.path());
        if (st.code == 0 && st.out.find("\"backlog_versions\":0,") != std::string::npos) return m.ExitsWithin(100);
      }
      return false;
    };
    if (armed_point && (!started || dies_on_backlog())) {
      ++point_kills;
      if (!started) (void)!system(("fusermount3 -u -z '" + mnt + "' 2>/dev/null").c_str());
      continue;
    }
    ASSERT_TRUE(started) << "round " << round << ": remount failed";

    // What every earlier round's close()/rename() promised.
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (const std::string& name : ledger.closed) {
        if (ledger.deleted.count(name)) continue;
        std::string got = ReadFile(m.At(name));
        if (!ledger.renamed.count(name) && got == "<missing>") got = ReadFile(m.At(name + ".tmp"));
        ASSERT_EQ(Diff(got, ContentFor(name)), "same") << "round " << round << ": " << name;
      }
      for (const std::string& name : ledger.meta) {
        if (ledger.deleted.count(name)) continue;
        struct stat st;
        ASSERT_EQ(stat(m.At(name).c_str(), &st), 0) << "round " << round << ": " << name;
        EXPECT_EQ(st.st_mode & 07777, 0600u) << "round " << round << ": the chmod of " << name;
        char v[256];
        const ssize_t n = getxattr(m.At(name).c_str(), "user.saved", v, sizeof(v));
        EXPECT_EQ(n < 0 ? std::string(strerror(errno)) : std::string(v, size_t(n)), name)
            << "round " << round << ": the xattr of " << name;
      }
      if (!ledger.latest_done.empty()) {
        char target[256];
        const ssize_t n = readlink(m.At("latest").c_str(), target, sizeof(target));
        const std::string got = n < 0 ? std::string(strerror(errno)) : std::string(target, size_t(n));
        EXPECT_TRUE(got == ledger.latest_done || got == ledger.latest_trying)
            << "round " << round << ": latest -> " << got << ", want " << ledger.latest_done;
      }
    }
    files_checked += CheckTree(mnt, "live tree, round " + std::to_string(round));
    files_checked += CheckTree(m.At("@latest"), "@latest, round " + std::to_string(round));
    DIR* h = opendir(m.At("@history").c_str());
    std::vector<std::string> snaps;
    while (struct dirent* e = h ? readdir(h) : nullptr)
      if (e->d_name[0] != '.') snaps.push_back(e->d_name);
    if (h) closedir(h);
    std::sort(snaps.begin(), snaps.end());
    for (size_t i = snaps.size() > 3 ? snaps.size() - 3 : 0; i < snaps.size(); ++i)
      files_checked += CheckTree(m.At("@history/" + snaps[i]), "@history/" + snaps[i]);
    CommandResult v = RunCiuicfs("verify '" + mnt + "'", dir.path());
    ASSERT_EQ(v.code, 0) << "round " << round << ": " << v.out << v.err;
    if (round == rounds) {
      if (ledger.folders.size() > 6) {  // diagnose a stuck clean-up
        std::string what = ledger.folders.front() + ":";
        DIR* d = opendir(m.At(ledger.folders.front()).c_str());
        while (struct dirent* e = d ? readdir(d) : nullptr) what += std::string(" ") + e->d_name;
        if (d) closedir(d);
        int r = rmdir(m.At(ledger.folders.front()).c_str());
        ADD_FAILURE() << what << (d ? "" : " (cannot open)") << "; rmdir now: " << (r ? strerror(errno) : "ok");
      }
      m.Unmount();
      break;
    }
    if (round % 3 != 1) {  // keep the store small (verify reads it all each round)
      CommandResult p = RunCiuicfs("prune '" + mnt + "' --keep-last 10 >/dev/null && " + CIUICFS_BIN + " gc '" + mnt + "'",
                                   dir.path());
      ASSERT_EQ(p.code, 0) << p.out << p.err;
    }
    mkdir(m.At("ckpt").c_str(), 0755);

    std::atomic<bool> stop{false}, done{false};
    std::thread writer(Writer, mnt, round, &ledger, &stop, &done);
    std::thread gc;
    if (!point && round % 3 == 1) {  // kill while prune + gc may be running
      ++gc_rounds;
      gc = std::thread([&] {
        RunCiuicfs("prune '" + mnt + "' --keep-last 4 >/dev/null && " + CIUICFS_BIN + " gc '" + mnt + "'", dir.path());
      });
    }
    if (point) {
      for (int i = 0; i < 500 && !done; ++i)  // the daemon dies at the point; the writer fails
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      EXPECT_TRUE(done) << "round " << round << ": the daemon did not stop at " << point;
      ++point_kills;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));
      ++random_kills;
    }
    m.KillHard();
    stop = true;
    writer.join();
    if (gc.joinable()) gc.join();
  }
  std::printf("crash loop: %d rounds, %d random kills (%d during prune+gc), %d with a retention policy, %d kills at "
              "commit points, %zu versions closed, %zu chmod+setxattr kept, %d file reads checked\n",
              rounds, random_kills, gc_rounds, policy_rounds, point_kills, ledger.closed.size(), ledger.meta.size(),
              files_checked);
  EXPECT_GT(ledger.renamed.size(), size_t(rounds));  // the writer did save in most rounds
  EXPECT_GT(ledger.meta.size(), size_t(rounds));     // and changed metadata
  EXPECT_LE(ledger.folders.size(), 6u) << "old folders were not deleted: the writer got stuck at " << ledger.cleanup_error;
}

}  // namespace
}  // namespace ciuicfs::testing
