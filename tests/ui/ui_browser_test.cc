// ciuicfs ui in a real browser (fs/ui/README.md): a store filled through a
// real mount with Hugging Face shaped checkpoints (trainer_state.json
// log_history with loss and eval_loss), a branch that forks and a
// rollback; headless chromium (browser.py) shows the chain, the metric
// curves and the bytes exactly as `log --json`, `show --json` and
// `stats --json` say, downloads a saved file bit-exactly, tags through the
// page (run by the mount's daemon) and diffs.
#include <cstdio>
#include <tuple>

#include "tests/ui/ui_fixture.h"

namespace ciuicfs::testing {
namespace {

// A metric curve's points: (metric, step, snapshot seq, value).
using Points = std::set<std::tuple<std::string, int64_t, uint64_t, double>>;

Points ShownPoints(const json& page) {
  Points points;
  for (const json& p : page["points"])
    points.insert({p["metric"], p["step"].get<int64_t>(), p["seq"].get<uint64_t>(), p["value"].get<double>()});
  return points;
}

// What the curves of loss and eval_loss must show: per metric and step the
// newest snapshot's value, exactly the record `log --json` prints.
Points WantPoints(const std::map<uint64_t, json>& log) {
  std::map<std::pair<std::string, int64_t>, std::pair<uint64_t, double>> newest;
  for (auto& [seq, j] : log)
    for (const char* m : {"loss", "eval_loss"})
      if (j["metrics"].contains(m)) newest[{m, j["step"].get<int64_t>()}] = {seq, j["metrics"][m].get<double>()};
  Points want;
  for (auto& [key, v] : newest) want.insert({key.first, key.second, v.first, v.second});
  return want;
}

TEST_F(UiTest, TheBrowserShowsTheChainMetricsAndBytesAsTheCommandsDoAndDownloadsAFile) {
  if (system("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "skipping: chromium is not installed";
  ASSERT_NO_FATAL_FAILURE(Fill());
  const std::map<uint64_t, json> log = Log();
  ASSERT_GE(log.size(), 15u);
  const json best = CliJson("show best-eval_loss '" + M("") + "' --json");  // step 200's save of trainer_state.json
  ASSERT_EQ(best["step"], 200);
  const json first = CliJson("show step-100 '" + M("") + "' --json");
  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "'" + M("") + "'")) << ui.printed() << ReadFile(dir_.Sub("ui.log"));
  EXPECT_EQ(ui.url.rfind("http://127.0.0.1:", 0), 0u) << ui.url;
  EXPECT_GE(ui.token.size(), 32u);  // >= 128 bits in hex

  const std::string out = dir_.Sub("browser");
  const char* copy = std::getenv("CIUICFS_UI_SCREENSHOT");  // to refresh fs/ui/screenshot.png
  const std::string args = "--select " + std::to_string(best["seq"].get<uint64_t>()) +
                           " --file checkpoint-200/model.safetensors --tag picked --diff " +
                           first["id"].get<std::string>() + " " + best["id"].get<std::string>() +
                           (copy && *copy ? std::string(" --screenshot-copy '") + copy + "'" : "");
  json page;
  std::string err;
  ASSERT_TRUE(Browse(ui.url, out, args, &page, &err)) << err;

  // The token left the address bar, and the cookie that replaced it is not
  // script-readable.
  EXPECT_EQ(page["url_after_load"].get<std::string>().find("token"), std::string::npos) << page["url_after_load"];
  EXPECT_EQ(page["cookie_visible_to_js"], "");

  // The graph: one node per snapshot, the same ones; a fork, a rollback;
  // both branch heads and the tag named.
  std::set<std::pair<uint64_t, std::string>> nodes, want_nodes;
  for (const json& n : page["nodes"]) nodes.insert({n["seq"].get<uint64_t>(), n["id"].get<std::string>()});
  for (auto& [seq, j] : log) want_nodes.insert({seq, j["id"].get<std::string>()});
  EXPECT_EQ(nodes, want_nodes);
  std::set<std::string> kinds;
  for (const json& e : page["edges"]) kinds.insert(e["kind"].get<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"parent", "fork", "rollback"}));
  std::set<std::string> heads;
  for (const json& h : page["heads"]) heads.insert(h.get<std::string>());
  EXPECT_EQ(heads, (std::set<std::string>{"⎇ main", "⎇ exp"}));

