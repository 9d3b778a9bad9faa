// Every command that takes a store, on a store filled through a real mount:
// it answers the same whichever way the store is named (the positional
// argument, --store, or run inside the mount with no store named; reads
// also by the store directory beside the running mount); its --json answer
// carries what its text says (Python renders the text from the JSON and
// the two must be equal); and a progress line shows on a terminal, never on
// stdout, never without a terminal, never from a mount's daemon.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// Python that renders a command's text answer from its JSON answer: `d` is
// the parsed answer (a list of objects for JSON lines), `t` the text answer;
// each appends the text's lines to `out`.
const char* kPrelude = R"py(import json, re, sys, time
raw, t = open(sys.argv[1]).read(), open(sys.argv[2]).read()
if sys.argv[3] == "lines":
    d = [json.loads(l) for l in raw.splitlines()]
else:
    assert raw.endswith("\n") and raw.count("\n") == 1, "not one JSON document on one line: %r" % raw[:300]
    d = json.loads(raw)
def human(n):
    v, u = float(n), 0
    while v >= 1024 and u < 4:
        v, u = v / 1024, u + 1
    return "%d B" % n if u == 0 else "%.1f %s" % (v, ["B", "KiB", "MiB", "GiB", "TiB"][u])
def when(ns):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 10**9))
mark = {"remove": "-", "link": "="}
out = []
)py";

const std::map<std::string, std::string> kRender = {
    {"log", R"py(for s in d:
    ch = ", ".join(mark.get(c["kind"], "+") + c["path"] for c in s["changes"])
    tag = " (tag: %s)" % s["tags"] if s["tags"] else ""
    out.append("%-6d %s  step %-8d %s  +%-10s %s%s" % (s["seq"], s["id"][:12], s["step"], when(s["time_ns"]),
                                                     human(s["bytes_added"]), ch, tag))
)py"},
    {"show", R"py(out.append("snapshot %d  %s" % (d["seq"], d["id"]))
out.append("parent   %s" % (d["parent"] or "(none)"))
out.append("step     %d" % d["step"])
out.append("time     %s" % when(d["time_ns"]))
out.append("bytes    %d in files; %d new in packs, the rest shared with earlier snapshots" % (d["bytes_in_files"], d["bytes_added"]))
for c in d["changes"]:
    out.append("changed  %s %s" % (mark.get(c["kind"], "+"), c["path"]))
out.append("tree (%d entries):" % len(d["tree"]))
for e in d["tree"]:
    out.append("  %12s  %s/" % ("", e["path"]) if e["kind"] == "directory" else "  %12d  %s" % (e["size"], e["path"]))
)py"},
    {"diff", R"py(for c in d["changes"]:
    name = "%-10s%s" % (c["change"], c["path"])
    if c["change"] == "added": out.append("%s  (%d bytes)" % (name, c["size"]))
    elif c["change"] == "removed": out.append("%s  (%d bytes)" % (name, c["old_size"]))
    elif "now" in c: out.append("%s  (now a %s)" % (name, c["now"]))
    else: out.append("%s  %d -> %d bytes; %d of %d chunks differ (%d bytes)" % (
        name, c["old_size"], c["size"], c["chunks_differ"], c["chunks"], c["bytes_differ"]))
if not d["changes"]: out.append("no differences")
)py"},
    {"stats", R"py(ratio = re.search(r"dedup ratio   ([0-9.]+)x", t)
assert ratio and abs(float(ratio.group(1)) - d["dedup_ratio"]) <= 0.00501, "ratio %r vs %r" % (ratio and ratio.group(1), d["dedup_ratio"])
out += ["snapshots     %d" % d["snapshots"], "versions      %d" % d["versions"], "chunks        %d" % d["chunks"],
        "packs         %d" % d["packs"], "raw bytes     %d" % d["raw_bytes"], "stored bytes  %d" % d["stored_bytes"],
        "dedup ratio   %sx" % ratio.group(1), "after dedup   %d" % d["unique_bytes"],
        "encoded       %d chunks (%d deltas); %d bytes wait to be re-encoded" % (d["encoded_chunks"], d["delta_chunks"], d["reencode_waiting_bytes"]),
        "backlog       %d versions, %d bytes in extents, not ingested yet" % (d["backlog_versions"], d["backlog_bytes"])]
)py"},
    {"verify", R"py(out += ["BAD " + p for p in d["problems"]]
out.append("%s: %d snapshots, %d versions, %d chunks, %d packs checked; %d problem(s)" % (
    "clean" if d["clean"] else "DAMAGED", d["snapshots"], d["versions"], d["chunks"], d["packs"], len(d["problems"])))
)py"},
    {"gc", R"py(out.append("freed %d bytes (%s): %d chunks deleted, %d packs compacted, %d packs removed; %d bytes stored" % (
    d["bytes_freed"], human(d["bytes_freed"]), d["chunks_deleted"], d["packs_compacted"], d["packs_removed"], d["bytes_stored"]))
)py"},
    {"prune", R"py(for s in d["dropped"]:
    out.append("%s %d  step %d  %s" % ("would drop" if d["dry_run"] else "drop", s["seq"], s["step"], s["id"][:12]))
out.append("%s %d of %d snapshots; %d kept" % ("would drop" if d["dry_run"] else "dropped", len(d["dropped"]), d["snapshots"], d["kept"]))
)py"},
    {"tag", R"py(if "tags" in d:
    out += ["%-20s %d" % (g["name"], g["seq"]) for g in d["tags"]]
elif "tagged" in d:
    out.append("tagged snapshot %d as %s" % (d["tagged"]["seq"], d["tagged"]["name"]))
else:
    out.append("deleted tag %s (was snapshot %d)" % (d["deleted"]["name"], d["deleted"]["seq"]))
)py"},
    {"branch", R"py(for b in d:
    n = b["since_fork"]
    out.append("%s %-20s %-6d %s  step %-8d %d snapshot%s%s" % ("*" if b["mounted"] else " ", b["name"], b["head_seq"],
               b["head_id"][:12] or "(none)      ", b["head_step"], n, "" if n == 1 else "s",
               "" if b["name"] == "main" else " since the fork"))
)py"},
};

