// The training record (store/record/README.md): metrics and notes a trainer
// leaves in its trainer_state.json (Hugging Face's shape) and in
// user.ciuic.* xattrs show in `log` and `show`, and best-METRIC names the
// snapshot with the lowest (or, best-max-, highest) value, as a REF and as
// @best-METRIC/ in the mount.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdio>
#include <map>
#include <string>

#include "store/record/training_record.h"
#include "tests/fs/mount_fixture.h"

namespace ciuicfs::testing {
namespace {

class RecordTest : public MountedTest {
 protected:
  // checkpoint-STEP/ as the HF Trainer writes it: the weights, then
  // trainer_state.json whose log_history holds a loss every 10 steps and an
  // eval_loss at every save.
  void SaveCheckpoint(int step, const std::map<int, double>& eval_losses) {
    const std::string dir = "checkpoint-" + std::to_string(step);
    ASSERT_EQ(mkdir(M(dir).c_str(), 0755), 0);
    weights_[step] = RandomBytes(step, 300000);
    ASSERT_TRUE(WriteFile(M(dir + "/model.safetensors"), weights_[step]));
    std::string history;
    for (int s = 10; s <= step; s += 10) {
      char item[160];
      std::snprintf(item, sizeof(item), "%s{\"epoch\": %.2f, \"learning_rate\": 5e-05, \"loss\": %.4f, \"step\": %d}",
                    history.empty() ? "" : ", ", s / 100.0, 3.0 - s / 1000.0, s);
      history += item;
      if (eval_losses.count(s)) {
        std::snprintf(item, sizeof(item), ", {\"epoch\": %.2f, \"eval_loss\": %.4f, \"eval_runtime\": 1.5, \"step\": %d}",
                      s / 100.0, eval_losses.at(s), s);
        history += item;
      }
    }
    ASSERT_TRUE(WriteFile(M(dir + "/trainer_state.json"),
                          "{\"best_metric\": null, \"global_step\": " + std::to_string(step) +
                              ", \"log_history\": [" + history + "], \"max_steps\": 1000}\n"));
  }
  // `expr` over the JSON lines of `ciuicfs log --json` (as list L), in Python.
  std::string LogQuery(const std::string& expr) {
    CommandResult log = RunCiuicfs("log '" + M("") + "' --json", dir_.path());
    EXPECT_EQ(log.code, 0) << log.err;
    return PythonOverJson(log.out, expr, dir_.path(), /*lines=*/true);
  }
  std::map<int, std::string> weights_;
};

TEST_F(RecordTest, TrainerStateAndXattrsAreTheRecordAndBestPicksTheLowest) {
  const std::map<int, double> eval = {{100, 2.5}, {200, 2.1}, {300, 2.3}};
  for (int step : {100, 200, 300}) SaveCheckpoint(step, eval);
  // Set after close, on the saved file: each is a snapshot of its own.
  const std::map<int, std::string> accuracy = {{100, "0.80"}, {200, "0.93"}, {300, "0.90"}};
  for (auto& [step, value] : accuracy) {
    const std::string f = M("checkpoint-" + std::to_string(step) + "/model.safetensors");
    ASSERT_EQ(setxattr(f.c_str(), "user.ciuic.accuracy", value.data(), value.size(), 0), 0);
  }
  const std::string note = "lr sweep, run a";
  ASSERT_EQ(setxattr(M("checkpoint-300/model.safetensors").c_str(), "user.ciuic.note", note.data(), note.size(), 0), 0);

  // The trainer_state.json snapshots carry the log_history entries of their
  // step, merged; the xattr snapshots their values.
  EXPECT_EQ(LogQuery("sorted((d[\"step\"], d[\"metrics\"][\"eval_loss\"], d[\"metrics\"][\"loss\"], "
                     "d[\"metrics\"][\"learning_rate\"]) for d in L if \"eval_loss\" in d[\"metrics\"])"),
            "[(100, 2.5, 2.9, 5e-05), (200, 2.1, 2.8, 5e-05), (300, 2.3, 2.7, 5e-05)]\n");
  // (The note's snapshot names the same file again, so its accuracy too.)
  EXPECT_EQ(LogQuery("sorted((d[\"step\"], d[\"metrics\"][\"accuracy\"]) for d in L if \"accuracy\" in d[\"metrics\"])"),
            "[(100, 0.8), (200, 0.93), (300, 0.9), (300, 0.9)]\n");
  EXPECT_EQ(LogQuery("[d[\"notes\"] for d in L if d[\"notes\"]]"), "[{'note': 'lr sweep, run a'}]\n");
  EXPECT_EQ(LogQuery("sum(1 for d in L if \"step\" in d[\"metrics\"] or \"eval_runtime\" not in d[\"metrics\"] "
                     "and \"eval_loss\" in d[\"metrics\"])"),
            "0\n");
  CommandResult text = RunCiuicfs("log '" + M("") + "'", dir_.path());
  EXPECT_NE(text.out.find("+checkpoint-200/trainer_state.json epoch=2 eval_loss=2.1 eval_runtime=1.5 learning_rate=5e-05 loss=2.8"),
            std::string::npos)
      << text.out;

  // best-eval_loss: the snapshot that saved step 200's trainer_state.json,
  // whose tree holds checkpoint-200 whole and not yet checkpoint-300.
  EXPECT_EQ(Diff(ReadFile(M("@best-eval_loss/checkpoint-200/model.safetensors")), weights_[200]), "same");
  EXPECT_FALSE(PathExists(M("@best-eval_loss/checkpoint-300")));
  CommandResult show = RunCiuicfs("show best-eval_loss '" + M("") + "'", dir_.path());
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("step     200\n"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("eval_loss=2.1"), std::string::npos) << show.out;
  CommandResult most = RunCiuicfs("show best-max-accuracy '" + M("") + "' --json", dir_.path());
  ASSERT_EQ(most.code, 0) << most.err;
  EXPECT_NE(most.out.find("\"step\":200,"), std::string::npos) << most.out;
  EXPECT_NE(most.out.find("\"metrics\":{\"accuracy\":0.93000000000000005}"), std::string::npos) << most.out;
  EXPECT_EQ(Diff(ReadFile(M("@best-max-accuracy/checkpoint-200/model.safetensors")), weights_[200]), "same");
  // A diff between two REFs of that kind works like any other.
  CommandResult diff = RunCiuicfs("diff best-eval_loss best-max-accuracy --store '" + M("") + "'", dir_.path());
  EXPECT_EQ(diff.code, 0) << diff.err;

  // A better save later moves best-eval_loss (no stale kernel entry).
  SaveCheckpoint(400, {{100, 2.5}, {200, 2.1}, {300, 2.3}, {400, 1.9}});
  EXPECT_EQ(Diff(ReadFile(M("@best-eval_loss/checkpoint-400/model.safetensors")), weights_[400]), "same");
  EXPECT_NE(RunCiuicfs("show best-eval_loss '" + M("") + "'", dir_.path()).out.find("step     400\n"),
            std::string::npos);

  // A metric no snapshot has, an empty name, a tag in best-'s names.
  CommandResult none = RunCiuicfs("show best-bleu '" + M("") + "'", dir_.path());
  EXPECT_EQ(none.code, 1);
  EXPECT_EQ(CountLines(none.err), 1) << none.err;
  EXPECT_NE(none.err.find("bleu"), std::string::npos) << none.err;
  EXPECT_EQ(RunCiuicfs("show best- '" + M("") + "'", dir_.path()).code, 2);
  EXPECT_FALSE(PathExists(M("@best-bleu")));
  CommandResult tag = RunCiuicfs("tag best-run latest --store '" + M("") + "'", dir_.path());
  EXPECT_EQ(tag.code, 2) << tag.err;

  // The record survives a remount (it is read from the files, not kept).
  Remount();
  EXPECT_NE(RunCiuicfs("show best-eval_loss '" + M("") + "'", dir_.path()).out.find("step     400\n"),
            std::string::npos);
}

// A trainer_state.json that is not JSON, or has no log_history, or none at
// the step, records nothing and breaks nothing.
TEST_F(RecordTest, AForeignTrainerStateRecordsNothing) {
  ASSERT_EQ(mkdir(M("checkpoint-5").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("checkpoint-5/trainer_state.json"), "{not json"));
  ASSERT_EQ(mkdir(M("checkpoint-6").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("checkpoint-6/trainer_state.json"), "{\"log_history\": [{\"step\": 7, \"loss\": 1}]}"));
  CommandResult log = RunCiuicfs("log '" + M("") + "' --json", dir_.path());
  ASSERT_EQ(log.code, 0) << log.err;
  EXPECT_EQ(log.err, "");
  EXPECT_EQ(log.out.find("\"metrics\":{\""), std::string::npos) << log.out;
  EXPECT_EQ(RunCiuicfs("show best-loss '" + M("") + "'", dir_.path()).code, 1);
}

// The rules, on the parsers alone.
TEST(RecordRulesTest, NumbersAreMetricsAndTheRestNotes) {
  SnapshotRecord r;
  TrainingRecords::FromXattr("user.ciuic.loss", "2.5", &r);
  TrainingRecords::FromXattr("user.ciuic.lr", "1e-4", &r);
  TrainingRecords::FromXattr("user.ciuic.run", "2.5x", &r);
  TrainingRecords::FromXattr("user.ciuic.inf", "inf", &r);
  TrainingRecords::FromXattr("user.ciuic.step", "10", &r);
  TrainingRecords::FromXattr("user.other", "1", &r);
  EXPECT_EQ(r.metrics, (std::map<std::string, double>{{"loss", 2.5}, {"lr", 1e-4}}));
  EXPECT_EQ(r.notes, (std::map<std::string, std::string>{{"inf", "inf"}, {"run", "2.5x"}}));
  SnapshotRecord t;
  TrainingRecords::FromTrainerState(
      R"({"log_history": [{"step": 10, "loss": 3, "flag": true, "name": "x"}, {"step": 20, "loss": 2},
                          {"step": 10, "loss": 2.75, "eval_loss": 3.5}]})",
      10, &t);
  EXPECT_EQ(t.metrics, (std::map<std::string, double>{{"eval_loss", 3.5}, {"loss", 2.75}}));
}

}  // namespace
}  // namespace ciuicfs::testing