  // The curves: loss and eval_loss chosen; per metric and step the newest
  // snapshot's value, exactly the record `log --json` prints.
  const Points want_points = WantPoints(log);
  EXPECT_GE(want_points.size(), 8u);  // loss at 100, 200, 250, 300 and eval_loss at each
  EXPECT_EQ(ShownPoints(page), want_points);
  EXPECT_EQ(std::set<std::string>(page["curves"].begin(), page["curves"].end()),
            (std::set<std::string>{"loss", "eval_loss"}));

  // The bytes: totals as `stats --json` says, each snapshot's as `show`
  // and `log` say, and their sums. New after dedup: every save's bytes but
  // frozen.bin's after the first (the same bytes in every checkpoint), and
  // all of them together what `stats` counts after dedup.
  const json stats = CliJson("stats --json '" + M("") + "'");
  EXPECT_EQ(page["totals"]["snapshots"], log.size());
  EXPECT_EQ(page["totals"]["raw_bytes"], stats["raw_bytes"]);
  EXPECT_EQ(page["totals"]["unique_bytes"], stats["unique_bytes"]);
  EXPECT_EQ(page["totals"]["stored_bytes"], stats["stored_bytes"]);
  uint64_t added = 0, saved = 0, fresh = 0;
  bool frozen_seen = false;
  std::map<uint64_t, std::vector<uint64_t>> table;
  for (const json& row : page["table"]) table[row["seq"].get<uint64_t>()] = row["bytes"].get<std::vector<uint64_t>>();
  ASSERT_EQ(table.size(), log.size());
  for (auto& [seq, j] : log) {
    uint64_t put = 0, put_new = 0;
    for (const json& c : j["changes"]) {
      if (c["kind"] != "put") continue;
      const uint64_t size = c["size"].get<uint64_t>();
      put += size;
      const bool frozen = c["path"].get<std::string>().ends_with("/frozen.bin");
      if (!(frozen && frozen_seen)) put_new += size;
      frozen_seen |= frozen && size > 0;
    }
    added += j["bytes_added"].get<uint64_t>();
    saved += put;
    fresh += put_new;
    const json show = CliJson("show " + j["id"].get<std::string>() + " '" + M("") + "' --json");
    // in files, saved, new, added, saved summed, new summed
    EXPECT_EQ(table[seq], (std::vector<uint64_t>{show["bytes_in_files"].get<uint64_t>(), put, put_new,
                                                 j["bytes_added"].get<uint64_t>(), saved, fresh}))
        << "snapshot " << seq;
  }
  EXPECT_EQ(page["totals"]["added_bytes"], added);
  EXPECT_EQ(page["cumulative"]["added"], fresh);
  EXPECT_EQ(page["cumulative"]["saved"], saved);
  EXPECT_EQ(saved, stats["raw_bytes"].get<uint64_t>());  // the two ways of counting agree
  EXPECT_EQ(fresh, stats["unique_bytes"].get<uint64_t>());
  EXPECT_LT(fresh, saved);
  EXPECT_EQ(page["bars"], 2 * log.size());

  // The snapshot clicked, its file clicked: the bytes that were saved.
  EXPECT_EQ(page["selected_bytes_in_files"], best["bytes_in_files"]);
  ASSERT_TRUE(page.contains("download")) << err;
  EXPECT_EQ(page["download"]["name"], "model.safetensors");
  EXPECT_EQ(Diff(ReadFile(page["download"]["path"].get<std::string>()), weights_[200]), "same");

  // The tag made through the page, by the mount's daemon.
  EXPECT_NE(page["tag_status"].get<std::string>().find("done"), std::string::npos) << page["tag_status"];
  const json tags = CliJson("tag --json --store '" + M("") + "'");
  EXPECT_EQ(tags["tags"], json::parse("[{\"name\":\"picked\",\"seq\":" + std::to_string(best["seq"].get<uint64_t>()) + "}]"));