class StoreNamingTest : public ::testing::Test {
 protected:
  // Three checkpoint folders saved through a mount (a shared 3 MiB file and
  // a fresh 2 MiB one each), then an edit of one file's last megabyte and a
  // file that becomes a FIFO: 13 snapshots. A tag at step 200, a branch at
  // step 100; everything ingested and re-encoded, so answers stay put.
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store());
    ASSERT_TRUE(mount_->Start());
    const std::string frozen = RandomBytes(1, 3 << 20);
    for (int step : {100, 200, 300}) {
      const std::string d = "checkpoint-" + std::to_string(step);
      ASSERT_EQ(mkdir(mount_->At(d).c_str(), 0755), 0);
      ASSERT_TRUE(WriteFile(mount_->At(d + "/frozen.bin"), frozen));
      ASSERT_TRUE(WriteFile(mount_->At(d + "/model.bin"), RandomBytes(step, 2 << 20)));
    }
    ASSERT_TRUE(WriteFile(mount_->At("checkpoint-100/frozen.bin"), frozen.substr(0, 2 << 20) + RandomBytes(7, 1 << 20)));
    ASSERT_TRUE(WriteFile(mount_->At("checkpoint-300/notes"), "lr 3e-4\n"));
    ASSERT_EQ(unlink(mount_->At("checkpoint-300/notes").c_str()), 0);
    ASSERT_EQ(mkfifo(mount_->At("checkpoint-300/notes").c_str(), 0644), 0);
    ASSERT_EQ(Run("tag best step-200 --store " + Mnt()).code, 0);
    ASSERT_EQ(Run("branch side step-100 --store " + Mnt()).code, 0);
    ASSERT_TRUE(WaitForIngest(Mnt(), dir_.path()));
    CommandResult compact = Run("compact --wait " + Mnt());
    ASSERT_EQ(compact.code, 0) << compact.err;
    ASSERT_EQ(Run("gc " + Mnt()).code, 0);
  }
  CommandResult Run(const std::string& args, const std::string& env = "") { return RunCiuicfs(args, dir_.path(), env); }
  std::string Store() const { return dir_.Sub("store"); }
  std::string Mnt() const { return mount_->path(); }

  // One command of the matrix: `args` holds "{}" where the store goes as the
  // positional argument (none: it takes no positional store, its
  // positionals being refs or names); `reads` also names the store
  // directory; `before` runs (with --store) before each way; `expect` is
  // in every answer.
  struct Row {
    std::string args;
    bool reads;
    std::string expect;
    std::string before = "";
  };
  // The row's answer each way it can be asked, with the way's name.
  std::vector<std::pair<std::string, CommandResult>> EveryWay(const Row& row) {
    auto with = [&](const std::string& store) {
      std::string a = row.args;
      size_t at = a.find("{}");
      return at == std::string::npos ? a : a.replace(at, 2, store);
    };
    struct Way {
      const char* name;
      std::string args, env;
    };
    std::vector<Way> ways;
    if (row.args.find("{}") != std::string::npos) ways.push_back({"positional", with(Mnt()), ""});
    ways.push_back({"--store", with("") + " --store " + Mnt(), ""});
    ways.push_back({"inside the mount", with(""), "cd '" + mount_->At("checkpoint-200") + "' &&"});
    if (row.reads) ways.push_back({"the store directory", with("") + " --store " + Store(), ""});
    std::vector<std::pair<std::string, CommandResult>> answers;
    for (const Way& w : ways) {
      if (!row.before.empty()) {
        EXPECT_EQ(Run(row.before + " --store " + Mnt()).code, 0) << row.before;
      }
      answers.emplace_back(w.name, Run(w.args, w.env));
    }
    return answers;
  }

  // Python's rendering of `command`'s text from `json` (JSON lines with
  // `lines`), or the error it raised; `text` is what the text answer said.
  std::string Render(const std::string& command, const std::string& json, const std::string& text, bool lines = false) {
    const std::string program = dir_.Sub("render.py"), j = dir_.Sub("answer.json"), t = dir_.Sub("answer.txt");
    EXPECT_TRUE(WriteFile(program, std::string(kPrelude) + kRender.at(command) +
                                       "sys.stdout.write(\"\".join(l + \"\\n\" for l in out))\n"));
    EXPECT_TRUE(WriteFile(j, json));
    EXPECT_TRUE(WriteFile(t, text));
    return ShellOutput("/usr/bin/python3 " + program + " " + j + " " + t + (lines ? " lines" : " one") + " 2>&1");
  }
  // `args` and `args --json` (through --store on the mount): the JSON
  // answer renders to the text answer, which is not empty.
  void ExpectJsonSaysTheText(const std::string& args, bool lines = false) {
    CommandResult text = Run(args + " --store " + Mnt());
    CommandResult json = Run(args + " --json --store " + Mnt());
    ASSERT_EQ(text.code, 0) << args << ": " << text.err;
    ASSERT_EQ(json.code, 0) << args << " --json: " << json.err;
    EXPECT_NE(text.out, "") << args;
    EXPECT_EQ(json.err, "") << args;
    EXPECT_EQ(Render(args.substr(0, args.find(' ')), json.out, text.out, lines), text.out) << args << " --json: " << json.out;
  }

  // `ciuicfs ARGS` on a pseudo-terminal (util-linux script): what reached
  // the terminal, stdout and stderr together, its "\r\n" made "\n".
  CommandResult OnATerminal(const std::string& args) {
    const std::string out = dir_.Sub("tty.out");
    CommandResult r;
    int status = system(("script -qec \"" + std::string(CIUICFS_BIN) + " " + args + "\" /dev/null >" + out +
                         " 2>&1 </dev/null").c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = std::regex_replace(ReadFile(out), std::regex("\r\n"), "\n");
    return r;
  }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
};

