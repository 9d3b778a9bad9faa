// The mount against a local disk, op by op (#13): files, folders,
// symlinks, hard links, FIFOs, device nodes, modes, owners, times and
// xattrs, each run on a native folder and on the mount with the same
// result, errno and read-back, and compared again after a remount.
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


class PosixTest : public MountedTest {};

// Runs the same operation on a native directory and on the mount; the
// outcome (return value, errno, and what it reads back) must match. Each
// op's parts are separate statements: the operands of a `+` run in no set
// order.
TEST_F(PosixTest, OperationsMatchANativeDirectory) {
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
  for (std::string p : {"a.txt", "ln", "p2", "null", "plain"}) {
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

}  // namespace
}  // namespace ciuicfs