  // The diff shown is `diff --json`'s.
  const json diff = CliJson("diff " + first["id"].get<std::string>() + " " + best["id"].get<std::string>() + " --json --store '" + M("") + "'");
  std::vector<std::pair<std::string, std::string>> shown, want_diff;
  for (const json& r : page["diff"]) shown.push_back({r["path"], r["change"]});
  for (const json& c : diff["changes"]) want_diff.push_back({c["path"], c["change"]});
  EXPECT_FALSE(want_diff.empty());
  EXPECT_EQ(shown, want_diff);

  // Screenshots, as PNG files.
  for (const char* png : {"page.png", "snapshot.png"}) {
    const std::string bytes = ReadFile(out + "/" + png);
    EXPECT_GT(bytes.size(), 10000u) << png;
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
  }
  EXPECT_EQ(ui.Stop(), 0) << ReadFile(dir_.Sub("ui.log"));
  EXPECT_NE(ui.printed().find("ui stopped"), std::string::npos) << ui.printed();
}

// A store the bundled trainer filled (CPU, the tiny preset, a checkpoint
// every 10 steps into the mount): the page shows its snapshots, the loss
// and eval_loss the trainer recorded, the bytes `stats` counts, and a
// checkpoint file clicked downloads as saved.
TEST_F(UiTest, TheBrowserShowsAStoreTheBundledTrainerFilled) {
#ifndef CIUIC_TRAIN_BIN
  GTEST_SKIP() << "skipping: the bundled trainer is not built here (no LibTorch)";
#else
  if (system("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "skipping: chromium is not installed";
  const std::string train = std::string("OMP_NUM_THREADS=1 ") + CIUIC_TRAIN_BIN +
                            " --preset tiny --batch 4 --steps 40 --log-every 5 --save-every 10 --ckpt-dir '" +
                            M("run") + "' 2>&1";
  int code = 0;
  const std::string trained = ShellOutput(train, &code);
  ASSERT_EQ(code, 0) << trained;
  ASSERT_TRUE(WaitForIngest(M(""), dir_.path()));
  const std::map<uint64_t, json> log = Log();
  ASSERT_GE(log.size(), 4u);  // at least one snapshot per checkpoint
  const json best = CliJson("show best-eval_loss '" + M("") + "' --json");
  ASSERT_TRUE(best.contains("step")) << best;
  char file[64];
  std::snprintf(file, sizeof(file), "run/step_%08d/model.pt", best["step"].get<int>());
  const std::string saved = ReadFile(M(file));
  ASSERT_FALSE(saved.empty()) << file;

  UiProcess ui;
  ASSERT_TRUE(StartUi(&ui, "'" + M("") + "'")) << ui.printed() << ReadFile(dir_.Sub("ui.log"));
  const std::string out = dir_.Sub("browser");
  json page;
  std::string err;
  ASSERT_TRUE(Browse(ui.url, out,
                     "--select " + std::to_string(best["seq"].get<uint64_t>()) + " --file " + file, &page, &err))
      << err;
  std::set<uint64_t> nodes, want_nodes;
  for (const json& n : page["nodes"]) nodes.insert(n["seq"].get<uint64_t>());
  for (auto& [seq, j] : log) want_nodes.insert(seq);
  EXPECT_EQ(nodes, want_nodes);
  const Points want_points = WantPoints(log);
  std::set<std::string> metrics;
  for (auto& [metric, step, seq, value] : want_points) metrics.insert(metric);
  EXPECT_EQ(metrics, (std::set<std::string>{"loss", "eval_loss"}));  // the trainer records both
  EXPECT_EQ(ShownPoints(page), want_points);
  const json stats = CliJson("stats --json '" + M("") + "'");
  EXPECT_EQ(page["totals"]["snapshots"], log.size());
  EXPECT_EQ(page["totals"]["raw_bytes"], stats["raw_bytes"]);
  EXPECT_EQ(page["totals"]["stored_bytes"], stats["stored_bytes"]);
  ASSERT_TRUE(page.contains("download")) << err;
  EXPECT_EQ(page["download"]["name"], "model.pt");
  EXPECT_EQ(Diff(ReadFile(page["download"]["path"].get<std::string>()), saved), "same");
  EXPECT_EQ(ui.Stop(), 0) << ReadFile(dir_.Sub("ui.log"));
#endif
}

}  // namespace
}  // namespace ciuicfs::testing
