// The live tree's metadata against a local disk: the POSIX comparison with
// a native folder, symlinks, modes, times and xattrs, each kept across a
// kill -9 of the daemon and a remount (#13).
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

// Runs the same operation on a native directory and on the mount; the
// outcome (return value, errno, and what it reads back) must match. Each
// op's parts are separate statements: the operands of a `+` run in no set
// order.
TEST_F(MetadataTest, PosixOperationsMatchANativeDirectory) {
  const std::string native = dir_.Sub("native");
  mkdir(native.c_str(), 0755);
  using Op = std::function<std::string(const std::string& base)>;
  auto rc = [](int r) { return "rc=" + std::to_string(r < 0 ? -1 : r) + (r < 0 ? " errno=" + std::string(strerror(errno)) : ""); };
  auto mode_of = [](const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 ? std::to_string(st.st_mode & 07777) + " size=" + std::to_string(st.st_size)
                                     : "stat " + std::string(strerror(errno));
  };
  auto link_of = [](const std::string& p) {
    char buf[4096];
    ssize_t n = readlink(p.c_str(), buf, sizeof(buf));
    struct stat st;
    std::string type = lstat(p.c_str(), &st) != 0 ? "" : S_ISLNK(st.st_mode) ? " lnk" : " notlnk";
    return n < 0 ? "readlink " + std::string(strerror(errno)) + type : "->" + std::string(buf, size_t(n)) + type;
  };
  auto type_of = [](const std::string& p) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return " lstat " + std::string(strerror(errno));
    return " type=" + std::to_string(st.st_mode & S_IFMT) + " mode=" + std::to_string(st.st_mode & 07777) +
           " rdev=" + std::to_string(st.st_rdev) + (S_ISDIR(st.st_mode) ? "" : " size=" + std::to_string(st.st_size));
  };
  auto owner_of = [](const std::string& p) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return " lstat " + std::string(strerror(errno));
    return " owner=" + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
  };
  auto times_of = [](const std::string& p) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return " lstat " + std::string(strerror(errno));
    return " atime=" + std::to_string(st.st_atim.tv_sec) + "." + std::to_string(st.st_atim.tv_nsec) +
           " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  };
  auto xattrs_of = [](const std::string& p) {
    char names[4096];
    ssize_t n = llistxattr(p.c_str(), names, sizeof(names));
    if (n < 0) return " listxattr " + std::string(strerror(errno));
    std::set<std::string> sorted;
    for (ssize_t i = 0; i < n; i += ssize_t(std::strlen(names + i)) + 1) sorted.insert(names + i);
    std::string out = " xattrs:";
    for (const std::string& name : sorted) {
      char value[256];
      ssize_t v = lgetxattr(p.c_str(), name.c_str(), value, sizeof(value));
      out += " " + name + "=" + (v < 0 ? "?" : std::string(value, size_t(v)));
    }
    return out;
  };
  // Whether two names are one file, and how many names it has.
  auto links_of = [](const std::string& a, const std::string& b) {
    struct stat sa, sb;
    if (stat(a.c_str(), &sa) != 0) return " stat " + std::string(strerror(errno));
    if (stat(b.c_str(), &sb) != 0) return " nlink=" + std::to_string(sa.st_nlink) + " other: " + strerror(errno);
    return std::string(sa.st_ino == sb.st_ino ? " one file" : " two files") + " nlink=" + std::to_string(sa.st_nlink) +
           "," + std::to_string(sb.st_nlink);
  };
  auto list = [](const std::string& d) {
    std::set<std::string> names;
    DIR* dd = opendir(d.c_str());
    if (!dd) return std::string("opendir ") + strerror(errno);
    while (struct dirent* e = readdir(dd)) names.insert(e->d_name);
    closedir(dd);
    std::string out;
    for (auto& n : names) out += n + ",";
    return out;
  };
  const std::vector<std::pair<std::string, Op>> ops = {
      {"create+write", [&](const std::string& b) {
         std::string out = std::to_string(WriteFile(b + "/a.txt", "hello world"));
         out += ReadFile(b + "/a.txt");
         return out;
       }},
      {"random write makes a hole", [&](const std::string& b) {
         int fd = open((b + "/a.txt").c_str(), O_RDWR);
         std::string r = rc(int(pwrite(fd, "XY", 2, 20)));
         r += rc(int(pwrite(fd, "Q", 1, 2)));
         close(fd);
         return r + ReadFile(b + "/a.txt");
       }},
      {"truncate shorter", [&](const std::string& b) {
         std::string out = rc(truncate((b + "/a.txt").c_str(), 3));
         out += ReadFile(b + "/a.txt");
         return out;
       }},
      {"truncate longer", [&](const std::string& b) {
         std::string out = rc(truncate((b + "/a.txt").c_str(), 9));
         out += ReadFile(b + "/a.txt");
         return out;
       }},
      {"append", [&](const std::string& b) {
         int fd = open((b + "/a.txt").c_str(), O_WRONLY | O_APPEND);
         std::string r = rc(int(write(fd, "++", 2)));
         close(fd);
         return r + ReadFile(b + "/a.txt");
       }},
      {"mkdir", [&](const std::string& b) {
         std::string out = rc(mkdir((b + "/d").c_str(), 0750));
         out += mode_of(b + "/d").substr(0, 3);
         return out;
       }},
      {"mkdir existing", [&](const std::string& b) {
         return rc(mkdir((b + "/d").c_str(), 0750));
       }},
      {"write in dir", [&](const std::string& b) {
         return std::to_string(WriteFile(b + "/d/f", "in d"));
       }},
      {"rmdir non-empty", [&](const std::string& b) {
         return rc(rmdir((b + "/d").c_str()));
       }},
      {"rename across dirs", [&](const std::string& b) {
         std::string out = rc(rename((b + "/d/f").c_str(), (b + "/g").c_str()));
         out += ReadFile(b + "/g");
         return out;
       }},
      {"rmdir empty", [&](const std::string& b) {
         return rc(rmdir((b + "/d").c_str()));
       }},
      {"rename over existing", [&](const std::string& b) {
         WriteFile(b + "/h.tmp", "new content");
         std::string out = rc(rename((b + "/h.tmp").c_str(), (b + "/g").c_str()));
         out += ReadFile(b + "/g");
         out += ReadFile(b + "/h.tmp");
         return out;
       }},
      {"rename dir into itself", [&](const std::string& b) {
         mkdir((b + "/p").c_str(), 0755);
         mkdir((b + "/p/q").c_str(), 0755);
         return rc(rename((b + "/p").c_str(), (b + "/p/q/r").c_str()));
       }},
      {"rename dir with contents", [&](const std::string& b) {
         WriteFile(b + "/p/q/file", "deep");
         std::string out = rc(rename((b + "/p").c_str(), (b + "/p2").c_str()));
         out += ReadFile(b + "/p2/q/file");
         out += list(b + "/p2/q");
         return out;
       }},
      {"rename file over dir", [&](const std::string& b) {
         return rc(rename((b + "/g").c_str(), (b + "/p2").c_str()));
       }},
      {"rename dir over non-empty dir", [&](const std::string& b) {
         mkdir((b + "/e").c_str(), 0755);
         return rc(rename((b + "/e").c_str(), (b + "/p2").c_str()));
       }},
      {"unlink missing", [&](const std::string& b) {
         return rc(unlink((b + "/nope").c_str()));
       }},
      {"unlink dir", [&](const std::string& b) {
         return rc(unlink((b + "/e").c_str()));
       }},
      {"rmdir file", [&](const std::string& b) {
         return rc(rmdir((b + "/g").c_str()));
       }},
      {"open missing", [&](const std::string& b) {
         return rc(open((b + "/nope").c_str(), O_RDONLY));
       }},
      {"chmod", [&](const std::string& b) {
         std::string out = rc(chmod((b + "/a.txt").c_str(), 0600));
         out += mode_of(b + "/a.txt");
         return out;
       }},
      {"utimens", [&](const std::string& b) {
         struct timespec ts[2] = {{1000, 0}, {1234567, 890}};
         int r = utimensat(AT_FDCWD, (b + "/a.txt").c_str(), ts, 0);
         struct stat st;
         stat((b + "/a.txt").c_str(), &st);
         std::string out = rc(r);
         out += " mtime=";
         out += std::to_string(st.st_mtim.tv_sec);
         out += ".";
         out += std::to_string(st.st_mtim.tv_nsec);
         return out;
       }},
      {"fsync", [&](const std::string& b) {
         int fd = open((b + "/s.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
         std::string r = rc(int(write(fd, "durable", 7)));
         r += rc(fsync(fd));
         close(fd);
         return r + ReadFile(b + "/s.bin");
       }},
      {"fsync of a folder", [&](const std::string& b) {
         int fd = open((b + "/p2").c_str(), O_RDONLY | O_DIRECTORY);
         std::string out = rc(fsync(fd));
         close(fd);
         return out;
       }},
      {"unlink", [&](const std::string& b) {
         std::string out = rc(unlink((b + "/g").c_str()));
         out += ReadFile(b + "/g");
         return out;
       }},
      {"symlink", [&](const std::string& b) {
         std::string out = rc(symlink("a.txt", (b + "/ln").c_str()));
         out += link_of(b + "/ln");
         out += ReadFile(b + "/ln");
         out += mode_of(b + "/ln");
         return out;
       }},
      {"symlink over existing", [&](const std::string& b) {
         std::string out = rc(symlink("x", (b + "/ln").c_str()));
         out += link_of(b + "/ln");
         return out;
       }},
      {"symlink to a folder", [&](const std::string& b) {
         std::string out = rc(symlink("p2", (b + "/pl").c_str()));
         out += ReadFile(b + "/pl/q/file");
         out += list(b + "/pl/q");
         return out;
       }},
      {"ln -sfn: a new link renamed over the old", [&](const std::string& b) {
         std::string r = rc(symlink("p2/q/file", (b + "/ln.tmp").c_str()));
         std::string out = r;
         out += rc(rename((b + "/ln.tmp").c_str(), (b + "/ln").c_str()));
         out += link_of(b + "/ln");
         out += ReadFile(b + "/ln");
         return out;
       }},
      {"dangling symlink", [&](const std::string& b) {
         std::string out = rc(symlink("nowhere", (b + "/dl").c_str()));
         out += rc(open((b + "/dl").c_str(), O_RDONLY));
         out += link_of(b + "/dl");
         return out;
       }},
      {"readlink of a file", [&](const std::string& b) {
         return link_of(b + "/a.txt");
       }},
      {"mkdir over a symlink", [&](const std::string& b) {
         return rc(mkdir((b + "/dl").c_str(), 0755));
       }},
      {"unlink symlink", [&](const std::string& b) {
         std::string out = rc(unlink((b + "/dl").c_str()));
         out += link_of(b + "/dl");
         return out;
       }},
      {"mkfifo", [&](const std::string& b) {
         std::string out = rc(mkfifo((b + "/fifo").c_str(), 0640));
         out += type_of(b + "/fifo");
         return out;
       }},
      {"mkfifo existing", [&](const std::string& b) {
         return rc(mkfifo((b + "/fifo").c_str(), 0640));
       }},
      {"a FIFO carries bytes", [&](const std::string& b) {
         std::string got;
         std::thread writer([&] {
           int w = open((b + "/fifo").c_str(), O_WRONLY);
           if (w >= 0) (void)!write(w, "through", 7), close(w);
         });
         int r = open((b + "/fifo").c_str(), O_RDONLY);
         char buf[16];
         ssize_t n = r < 0 ? -1 : read(r, buf, sizeof(buf));
         if (r >= 0) close(r);
         writer.join();
         return n < 0 ? std::string("read failed") : std::string(buf, size_t(n));
       }},
      {"mknod a character device", [&](const std::string& b) {
         // (not opened: a FUSE mount is nodev)
         std::string out = rc(mknod((b + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
         out += type_of(b + "/null");
         return out;
       }},
      {"mknod a regular file", [&](const std::string& b) {
         std::string out = rc(mknod((b + "/plain").c_str(), S_IFREG | 0600, 0));
         out += type_of(b + "/plain");
         out += ReadFile(b + "/plain");
         return out;
       }},
      {"rename a FIFO", [&](const std::string& b) {
         std::string out = rc(rename((b + "/fifo").c_str(), (b + "/fifo2").c_str()));
         out += type_of(b + "/fifo2");
         return out;
       }},
      {"chown", [&](const std::string& b) {
         std::string out = rc(chown((b + "/a.txt").c_str(), 1234, 5678));
         out += rc(lchown((b + "/ln").c_str(), 42, 43));
         out += owner_of(b + "/a.txt");
         out += owner_of(b + "/ln");
         out += mode_of(b + "/a.txt");
         return out;
       }},
      {"chown of a FIFO and a folder", [&](const std::string& b) {
         std::string out = rc(chown((b + "/fifo2").c_str(), 7, 8));
         out += rc(chown((b + "/p2").c_str(), 9, 10));
         out += owner_of(b + "/fifo2");
         out += owner_of(b + "/p2");
         return out;
       }},
      {"atime apart from mtime", [&](const std::string& b) {
         struct timespec ts[2] = {{2000, 5}, {3000, 7}};
         std::string out = rc(utimensat(AT_FDCWD, (b + "/a.txt").c_str(), ts, 0));
         out += times_of(b + "/a.txt");
         return out;
       }},
      {"atime alone", [&](const std::string& b) {
         struct timespec ts[2] = {{4000, 9}, {0, UTIME_OMIT}};
         std::string out = rc(utimensat(AT_FDCWD, (b + "/a.txt").c_str(), ts, 0));
         out += times_of(b + "/a.txt");
         return out;
       }},
      {"times of a symlink", [&](const std::string& b) {
         struct timespec ts[2] = {{5000, 1}, {6000, 2}};
         std::string out = rc(utimensat(AT_FDCWD, (b + "/ln").c_str(), ts, AT_SYMLINK_NOFOLLOW));
         out += times_of(b + "/ln");
         return out;
       }},
      {"setxattr", [&](const std::string& b) {
         std::string out = rc(setxattr((b + "/a.txt").c_str(), "user.eval_loss", "0.25", 4, 0));
         out += rc(setxattr((b + "/p2").c_str(), "user.note", "dir", 3, 0));
         out += xattrs_of(b + "/a.txt");
         out += xattrs_of(b + "/p2");
         return out;
       }},
      {"setxattr create existing", [&](const std::string& b) {
         return rc(setxattr((b + "/a.txt").c_str(), "user.eval_loss", "1", 1, XATTR_CREATE));
       }},
      {"setxattr replace missing", [&](const std::string& b) {
         return rc(setxattr((b + "/a.txt").c_str(), "user.none", "1", 1, XATTR_REPLACE));
       }},
      {"setxattr of an unknown namespace", [&](const std::string& b) {
         return rc(setxattr((b + "/a.txt").c_str(), "other.x", "1", 1, 0));
       }},
      {"setxattr user. on a symlink", [&](const std::string& b) {
         return rc(lsetxattr((b + "/ln").c_str(), "user.x", "1", 1, 0));
       }},
      {"removexattr", [&](const std::string& b) {
         setxattr((b + "/a.txt").c_str(), "user.drop", "x", 1, 0);
         std::string out = rc(removexattr((b + "/a.txt").c_str(), "user.drop"));
         out += rc(removexattr((b + "/a.txt").c_str(), "user.drop"));
         out += xattrs_of(b + "/a.txt");
         return out;
       }},
      {"link", [&](const std::string& b) {
         WriteFile(b + "/h1.txt", "first");
         std::string out = rc(link((b + "/h1.txt").c_str(), (b + "/hard").c_str()));
         out += links_of(b + "/h1.txt", b + "/hard");
         out += ReadFile(b + "/hard");
         return out;
       }},
      {"write through one name, read through the other", [&](const std::string& b) {
         std::string out = std::to_string(WriteFile(b + "/hard", "via the link"));
         out += ReadFile(b + "/h1.txt");
         out += links_of(b + "/h1.txt", b + "/hard");
         return out;
       }},
      {"link in another folder", [&](const std::string& b) {
         std::string out = rc(link((b + "/hard").c_str(), (b + "/p2/third").c_str()));
         out += links_of(b + "/h1.txt", b + "/p2/third");
         return out;
       }},
      {"link over an existing name", [&](const std::string& b) {
         return rc(link((b + "/h1.txt").c_str(), (b + "/ln").c_str()));
       }},
      {"link a folder", [&](const std::string& b) {
         return rc(link((b + "/p2").c_str(), (b + "/p3").c_str()));
       }},
      {"link a missing file", [&](const std::string& b) {
         return rc(link((b + "/nope").c_str(), (b + "/p3").c_str()));
       }},
      {"rename one name over another of the same file", [&](const std::string& b) {
         std::string out = rc(rename((b + "/hard").c_str(), (b + "/p2/third").c_str()));
         out += links_of(b + "/hard", b + "/p2/third");
         return out;
       }},
      {"chmod through a link", [&](const std::string& b) {
         std::string out = rc(chmod((b + "/p2/third").c_str(), 0640));
         out += mode_of(b + "/h1.txt");
         return out;
       }},
      {"unlink the first name", [&](const std::string& b) {
         std::string out = rc(link((b + "/h1.txt").c_str(), (b + "/keep").c_str()));
         out += rc(unlink((b + "/keep").c_str()));
         out += links_of(b + "/h1.txt", b + "/p2/third");
         return out;
       }},
      {"rename over a name of a hard link", [&](const std::string& b) {
         WriteFile(b + "/over.tmp", "replaced");
         std::string out = rc(rename((b + "/over.tmp").c_str(), (b + "/p2/third").c_str()));
         out += links_of(b + "/h1.txt", b + "/hard");
         out += ReadFile(b + "/h1.txt");
         out += ReadFile(b + "/p2/third");
         return out;
       }},
      {"unlink a FIFO", [&](const std::string& b) {
         std::string out = rc(unlink((b + "/fifo2").c_str()));
         out += type_of(b + "/fifo2");
         return out;
       }},
      {"listing", [&](const std::string& b) {
         return list(b);
       }},
  };
  for (auto& [name, op] : ops) {
    std::string want = op(native);
    std::string got = op(mount_->path());
    EXPECT_EQ(got, want) << name;
  }
  struct statvfs sv;
  EXPECT_EQ(statvfs(mount_->path().c_str(), &sv), 0);
  EXPECT_GT(sv.f_blocks, 0u);
  // The live tree survives a remount as it was.
  std::string before = list(mount_->path());
  std::string content = ReadFile(M("p2/q/file"));
  Remount();
  // The metadata too: type, mode, device, owner, times and xattrs, as the
  // native folder has them (times first: a read moves the native atime).
  EXPECT_EQ(times_of(M("a.txt")), times_of(native + "/a.txt"));
  EXPECT_EQ(times_of(M("ln")), times_of(native + "/ln"));
  EXPECT_EQ(links_of(M("h1.txt"), M("p2/third")), links_of(native + "/h1.txt", native + "/p2/third"));
  EXPECT_EQ(links_of(M("h1.txt"), M("hard")), links_of(native + "/h1.txt", native + "/hard"));
  for (const std::string& p : {"a.txt", "ln", "p2", "null", "plain"}) {
    EXPECT_EQ(type_of(M(p)), type_of(native + "/" + p)) << p;
    EXPECT_EQ(owner_of(M(p)), owner_of(native + "/" + p)) << p;
    EXPECT_EQ(xattrs_of(M(p)), xattrs_of(native + "/" + p)) << p;
  }
  EXPECT_EQ(list(mount_->path()), before);
  EXPECT_EQ(Diff(ReadFile(M("p2/q/file")), content), "same");
  EXPECT_EQ(link_of(M("ln")), link_of(native + "/ln"));
  EXPECT_EQ(link_of(M("pl")), link_of(native + "/pl"));
  EXPECT_EQ(Diff(ReadFile(M("a.txt")), ReadFile(native + "/a.txt")), "same");
}

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

// chmod and utimens that returned are in the store, by the rule of a
// close: a kill -9 of the daemon keeps them.
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
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int rc = pclose(p);
  return rc == 0 ? out : out + "exit " + std::to_string(rc);
}

TEST(UnprivilegedTest, PermissionsMatchANativeFolderWithAllowOther) {
  if (std::string why = FuseUnavailableReason(); !why.empty()) GTEST_SKIP() << "skipping: " << why;
  if (getuid() != 0) GTEST_SKIP() << "skipping: switching to another user needs root";
  if (access("/usr/bin/setpriv", X_OK) != 0 || access("/usr/bin/python3", X_OK) != 0)
    GTEST_SKIP() << "skipping: needs /usr/bin/setpriv and /usr/bin/python3 (scripts/setup.sh installs them)";
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // reachable by the other user
  const std::string native = dir.Sub("native");
  ASSERT_EQ(mkdir(native.c_str(), 0755), 0);
  Mount mount(dir.Sub("mnt"), dir.Sub("store"), "--allow-other");
  ASSERT_TRUE(mount.Start());
  const std::string nobody = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups";
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

}  // namespace
}  // namespace ciuicfs