TEST_F(StoreNamingTest, EveryCommandAnswersTheSameWhereverTheStoreIsNamed) {
  const std::vector<Row> rows = {
      {"log {}", true, "checkpoint-300/model.bin"},
      {"log {} --json", true, "\"seq\":13,"},
      {"log {} --by-step", true, "step 300 ("},
      {"show step-200 {}", true, "step     200"},
      {"show step-200 {} --json", true, "\"step\":200,"},
      {"diff step-200 latest", true, "modified  checkpoint-100/frozen.bin  3145728 -> 3145728 bytes"},
      {"diff step-200 latest checkpoint-300 --json", true, "\"path\":\"checkpoint-300/model.bin\",\"change\":\"added\""},
      {"diff latest~2 latest", true, "modified  checkpoint-300/notes  (now a special file)"},
      {"stats {}", true, "snapshots     13"},
      {"stats {} --json", true, "\"snapshots\":13,"},
      {"verify {}", true, "clean: 13 snapshots"},
      {"verify {} --json", true, "\"clean\":true"},
      {"prune {} --keep-last 2 --dry-run", true, "would drop 8 of 13 snapshots; 5 kept"},
      {"prune {} --keep-last 2 --dry-run --json", true, "\"dry_run\":true,"},
      {"tag", true, "best"},
      {"tag --json", true, "{\"tags\":[{\"name\":\"best\",\"seq\":6}]}"},
      {"branch", false, "side"},  // beside the mount, by its directory, no branch is marked live
      {"branch --json", false, "\"name\":\"side\""},
      {"graph {}", true, "digraph ciuicfs"},
      // Changes, each way through the daemon; each leaves the store as it was.
      {"gc {}", false, "freed 0 bytes (0 B): 0 chunks deleted, 0 packs compacted"},
      {"gc {} --json", false, "\"bytes_freed\":0,"},
      {"compact {} --wait", false, "stored "},
      {"tag best step-200", false, "tagged snapshot 6 as best"},
      {"tag best step-200 --json", false, "\"tagged\":{\"name\":\"best\",\"seq\":6,"},
      {"tag --delete tmp", false, "deleted tag tmp (was snapshot 10)", "tag tmp step-100"},
      {"tag --delete tmp --json", false, "{\"deleted\":{\"name\":\"tmp\",\"seq\":10}}", "tag tmp step-100"},
      {"prune {} --keep-last 100", false, "dropped 0 of 13 snapshots; 13 kept"},
      {"prune {} --keep-last 100 --json", false, "\"dropped\":[],\"snapshots\":13,\"kept\":13"},
  };
  for (const Row& row : rows) {
    auto answers = EveryWay(row);
    ASSERT_GE(answers.size(), 2u);
    const auto& [first_way, first] = answers.front();
    EXPECT_NE(first.out.find(row.expect), std::string::npos) << row.args << " (" << first_way << "): " << first.out;
    for (const auto& [way, r] : answers) {
      EXPECT_EQ(r.code, 0) << row.args << " (" << way << "): " << r.err;
      EXPECT_EQ(r.err, "") << row.args << " (" << way << ")";
      EXPECT_EQ(r.out, first.out) << row.args << ": " << way << " answers otherwise than " << first_way;
    }
  }
  // A change by the store directory is refused while it is mounted, in one line.
  CommandResult refused = Run("gc --store " + Store());
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("in use by a mount"), std::string::npos) << refused.err;
  EXPECT_EQ(CountLines(refused.err), 1) << refused.err;
  // rollback adds a snapshot each time: the same answer but for its number.
  auto rollbacks = EveryWay({"rollback best {}", false, "rolled back to snapshot 6 ("});
  ASSERT_EQ(rollbacks.size(), 3u);
  for (size_t i = 0; i < rollbacks.size(); ++i) {
    const CommandResult& r = rollbacks[i].second;
    EXPECT_EQ(r.code, 0) << rollbacks[i].first << ": " << r.err;
    EXPECT_EQ(std::regex_replace(r.out, std::regex("as snapshot \\d+"), "as snapshot N"),
              std::regex_replace(rollbacks[0].second.out, std::regex("as snapshot \\d+"), "as snapshot N"));
    EXPECT_NE(r.out.find("as snapshot " + std::to_string(14 + i) + "; 0 bytes added"), std::string::npos)
        << rollbacks[i].first << ": " << r.out;
  }
  EXPECT_EQ(Run("diff best latest --store " + Mnt()).out, "no differences\n");
}

