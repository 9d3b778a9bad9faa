#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

struct CliRun {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

CliRun Ciuicfs(const std::string& args, const std::string& dir) {
  const std::string err_file = dir + "/stderr.txt";
  std::string cmd = std::string(CIUICFS_BIN) + " " + args + " 2>" + err_file;
  FILE* p = popen(cmd.c_str(), "r");
  CliRun r{-1, "", ""};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  FILE* e = fopen(err_file.c_str(), "r");
  while (e && (n = fread(buf.data(), 1, buf.size(), e)) > 0) r.err.append(buf.data(), n);
  if (e) fclose(e);
  return r;
}

TEST(CliTest, StatsCountsWhatWasSaved) {
  TempDir dir;
  const std::string store_dir = dir.Sub("s");
  uint64_t raw = 0;
  {
    auto store = OpenStore(store_dir);
    std::string frozen = RandomBytes(1, 3 << 20);
    for (int i = 0; i < 4; ++i) {
      std::string data = frozen + RandomBytes(10 + i, 1 << 20);
      raw += data.size();
      CommitFile(store.get(), "model.pt", data, i);
    }
  }
  CliRun r = Ciuicfs("stats --json --store " + store_dir, dir.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"snapshots\":4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"raw_bytes\":" + std::to_string(raw)), std::string::npos) << r.out;
  uint64_t stored = FileSize(store_dir + "/packs/00000001.pack");
  EXPECT_NE(r.out.find("\"stored_bytes\":" + std::to_string(stored)), std::string::npos) << r.out;
  EXPECT_LT(stored, raw / 2);  // the frozen 3 MiB is stored once
  CliRun text = Ciuicfs("stats --store " + store_dir, dir.path());
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("dedup ratio"), std::string::npos);
}

TEST(CliTest, VerifyPassesThenNamesAFlippedByte) {
  TempDir dir;
  const std::string store_dir = dir.Sub("s");
  {
    auto store = OpenStore(store_dir);
    CommitFile(store.get(), "ckpt/model.pt", RandomBytes(1, 2 << 20));
  }
  CliRun ok = Ciuicfs("verify --store " + store_dir, dir.path());
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("clean"), std::string::npos);
  const std::string pack = store_dir + "/packs/00000001.pack";
  FlipByte(pack, 100000);
  CliRun bad = Ciuicfs("verify --store " + store_dir, dir.path());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("packs/00000001.pack"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("ckpt/model.pt@1"), std::string::npos) << bad.out;
}

TEST(CliTest, BadInputGetsOneLineAndNonZeroExit) {
  TempDir dir;
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  ASSERT_EQ(system(("mkdir -p " + dir.Sub("plain") + " && echo x > " + dir.Sub("plain/f")).c_str()), 0);
  const std::vector<Case> cases = {
      {"frobnicate", 2, "unknown command 'frobnicate'"},
      {"stats --no-such-option", 2, "no-such-option"},
      {"verify --store", 2, "store"},
      {"stats --store " + dir.Sub("absent"), 1, "not a ciuicfs store or mount"},
      {"verify --store " + dir.Sub("plain"), 1, "not a ciuicfs store"},
  };
  for (const Case& c : cases) {
    CliRun r = Ciuicfs(c.args, dir.path());
    EXPECT_EQ(r.code, c.code) << c.args;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << " -> " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << " -> " << r.err;
  }
  // Nothing was created by the failed calls.
  EXPECT_NE(access(dir.Sub("absent").c_str(), F_OK), 0);
  EXPECT_NE(access(dir.Sub("plain/CIUICFS-STORE").c_str(), F_OK), 0);
}

TEST(CliTest, HelpAnswers) {
  TempDir dir;
  CliRun top = Ciuicfs("--help", dir.path());
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("verify"), std::string::npos);
  CliRun sub = Ciuicfs("verify --help", dir.path());
  EXPECT_EQ(sub.code, 0);
  EXPECT_NE(sub.out.find("example:"), std::string::npos);
}

}  // namespace
}  // namespace ciuicfs
