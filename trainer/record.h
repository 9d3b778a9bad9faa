// The training record: what a checkpoint's trainer_state.json says beside
// the step and the loss — the loss history, the environment the run had
// (versions, device, build, argv, every hyperparameter) and the probe loss —
// and the checks --resume makes against it. The caller computes the losses;
// this file only records and compares them, and needs no LibTorch.
// trainer/README.md documents the fields and the rules.
#ifndef CIUICFS_TRAINER_RECORD_H_
#define CIUICFS_TRAINER_RECORD_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "gpt_config.h"
#include "options.h"

namespace ciuic {

// Keys in the order they are added: trainer_state.json reads top-down.
using Json = nlohmann::ordered_json;

// "%a": the exact bits of `v` as text.
std::string HexFloat(double v);
// FNV-1a, 64 bits, as "0x%016llx": a stable digest of data bytes.
std::string Fnv1a64(const std::string& bytes);

// The training bytes: where they came from, how many, and their digest.
struct DataFacts {
  std::string path;  // "" for the generated corpus
  uint64_t bytes = 0;
  std::string fnv1a64;
};

// What the run executes on, gathered by the caller (it knows LibTorch).
struct Platform {
  std::string libtorch;  // TORCH_VERSION
  std::string cuda;      // the CUDA runtime the binary was built with; "" when none
  std::string device;    // "cpu" or the CUDA device's name
  int64_t threads = 0;   // at::get_num_threads()
};

// The revision of the tree the binary was built from (build_info.cc).
extern const char kTrainerBuildId[];

// "environment": libtorch, cuda (null without), device, threads, build_id,
// argv and "hyperparameters" (every setting that affects training).
Json EnvironmentRecord(const Options& o, const GptConfig& c, const DataFacts& data, const Platform& platform,
                       bool cuda);

// "resume_check": the probe batch's loss on the model as saved, with what it
// was computed on. `probe_digest` names the probe's bytes.
Json ResumeCheckRecord(double probe_loss, int64_t probe_windows, const std::string& probe_digest,
                       const Platform& platform);

// "log_history": one object per logged, evaluated or saved step, Hugging
// Face Trainer style; it is carried across resumes.
class LogHistory {
 public:
  // Takes a checkpoint's entries up to its `step` (none in an old record).
  void Load(const Json& state, int64_t step);
  void Record(int64_t step, double epoch, double learning_rate, double loss, std::optional<double> grad_norm);
  // Adds eval_loss to the entry of `step` (Record it first).
  void RecordEval(int64_t step, double eval_loss);
  const Json& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  Json entries_ = Json::array();
};

// The facts trainer_state.json starts with (the fields it always had).
struct StateHead {
  int64_t step = 0, epoch = 0, cursor = 0;
  double loss = 0;
};
Json TrainerState(const StateHead& head, const Options& o, const GptConfig& c, const LogHistory& history,
                  const Json& environment, const Json& resume_check);

// Parses DIR/trainer_state.json; Dies if it is not JSON.
Json ReadTrainerState(const std::filesystem::path& dir);

// Prints one "resume: ..." line per hyperparameter or environment field in
// which the checkpoint's record differs from `now`. Dies if a trajectory
// hyperparameter differs, unless `allow_changed`.
void CompareEnvironments(const Json& checkpoint_state, const Json& now, bool allow_changed);

// Compares the loaded model's probe loss with the recorded one: bit for bit
// when device, LibTorch and (on CPU) thread count are the checkpoint's,
// within a relative tolerance otherwise. Prints the outcome; Dies when it
// does not match.
void CheckProbeLoss(const Json& checkpoint_state, const Json& now_check);

}  // namespace ciuic

#endif  // CIUICFS_TRAINER_RECORD_H_