TEST_F(StoreNamingTest, JsonCarriesWhatTheTextSays) {
  ExpectJsonSaysTheText("log", true);
  ExpectJsonSaysTheText("log --max 3", true);
  ExpectJsonSaysTheText("show step-200");
  ExpectJsonSaysTheText("show latest");
  ExpectJsonSaysTheText("diff step-200 latest");  // added, modified with chunks, a FIFO added
  ExpectJsonSaysTheText("diff latest~2 latest");  // a file that became a FIFO
  ExpectJsonSaysTheText("diff latest latest");
  ExpectJsonSaysTheText("stats");
  ExpectJsonSaysTheText("verify");
  ExpectJsonSaysTheText("gc");
  ExpectJsonSaysTheText("prune --keep-last 1 --dry-run");
  ExpectJsonSaysTheText("tag");
  ExpectJsonSaysTheText("tag best step-200");
  ExpectJsonSaysTheText("branch", true);
  for (const char* name : {"a", "b"}) ASSERT_EQ(Run(std::string("tag ") + name + " step-100 --store " + Mnt()).code, 0);
  CommandResult deleted = Run("tag --delete a --store " + Mnt());
  CommandResult deleted_json = Run("tag --delete b --json --store " + Mnt());
  ASSERT_EQ(deleted_json.code, 0) << deleted_json.err;
  EXPECT_EQ(Render("tag", deleted_json.out, ""), std::regex_replace(deleted.out, std::regex("tag a "), "tag b "));
  // The diff's numbers are the store's: the edited last megabyte, in the
  // chunks that hold it, not the whole file.
  CommandResult diff = Run("diff step-200 latest checkpoint-100 --json --store " + Mnt());
  std::smatch m;
  const std::string rendered = Render("diff", diff.out, "");
  ASSERT_TRUE(std::regex_match(rendered, m, std::regex("modified  checkpoint-100/frozen\\.bin  3145728 -> 3145728 bytes; "
                                                       "(\\d+) of (\\d+) chunks differ \\((\\d+) bytes\\)\n")))
      << rendered;
  EXPECT_GE(std::stoi(m[1]), 1);
  EXPECT_LT(std::stoi(m[1]), std::stoi(m[2]));
  EXPECT_GE(std::stoull(m[3]), 1u << 20);
  EXPECT_LT(std::stoull(m[3]), 3u << 20);
  // A real prune drops what its dry run said it would, and says so in JSON;
  // gc then frees what only those held.
  CommandResult dry = Run("prune --keep-last 1 --dry-run --store " + Mnt());
  CommandResult pruned = Run("prune --keep-last 1 --json --store " + Mnt());
  ASSERT_EQ(pruned.code, 0) << pruned.err;
  std::string said = std::regex_replace(dry.out, std::regex("would drop (\\d+) of"), "dropped $1 of");
  EXPECT_EQ(Render("prune", pruned.out, ""), std::regex_replace(said, std::regex("would drop"), "drop"));
  EXPECT_EQ(CountLines(Run("log --json --store " + Mnt()).out), 3);  // the head, the tagged one, side's head
  CommandResult gc = Run("gc --json --store " + Mnt());
  ASSERT_EQ(gc.code, 0) << gc.err;
  CommandResult stats = Run("stats --json --store " + Mnt());
  EXPECT_EQ(gc.out.find("\"chunks_deleted\":0,"), std::string::npos) << gc.out;  // the notes file's
  const std::string stored = gc.out.substr(gc.out.find("\"bytes_stored\":") + 15);
  EXPECT_NE(stats.out.find("\"pack_bytes\":" + stored.substr(0, stored.find('}')) + ","), std::string::npos)
      << gc.out << " vs " << stats.out;
  // Errors stay one line on stderr, with nothing on stdout.
  for (const std::string bad : {"diff latest --json", "tag --delete nosuch --json", "prune --json", "show nosuch --json"}) {
    CommandResult r = Run(bad + " --store " + Mnt());
    EXPECT_NE(r.code, 0) << bad;
    EXPECT_EQ(r.out, "") << bad;
    EXPECT_EQ(CountLines(r.err), 1) << bad << ": " << r.err;
  }
}

