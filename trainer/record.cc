#include "record.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

namespace ciuic {
namespace {

// Hyperparameters that do not change what a step computes: a resume may
// change them freely (each difference is still printed). `steps` changes
// the cosine schedule's length from the resume point on, as extending a run
// must; `data_path` may move as long as the bytes (data_fnv1a64) stay.
// Every other hyperparameter is a trajectory hyperparameter.
const std::set<std::string> kFreeHyperparameters = {"steps", "save_every", "keep", "eval_every", "log_every",
                                                    "data_path"};
// Environment fields compared at resume; differences are warnings.
const char* const kEnvironmentFields[] = {"libtorch", "cuda", "device", "threads", "build_id"};
// The probe loss may differ this much (relative) when it was recorded on
// another device, LibTorch or thread count: kernels differ, so bits do not
// match. The fp32 probe of the tiny and small presets lies 2e-8 and 5e-8
// from its float64 value; another device's fp32 rounding is of that order,
// and 1e-5 leaves a wide margin. Doubling 16 of one matrix's 16384 weights
// moves it 1e-4 (tests/trainer/record_test).
constexpr double kProbeTolerance = 1e-5;

std::string Show(const Json* v) {
  if (!v) return "(not recorded)";
  if (v->is_null()) return "none";
  if (v->is_number_float()) return HexFloat(v->get<double>());
  if (v->is_string()) return v->get<std::string>();
  return v->dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* Find(const Json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool Same(const Json* a, const Json* b) {
  if (!a || !b) return a == b;
  if (a->is_number() && b->is_number()) return a->get<double>() == b->get<double>();
  return *a == *b;
}

double ParseHex(const Json* v) {
  if (!v || !v->is_string()) return std::nan("");
  return std::strtod(v->get<std::string>().c_str(), nullptr);
}

std::string Sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0e", v);
  return buf;
}

std::string Describe(const Json& check) {
  const Json* threads = Find(check, "threads");
  return Show(Find(check, "device")) + ", libtorch " + Show(Find(check, "libtorch")) + ", " + Show(threads) +
         " threads";
}

}  // namespace

std::string HexFloat(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

std::string Fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)h);
  return buf;
}

Json EnvironmentRecord(const Options& o, const GptConfig& c, const DataFacts& data, const Platform& platform,
                       bool cuda) {
  Json h;
  h["preset"] = o.preset;
  h["vocab"] = c.vocab;
  h["context"] = c.context;
  h["width"] = c.width;
  h["heads"] = c.heads;
  h["layers"] = c.layers;
  h["seed"] = o.seed;
  h["lr"] = o.lr;
  h["min_lr_ratio"] = o.min_lr_ratio;
  h["warmup"] = o.warmup;
  h["steps"] = o.steps;
  h["batch"] = o.batch;
  h["accum"] = o.accum;
  h["weight_decay"] = o.weight_decay;
  h["adam_betas"] = {0.9, 0.95};
  h["grad_clip"] = o.clip;
  h["freeze_layers"] = o.freeze;
  h["bf16"] = o.bf16 && cuda;  // autocast runs on CUDA only
  h["data_path"] = data.path.empty() ? Json() : Json(data.path);
  h["data_bytes"] = data.bytes;
  h["data_fnv1a64"] = data.fnv1a64;
  h["save_every"] = o.save_every;
  h["keep"] = o.keep;
  h["eval_every"] = o.eval_every;
  h["log_every"] = o.log_every;

  Json env;
  env["libtorch"] = platform.libtorch;
  env["cuda"] = platform.cuda.empty() ? Json() : Json(platform.cuda);
  env["device"] = platform.device;
  env["threads"] = platform.threads;
  env["build_id"] = std::string(kTrainerBuildId);
  env["argv"] = o.argv;
  env["hyperparameters"] = std::move(h);
  return env;
}

Json ResumeCheckRecord(double probe_loss, int64_t probe_windows, const std::string& probe_digest,
                       const Platform& platform) {
  Json r;
  r["probe_windows"] = probe_windows;
  r["probe_fnv1a64"] = probe_digest;
  r["loss"] = probe_loss;
  r["loss_hex"] = HexFloat(probe_loss);
  r["device"] = platform.device;
  r["libtorch"] = platform.libtorch;
  r["threads"] = platform.threads;
  return r;
}

void LogHistory::Load(const Json& state, int64_t step) {
  entries_ = Json::array();
  const Json* old = Find(state, "log_history");
  if (!old || !old->is_array()) return;
  for (const Json& e : *old) {
    const Json* s = Find(e, "step");
    if (s && s->is_number_integer() && s->get<int64_t>() <= step) entries_.push_back(e);
  }
}

void LogHistory::Record(int64_t step, double epoch, double learning_rate, double loss,
                        std::optional<double> grad_norm) {
  if (!entries_.empty() && entries_.back().value("step", int64_t(-1)) == step) return;
  Json e;
  e["step"] = step;
  e["epoch"] = epoch;
  e["learning_rate"] = learning_rate;
  e["loss"] = loss;
  e["loss_hex"] = HexFloat(loss);
  if (grad_norm) e["grad_norm"] = *grad_norm;
  entries_.push_back(std::move(e));
}

void LogHistory::RecordEval(int64_t step, double eval_loss) {
  if (entries_.empty() || entries_.back().value("step", int64_t(-1)) != step) return;
  entries_.back()["eval_loss"] = eval_loss;
  entries_.back()["eval_loss_hex"] = HexFloat(eval_loss);
}

