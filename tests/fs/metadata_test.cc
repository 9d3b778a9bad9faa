// The live tree's metadata (#13): symlinks, modes, owners, times, xattrs,
// hard links, FIFOs and devices, each kept across a kill -9 of the daemon
// and a remount; an unprivileged user's view of a shared mount against a
// native folder's. The op-by-op comparison is posix_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "tests/fs/mount_fixture.h"
#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

class MetadataTest : public MountedTest {
 protected:
  int HistoryCount() const { return CountEntries(M("@history")); }
};

// A trainer's `latest` symlink (ln -sfn ckpt_step_N latest, Lightning's
// last.ckpt): each link is a version of its own, shown in every @ tree,
// kept across a kill -9 of the daemon, and copied out as a symlink.
TEST_F(MetadataTest, SymlinksAreVersionedAndSurviveAKill) {
  auto link_of = [](const std::string& p) {
    char buf[4096];
    ssize_t n = readlink(p.c_str(), buf, sizeof(buf));
    return n < 0 ? "readlink " + std::string(strerror(errno)) : std::string(buf, size_t(n));
  };
  for (int step = 1; step <= 2; ++step) {
    const std::string dir = "ckpt_step_" + std::to_string(step);
    ASSERT_EQ(mkdir(M(dir).c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(M(dir + "/model.pt"), "weights " + std::to_string(step)));
    ASSERT_EQ(symlink(dir.c_str(), M("latest.tmp").c_str()), 0) << strerror(errno);
    ASSERT_EQ(rename(M("latest.tmp").c_str(), M("latest").c_str()), 0) << strerror(errno);
  }
  EXPECT_EQ(link_of(M("latest")), "ckpt_step_2");
  EXPECT_EQ(ReadFile(M("latest/model.pt")), "weights 2");
  EXPECT_EQ(link_of(M("@latest/latest")), "ckpt_step_2");
  EXPECT_EQ(ReadFile(M("@latest/latest/model.pt")), "weights 2");
  struct stat st;
  ASSERT_EQ(lstat(M("@latest/latest").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, off_t(std::string("ckpt_step_2").size()));
  // Copied out of the history as a symlink.
  const std::string out = dir_.Sub("out");
  ASSERT_EQ(std::system(("cp -a '" + M("@latest") + "' '" + out + "'").c_str()), 0);
  EXPECT_EQ(link_of(out + "/latest"), "ckpt_step_2");
  EXPECT_EQ(ReadFile(out + "/latest/model.pt"), "weights 2");
  // A symlink that returned is in the store: kill -9 loses nothing.
  ASSERT_EQ(symlink("ckpt_step_1", M("best").c_str()), 0);
  mount_->KillHard();
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(link_of(M("latest")), "ckpt_step_2");
  EXPECT_EQ(link_of(M("best")), "ckpt_step_1");
  ASSERT_EQ(lstat(M("best").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadFile(M("best/model.pt")), "weights 1");
  // Removed like a file; the snapshot before keeps it.
  CommandResult tag = RunCiuicfs("tag before latest --store '" + mount_->path() + "'", dir_.path());
  ASSERT_EQ(tag.code, 0) << tag.out << tag.err;
  ASSERT_EQ(unlink(M("best").c_str()), 0);
  EXPECT_EQ(link_of(M("best")), "readlink " + std::string(strerror(ENOENT)));
  EXPECT_EQ(link_of(M("@latest/best")), "readlink " + std::string(strerror(ENOENT)));
  EXPECT_EQ(link_of(M("@tag-before/best")), "ckpt_step_1");
  // A rollback brings it back as a symlink.
  CommandResult rb = RunCiuicfs("rollback before --store '" + mount_->path() + "'", dir_.path());
  ASSERT_EQ(rb.code, 0) << rb.out << rb.err;
  EXPECT_EQ(link_of(M("best")), "ckpt_step_1");
  EXPECT_EQ(ReadFile(M("best/model.pt")), "weights 1");
  EXPECT_EQ(link_of(M("@latest/best")), "ckpt_step_1");
}

// A chmod right after a close (before the kernel's release of the file)
// is kept too.
TEST_F(MetadataTest, AChmodRightAfterACloseIsKept) {
  for (int i = 0; i < 5; ++i) {
    const std::string f = M("c" + std::to_string(i) + ".pt");
    ASSERT_TRUE(WriteFile(f, "bytes"));
    ASSERT_EQ(chmod(f.c_str(), 0600), 0);
  }
  Remount();
  for (int i = 0; i < 5; ++i) {
    struct stat st;
    ASSERT_EQ(stat(M("c" + std::to_string(i) + ".pt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << i;
  }
}

// chown, a separate atime, xattrs, FIFOs and device nodes: each is in the
// store when the call returns (a snapshot each), so a kill -9 keeps them,
// and the @ trees show them as stored.
TEST_F(MetadataTest, OwnersTimesXattrsAndSpecialFilesSurviveAKill) {
  ASSERT_TRUE(WriteFile(M("f.pt"), "weights"));
  ASSERT_EQ(mkdir(M("d").c_str(), 0755), 0);
  const int before = HistoryCount();
  ASSERT_EQ(chown(M("f.pt").c_str(), 1000, 1001), 0);
  struct timespec ts[2] = {{777, 1}, {888, 2}};
  ASSERT_EQ(utimensat(AT_FDCWD, M("f.pt").c_str(), ts, 0), 0);
  ASSERT_EQ(setxattr(M("f.pt").c_str(), "user.eval_loss", "2.5", 3, 0), 0) << strerror(errno);
  ASSERT_EQ(setxattr(M("d").c_str(), "user.run", "a", 1, 0), 0) << strerror(errno);
  ASSERT_EQ(mkfifo(M("d/pipe").c_str(), 0600), 0) << strerror(errno);
  ASSERT_EQ(mknod(M("d/zero").c_str(), S_IFCHR | 0644, makedev(1, 5)), 0) << strerror(errno);
  EXPECT_GE(HistoryCount(), before + 6) << "each change is a snapshot";
  // A file held open for writing: its metadata changes are kept all the
  // same, with its committed content.
  ASSERT_TRUE(WriteFile(M("open.pt"), "committed"));
  const int fd = open(M("open.pt").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchmod(fd, 0604), 0);
  ASSERT_EQ(fsetxattr(fd, "user.while_open", "1", 1, 0), 0) << strerror(errno);
  mount_->KillHard();
  close(fd);
  ASSERT_TRUE(mount_->Start());
  {
    struct stat st;
    ASSERT_EQ(stat(M("open.pt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0604u);
    char v[4];
    EXPECT_EQ(getxattr(M("open.pt").c_str(), "user.while_open", v, sizeof(v)), 1);
    EXPECT_EQ(ReadFile(M("open.pt")), "committed");
  }
  for (const std::string& base : {std::string(""), std::string("@latest/")}) {
    SCOPED_TRACE(base.empty() ? "live tree" : "@latest");
    struct stat st;
    ASSERT_EQ(stat(M(base + "f.pt").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 1001u);
    EXPECT_EQ(st.st_atim.tv_sec, 777);
    EXPECT_EQ(st.st_atim.tv_nsec, 1);
    EXPECT_EQ(st.st_mtim.tv_sec, 888);
    char v[16];
    ssize_t n = getxattr(M(base + "f.pt").c_str(), "user.eval_loss", v, sizeof(v));
    EXPECT_EQ(n < 0 ? std::string(strerror(errno)) : std::string(v, size_t(n)), "2.5");
    n = getxattr(M(base + "d").c_str(), "user.run", v, sizeof(v));
    EXPECT_EQ(n < 0 ? std::string(strerror(errno)) : std::string(v, size_t(n)), "a");
    ASSERT_EQ(lstat(M(base + "d/pipe").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(lstat(M(base + "d/zero").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 5));
  }
  EXPECT_EQ(ReadFile(M("f.pt")), "weights");
  EXPECT_NE(setxattr(M("@latest/f.pt").c_str(), "user.x", "1", 1, 0), 0) << "snapshots are read-only";
  EXPECT_EQ(errno, EROFS);
}

// A hard link is two names of one file in the live tree; each save
// through either name commits both, a kill -9 keeps them one file, and the
// @ trees show the same version under both.
TEST_F(MetadataTest, HardLinksStayOneFileAcrossAKill) {
  ASSERT_TRUE(WriteFile(M("model.pt"), "v1"));
  ASSERT_EQ(mkdir(M("best").c_str(), 0755), 0);
  ASSERT_EQ(link(M("model.pt").c_str(), M("best/model.pt").c_str()), 0) << strerror(errno);
  ASSERT_TRUE(WriteFile(M("best/model.pt"), "v2, through the second name"));
  EXPECT_EQ(ReadFile(M("model.pt")), "v2, through the second name");
  EXPECT_EQ(ReadFile(M("@latest/model.pt")), "v2, through the second name");
  EXPECT_EQ(ReadFile(M("@latest/best/model.pt")), "v2, through the second name");
  mount_->KillHard();
  ASSERT_TRUE(mount_->Start());
  struct stat a, b;
  ASSERT_EQ(stat(M("model.pt").c_str(), &a), 0);
  ASSERT_EQ(stat(M("best/model.pt").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "still one file after the kill";
  EXPECT_EQ(a.st_nlink, 2u);
  ASSERT_TRUE(WriteFile(M("model.pt"), "v3"));
  EXPECT_EQ(ReadFile(M("best/model.pt")), "v3");
  ASSERT_EQ(unlink(M("model.pt").c_str()), 0);
  ASSERT_EQ(stat(M("best/model.pt").c_str(), &b), 0);
  EXPECT_EQ(b.st_nlink, 1u);
  Remount();
  EXPECT_EQ(ReadFile(M("best/model.pt")), "v3");
  EXPECT_FALSE(PathExists(M("model.pt")));
}

// chmod and utimens that returned are in the store, by the rule of a
// close: a kill -9 of the daemon keeps them.
TEST_F(MetadataTest, ModeAndMtimeChangesSurviveAKill) {
  ASSERT_TRUE(WriteFile(M("f.pt"), "weights"));
  ASSERT_EQ(mkdir(M("d").c_str(), 0755), 0);
  const int before = HistoryCount();
  ASSERT_EQ(chmod(M("f.pt").c_str(), 0600), 0);
  struct timespec ts[2] = {{1000, 0}, {1234567, 890}};
  ASSERT_EQ(utimensat(AT_FDCWD, M("f.pt").c_str(), ts, 0), 0);
  ASSERT_EQ(chmod(M("d").c_str(), 0700), 0);
  EXPECT_GE(HistoryCount(), before + 3) << "each change is a snapshot";
  mount_->KillHard();
  ASSERT_TRUE(mount_->Start());
  struct stat st;
  ASSERT_EQ(stat(M("f.pt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567);
  EXPECT_EQ(st.st_mtim.tv_nsec, 890);
  EXPECT_EQ(ReadFile(M("f.pt")), "weights");
  ASSERT_EQ(stat(M("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(M("@latest/f.pt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567);
}

TEST_F(MetadataTest, XattrsAndBlockSize) {
  ASSERT_TRUE(WriteFile(M("f"), "x"));
  EXPECT_EQ(setxattr(M("f").c_str(), "user.note", "abc", 3, 0), 0);
  char buf[64];
  EXPECT_EQ(getxattr(M("f").c_str(), "user.note", buf, sizeof(buf)), 3);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ(setxattr(M("f").c_str(), "user.note", "z", 1, XATTR_CREATE), -1);
  EXPECT_EQ(errno, EEXIST);
  ssize_t n = listxattr(M("f").c_str(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, size_t(std::max<ssize_t>(n, 0))), std::string("user.note\0", 10));
  EXPECT_EQ(removexattr(M("f").c_str(), "user.note"), 0);
  EXPECT_EQ(getxattr(M("f").c_str(), "user.note", buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, ENODATA);
  struct stat st;
  ASSERT_EQ(stat(M("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_blksize, 1 << 20);
}

// An unprivileged user (setpriv) in a mount shared with --allow-other:
// the kernel checks permissions against the modes and owners the mount
// reports (default_permissions), so every outcome must be a native
// folder's; again after a remount (tests/fs/unprivileged.py).
std::string RunAs(const std::string& who, const std::string& base, const std::string& phase) {
  const std::string cmd = who + " /usr/bin/python3 " + std::string(CIUICFS_SOURCE_DIR) + "/tests/fs/unprivileged.py " +
                          base + " " + phase + " 2>&1";
  int rc = 0;
  const std::string out = ShellOutput(cmd, &rc);
  return rc == 0 ? out : out + "exit " + std::to_string(rc);
}

// A native folder and a mount with --allow-other side by side in a
// folder the other user can reach.
class UnprivilegedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = FuseUnavailableReason(); !why.empty()) GTEST_SKIP() << "skipping: " << why;
    if (getuid() != 0) GTEST_SKIP() << "skipping: switching to another user needs root";
    if (access("/usr/bin/setpriv", X_OK) != 0 || access("/usr/bin/python3", X_OK) != 0)
      GTEST_SKIP() << "skipping: needs /usr/bin/setpriv and /usr/bin/python3 (scripts/setup.sh installs them)";
    ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // reachable by the other user
    ASSERT_EQ(mkdir(native.c_str(), 0755), 0);
    ASSERT_TRUE(mount.Start());
  }
  TempDir dir;
  const std::string native = dir.Sub("native");
  Mount mount{dir.Sub("mnt"), dir.Sub("store"), "--allow-other"};
  const std::string nobody = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups";
};

TEST_F(UnprivilegedTest, PermissionsMatchANativeFolderWithAllowOther) {
  EXPECT_EQ(RunAs("", mount.path(), "setup"), RunAs("", native, "setup"));
  const std::string act = RunAs(nobody, native, "act");
  EXPECT_NE(act.find("create in a closed folder EACCES"), std::string::npos) << act;
  EXPECT_NE(act.find("create in an open folder ok"), std::string::npos) << act;
  EXPECT_EQ(RunAs(nobody, mount.path(), "act"), act);
  const std::string check = RunAs(nobody, native, "check");
  EXPECT_NE(check.find("read a secret file EACCES"), std::string::npos) << check;
  EXPECT_EQ(RunAs(nobody, mount.path(), "check"), check);
  mount.Unmount();
  ASSERT_TRUE(mount.Start());
  EXPECT_EQ(RunAs(nobody, mount.path(), "check"), check) << "after a remount";
}

// Set-ID bits and file capabilities after writes, truncates and chowns,
// by `nobody` and by root, against a native folder: the daemon drops them
// itself where the kernel leaves it to it (fs/set_id.h), and on the
// passthrough path a file that carries them is written through the
// daemon. Again after a remount: the versions carry the dropped bits.
TEST_F(UnprivilegedTest, SetIdBitsAndCapabilitiesDropAsOnANativeFolder) {
  EXPECT_EQ(RunAs("", mount.path(), "setid-setup"), RunAs("", native, "setid-setup"));
  const std::string act = RunAs(nobody, native, "setid-act");
  EXPECT_EQ(RunAs(nobody, mount.path(), "setid-act"), act);
  const std::string root = RunAs("", native, "setid-root");
  EXPECT_EQ(RunAs("", mount.path(), "setid-root"), root);
  const std::string check = RunAs("", native, "setid-check");
  // The native folder's answers hold what the rules say (so a comparison
  // with a folder that kept or dropped everything would fail).
  for (const char* want : {"w-ugx ok 0:0 777 'content+more' capability=ENODATA",
                           "w-g-nox ok 0:0 767 'content+more' capability=ENODATA",
                           "t-path ok 0:0 777 'co'", "t-open ok 0:0 777 'new'", "t-fd ok 0:0 777 'con'",
                           "w-root ok 0:0 6777 'content+more'", "chown ok 65534:0 755 'content'",
                           "cap-w ok 0:0 755 'content+more' capability=ENODATA",
                           "cap-chown ok 65534:0 755 'content' capability=ENODATA",
                           "cap-t ok 0:0 755 'c' capability=ENODATA", "own ok 65534:65534 755 'first second'"})
    EXPECT_NE(check.find(want), std::string::npos) << want << " in\n" << check;
  EXPECT_EQ(RunAs("", mount.path(), "setid-check"), check);
  mount.Unmount();
  ASSERT_TRUE(mount.Start());
  EXPECT_EQ(RunAs("", mount.path(), "setid-check"), check) << "after a remount";
}

}  // namespace
}  // namespace ciuicfs