TEST_F(StoreNamingTest, AProgressLineShowsOnATerminalOnly) {
  if (system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "skipping: util-linux 'script' is not installed";
  // A mounted store's gc runs in its daemon: the terminal gets its answer only.
  CommandResult mounted = OnATerminal("gc " + Mnt());
  EXPECT_EQ(mounted.code, 0) << mounted.out;
  EXPECT_EQ(mounted.out.find('\r'), std::string::npos) << mounted.out;
  EXPECT_EQ(mounted.out.rfind("freed 0 bytes", 0), 0u) << mounted.out;
  // Text compresses, so re-encoding moves it into a pack; the scratch file
  // dropped, that pack is mostly dead and gc copies the kept file's records
  // out of it.
  auto text = [](const std::string& what, int lines) {
    std::string s;
    for (int i = 0; i < lines; ++i) s += what + " line " + std::to_string(i) + "\n";
    return s;
  };
  ASSERT_TRUE(WriteFile(mount_->At("kept.txt"), text("kept", 50000)));
  ASSERT_TRUE(WriteFile(mount_->At("scratch.txt"), text("scratch", 400000)));
  ASSERT_TRUE(WaitForIngest(Mnt(), dir_.path()));
  ASSERT_EQ(Run("compact --wait " + Mnt()).code, 0);
  ASSERT_EQ(unlink(mount_->At("scratch.txt").c_str()), 0);
  mount_->Unmount();
  ASSERT_EQ(Run("prune " + Store() + " --keep-last 1").code, 0);
  ASSERT_EQ(system(("cp -a " + Store() + " " + dir_.Sub("copy")).c_str()), 0);  // the same gc, without a terminal
  const std::regex progress("\r(verify|gc): [^\r\n]* of [^\r\n]* \\(\\d+%\\)"), erased("\r +\r");
  for (const std::string cmd : {"verify", "gc"}) {
    CommandResult tty = OnATerminal(cmd + " " + Store());
    ASSERT_EQ(tty.code, 0) << cmd << ": " << tty.out;
    EXPECT_TRUE(std::regex_search(tty.out, std::regex("\r" + cmd + ": [^\r\n]+ \\(100%\\)"))) << cmd << ": " << tty.out;
    EXPECT_TRUE(std::regex_search(tty.out, erased)) << cmd << ": the line is not erased: " << tty.out;
    const std::string answer = std::regex_replace(std::regex_replace(tty.out, progress, ""), erased, "");
    EXPECT_EQ(answer.find('\r'), std::string::npos) << cmd << ": " << tty.out;
    CommandResult plain = Run(cmd + " " + (cmd == "gc" ? dir_.Sub("copy") : Store()));
    ASSERT_EQ(plain.code, 0) << cmd << ": " << plain.err;
    EXPECT_EQ(plain.err, "") << cmd;
    EXPECT_EQ(plain.out, answer) << cmd;
    EXPECT_TRUE(std::regex_search(plain.out, std::regex(cmd == "gc" ? " [1-9][0-9]* packs compacted" : "^clean: ")))
        << plain.out;
  }
  // stderr on the terminal, stdout in a file: the JSON answer has no
  // progress in it; the terminal has nothing else.
  const std::string json = dir_.Sub("verify.json");
  CommandResult split = OnATerminal("verify " + Store() + " --json >" + json);
  ASSERT_EQ(split.code, 0) << split.out;
  EXPECT_TRUE(std::regex_search(split.out, progress)) << split.out;
  EXPECT_EQ(std::regex_replace(std::regex_replace(split.out, progress, ""), erased, ""), "");
  EXPECT_EQ(ReadFile(json), Run("verify " + Store() + " --json").out);
  EXPECT_EQ(ReadFile(json).find('\r'), std::string::npos);
}

}  // namespace
}  // namespace ciuicfs