Json TrainerState(const StateHead& head, const Options& o, const GptConfig& c, const LogHistory& history,
                  const Json& environment, const Json& resume_check) {
  Json s;
  s["step"] = head.step;
  s["loss"] = head.loss;
  s["loss_hex"] = HexFloat(head.loss);
  s["epoch"] = head.epoch;
  s["cursor"] = head.cursor;
  s["preset"] = o.preset;
  s["seed"] = o.seed;
  s["lr"] = o.lr;
  s["steps"] = o.steps;
  s["batch"] = o.batch;
  s["accum"] = o.accum;
  s["freeze_layers"] = o.freeze;
  s["width"] = c.width;
  s["layers"] = c.layers;
  s["log_history"] = history.entries();
  s["environment"] = environment;
  s["resume_check"] = resume_check;
  return s;
}

Json ReadTrainerState(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "trainer_state.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("resume: cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Json state = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded() || !state.is_object()) Die("resume: " + path.string() + " is not a JSON object");
  return state;
}

void CompareEnvironments(const Json& checkpoint_state, const Json& now, bool allow_changed) {
  const Json* then = Find(checkpoint_state, "environment");
  if (!then) {
    std::printf("resume: warning: the checkpoint records no environment (an older ciuic-train): nothing compared\n");
    return;
  }
  for (const char* key : kEnvironmentFields) {
    const Json *a = Find(*then, key), *b = Find(now, key);
    if (!Same(a, b))
      std::printf("resume: warning: %s differs: checkpoint %s, now %s\n", key, Show(a).c_str(), Show(b).c_str());
  }
  const Json empty = Json::object();
  const Json* th = Find(*then, "hyperparameters");
  const Json* nh = Find(now, "hyperparameters");
  if (!th) th = &empty;
  if (!nh) nh = &empty;
  std::vector<std::string> keys;  // now's order, then any only the checkpoint has
  for (auto& [k, v] : nh->items()) keys.push_back(k);
  for (auto& [k, v] : th->items())
    if (!Find(*nh, k)) keys.push_back(k);
  std::string changed;
  for (const std::string& key : keys) {
    const Json *a = Find(*th, key), *b = Find(*nh, key);
    if (Same(a, b)) continue;
    std::printf("resume: %s differs: checkpoint %s, now %s\n", key.c_str(), Show(a).c_str(), Show(b).c_str());
    if (!kFreeHyperparameters.count(key)) changed += (changed.empty() ? "" : ", ") + key;
  }
  std::fflush(stdout);
  if (changed.empty()) return;
  if (!allow_changed)
    Die("resume: trajectory hyperparameters differ from the checkpoint's: " + changed +
        " (--allow-changed-hparams resumes anyway)");
  std::printf("resume: warning: continuing with changed trajectory hyperparameters (--allow-changed-hparams): %s\n",
              changed.c_str());
}

void CheckProbeLoss(const Json& checkpoint_state, const Json& now_check) {
  const Json* then = Find(checkpoint_state, "resume_check");
  if (!then || !then->is_object()) {
    std::printf("resume: check skipped: the checkpoint records no probe loss (an older ciuic-train)\n");
    return;
  }
  if (!Same(Find(*then, "probe_fnv1a64"), Find(now_check, "probe_fnv1a64")) ||
      !Same(Find(*then, "probe_windows"), Find(now_check, "probe_windows"))) {
    std::printf("resume: check skipped: the probe windows' bytes differ from the checkpoint's (other data)\n");
    return;
  }
  const double recorded = ParseHex(Find(*then, "loss_hex")), now = ParseHex(Find(now_check, "loss_hex"));
  const std::string rec_hex = Show(Find(*then, "loss_hex")), now_hex = HexFloat(now);
  const bool cpu = Show(Find(now_check, "device")) == "cpu";
  const bool same_platform = Same(Find(*then, "device"), Find(now_check, "device")) &&
                             Same(Find(*then, "libtorch"), Find(now_check, "libtorch")) &&
                             (!cpu || Same(Find(*then, "threads"), Find(now_check, "threads")));
  if (same_platform) {
    if (std::bit_cast<uint64_t>(recorded) != std::bit_cast<uint64_t>(now))
      Die("resume: the loaded model's probe loss " + now_hex + " differs from the recorded " + rec_hex +
          ": the checkpoint is damaged or was not written by this model");
    std::printf("resume: check passed: the loaded model's probe loss %s equals the recorded one bit for bit (%s)\n",
                now_hex.c_str(), Describe(now_check).c_str());
    return;
  }
  const double rel = std::fabs(now - recorded) / std::max(std::fabs(recorded), 1e-30);
  if (!(rel <= kProbeTolerance))
    Die("resume: the loaded model's probe loss " + now_hex + " differs from the recorded " + rec_hex +
        " by more than the relative tolerance " + Sci(kProbeTolerance) +
        " for another platform: the checkpoint is damaged or was not written by this model");
  std::printf(
      "resume: check passed within tolerance: the loaded model's probe loss %s is within %.0e (relative) of the "
      "recorded %s "
      "(relative difference %.2e; recorded on %s, now %s: bits match only on the same device, LibTorch and "
      "thread count)\n",
      now_hex.c_str(), kProbeTolerance, rec_hex.c_str(), rel, Describe(*then).c_str(), Describe(now_check).c_str());
}

}  // namespace ciuic
