// ciuic-train: trains the bundled GPT and checkpoints its complete state as
// plain LibTorch files. Knows nothing of ciuicfs. See trainer/README.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#ifdef CIUIC_TRAIN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

#include "gpt.h"
#include "options.h"
#include "record.h"

namespace fs = std::filesystem;

namespace ciuic {
namespace {

std::atomic<int> stop_signal{0};
void OnSignal(int sig) { stop_signal = sig; }

// A deterministic English-like corpus: sentences from a tiny grammar.
std::string GenerateCorpus(size_t bytes, uint64_t seed) {
  const char* subjects[] = {"the model", "a trainer", "the optimizer", "our data", "the loss", "every step"};
  const char* verbs[] = {"saves", "learns", "reads", "writes", "checks", "restores"};
  const char* objects[] = {"the weights", "a checkpoint", "the gradient", "its state", "the next batch", "a version"};
  const char* tails[] = {".", " again.", " quickly.", " on disk.", " every epoch.", " without loss."};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    out += subjects[rng() % 6];
    out += ' ';
    out += verbs[rng() % 6];
    out += ' ';
    out += objects[rng() % 6];
    out += tails[rng() % 6];
    out += rng() % 4 == 0 ? '\n' : ' ';
  }
  out.resize(bytes);
  return out;
}

// Batches of windows of the training bytes, in an order shuffled per epoch
// from (seed, epoch): the position is (epoch, cursor) and nothing else.
class Batches {
 public:
  Batches(const std::string& text, int64_t context, uint64_t seed) : text_(text), context_(context), seed_(seed) {
    for (int64_t s = 0; s + context + 1 <= int64_t(text.size()); s += context) starts_.push_back(s);
    if (starts_.empty()) Die("training text shorter than one context window");
    Shuffle();
  }
  void Seek(int64_t epoch, int64_t cursor) {
    epoch_ = epoch;
    cursor_ = cursor;
    Shuffle();
  }
  std::pair<torch::Tensor, torch::Tensor> Next(int64_t batch) {
    std::vector<int64_t> x, y;
    for (int64_t b = 0; b < batch; ++b) {
      if (cursor_ == int64_t(order_.size())) {
        ++epoch_;
        cursor_ = 0;
        Shuffle();
      }
      int64_t s = order_[size_t(cursor_++)];
      for (int64_t i = 0; i < context_; ++i) {
        x.push_back(static_cast<unsigned char>(text_[size_t(s + i)]));
        y.push_back(static_cast<unsigned char>(text_[size_t(s + i + 1)]));
      }
    }
    return {torch::tensor(x).view({batch, context_}), torch::tensor(y).view({batch, context_})};
  }
  int64_t epoch() const { return epoch_; }
  int64_t cursor() const { return cursor_; }
  // Epochs done, as a fraction (the log history's "epoch").
  double EpochFraction() const { return double(epoch_) + double(cursor_) / double(order_.size()); }

 private:
  void Shuffle() {
    order_ = starts_;
    std::mt19937_64 rng(seed_ * 1000003 + uint64_t(epoch_));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
  }
  const std::string& text_;
  int64_t context_;
  uint64_t seed_;
  std::vector<int64_t> starts_, order_;
  int64_t epoch_ = 0, cursor_ = 0;
};

double LearningRate(const Options& o, int64_t step) {  // step counts from 0
  if (step < o.warmup) return o.lr * double(step + 1) / double(o.warmup);
  double progress = double(step - o.warmup) / double(std::max<int64_t>(1, o.steps - o.warmup));
  progress = std::min(1.0, progress);
  double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + 0.5 * (o.lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

void SaveAtomically(const std::function<void(const std::string&)>& save, const fs::path& path) {
  fs::path tmp = path;
  tmp += ".tmp";
  save(tmp.string());
  fs::rename(tmp, path);
}

// Consecutive context windows from the start of a text: the validation loss
// and the probe take the same bytes every time, unshuffled.
int64_t WindowCount(const std::string& text, int64_t context) {
  return text.size() < size_t(context) + 1 ? 0 : int64_t(text.size() - 1) / context;
}

// The mean cross-entropy of the first `n` windows of `text`, in batches of
// 8, in fp32 (no autocast), without gradients, in eval mode. Uses no random
// numbers, so evaluating leaves the training trajectory as it was.
double WindowLoss(Gpt& model, const GptConfig& c, const std::string& text, int64_t n, torch::Device device) {
  constexpr int64_t kBatch = 8;
  torch::NoGradGuard no_grad;
  model->eval();
  double sum = 0;
  int64_t batches = 0;
  for (int64_t first = 0; first < n; first += kBatch, ++batches) {
    const int64_t b = std::min(kBatch, n - first);
    std::vector<int64_t> x, y;
    for (int64_t w = first; w < first + b; ++w)
      for (int64_t i = 0; i < c.context; ++i) {
        x.push_back(static_cast<unsigned char>(text[size_t(w * c.context + i)]));
        y.push_back(static_cast<unsigned char>(text[size_t(w * c.context + i + 1)]));
      }
    auto logits = model->forward(torch::tensor(x).view({b, c.context}).to(device));
    sum += torch::nn::functional::cross_entropy(logits.view({-1, c.vocab}), torch::tensor(y).to(device)).item<double>();
  }
  model->train();
  return sum / double(std::max<int64_t>(1, batches));
}

constexpr int64_t kEvalWindows = 64;  // the validation loss at saves and --eval-every
constexpr int64_t kProbeWindows = 4;  // the resume check's probe batch

// The resume check's probe: the first windows of the validation text (of
// the training text when the validation text holds none).
struct Probe {
  const std::string* text = nullptr;
  int64_t windows = 0;
  std::string digest;  // of the probe's bytes
};
Probe MakeProbe(const std::string& val_text, const std::string& train_text, int64_t context) {
  Probe p;
  p.text = WindowCount(val_text, context) > 0 ? &val_text : &train_text;
  p.windows = std::min(kProbeWindows, WindowCount(*p.text, context));
  p.digest = Fnv1a64(p.text->substr(0, size_t(p.windows * context + 1)));
  return p;
}

Json ProbeCheck(Gpt& model, const GptConfig& c, const Probe& probe, torch::Device device, const Platform& platform) {
  return ResumeCheckRecord(WindowLoss(model, c, *probe.text, probe.windows, device), probe.windows, probe.digest,
                           platform);
}

Platform CurrentPlatform(bool cuda) {
  Platform p;
  p.libtorch = TORCH_VERSION;
  p.threads = at::get_num_threads();
  p.device = cuda ? "cuda" : "cpu";
#ifdef CIUIC_TRAIN_WITH_CUDA
  p.cuda = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  if (cuda) p.device = at::cuda::getDeviceProperties(0)->name;
#endif
  return p;
}

void SaveCheckpoint(const Options& o, Gpt& model, torch::optim::AdamW& opt, const StateHead& st, bool cuda,
                    const Json& state) {
  char name[32];
  std::snprintf(name, sizeof(name), "step_%08lld", (long long)st.step);
  fs::path dir = fs::path(o.ckpt_dir) / name;
  fs::create_directories(dir);
  auto t0 = std::chrono::steady_clock::now();
  SaveAtomically([&](const std::string& p) { torch::save(model, p); }, dir / "model.pt");
  SaveAtomically([&](const std::string& p) { torch::save(opt, p); }, dir / "optimizer.pt");
  std::vector<torch::Tensor> rng = {at::globalContext().defaultGenerator(at::kCPU).get_state()};
  if (cuda) rng.push_back(at::globalContext().defaultGenerator(at::Device(at::kCUDA, 0)).get_state());
  SaveAtomically([&](const std::string& p) { torch::save(rng, p); }, dir / "rng.pt");
  torch::Tensor pos = torch::tensor({st.step, st.epoch, st.cursor}, torch::kLong);
  SaveAtomically([&](const std::string& p) { torch::save(pos, p); }, dir / "position.pt");
  SaveAtomically(
      [&](const std::string& p) {
        std::ofstream j(p);
        j << state.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
        if (!j.flush()) Die("cannot write " + p);
      },
      dir / "trainer_state.json");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("saved step %lld to %s in %.3f s\n", (long long)st.step, dir.c_str(), secs);
  std::fflush(stdout);
  if (o.keep > 0) {  // delete older checkpoint folders, as trainers do
    std::vector<fs::path> all;
    for (auto& e : fs::directory_iterator(o.ckpt_dir))
      if (e.is_directory() && e.path().filename().string().rfind("step_", 0) == 0) all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + size_t(o.keep) < all.size(); ++i) fs::remove_all(all[i]);
  }
}

// A checkpoint folder itself, or the newest step_* folder inside `dir`.
fs::path FindCheckpoint(const fs::path& dir) {
  if (fs::exists(dir / "trainer_state.json")) return dir;
  std::vector<fs::path> all;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("step_", 0) == 0 &&
        fs::exists(e.path() / "trainer_state.json"))
      all.push_back(e.path());
  if (all.empty()) Die("no checkpoint in " + dir.string());
  std::sort(all.begin(), all.end());
  return all.back();
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace
}  // namespace ciuic

int main(int argc, char** argv) {
  using namespace ciuic;
  Options o = Parse(argc, argv);
  GptConfig config;
  if (!GptConfig::FromPreset(o.preset, &config)) Die("unknown preset '" + o.preset + "' (tiny, small, gpt2)");
  const bool cuda = o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available());
  if (cuda && !torch::cuda::is_available()) Die("--device cuda, but no CUDA device is available");
  torch::Device device(cuda ? torch::kCUDA : torch::kCPU);
  at::globalContext().setDeterministicAlgorithms(true, true);
  torch::manual_seed(uint64_t(o.seed));

  std::string text;
  if (!o.data.empty()) {
    std::ifstream in(o.data, std::ios::binary);
    if (!in) Die("cannot read --data " + o.data);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    text = GenerateCorpus(400000, uint64_t(o.seed));
  }
  if (config.vocab < 256) Die("preset vocabulary smaller than a byte");
  const size_t split = text.size() * 9 / 10;
  const std::string train_text = text.substr(0, split), val_text = text.substr(split);
  const DataFacts data{o.data, text.size(), Fnv1a64(text)};
  const Platform platform = CurrentPlatform(cuda);
  Json environment = EnvironmentRecord(o, config, data, platform, cuda);
  const int64_t eval_windows = std::min(kEvalWindows, WindowCount(val_text, config.context));
  const Probe probe = MakeProbe(val_text, train_text, config.context);

  Gpt model(config);
  if (o.freeze > 0) model->Freeze(o.freeze);
  model->to(device);
  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(o.lr).betas({0.9, 0.95}).weight_decay(o.weight_decay));
  Batches batches(train_text, config.context, uint64_t(o.seed));
  StateHead st;
  LogHistory history;

  if (!o.resume.empty()) {
    fs::path dir = FindCheckpoint(o.resume);
    const Json saved = ReadTrainerState(dir);
    CompareEnvironments(saved, environment, o.allow_changed_hparams);  // Dies before loading on a fatal change
    try {
      torch::load(model, (dir / "model.pt").string(), device);
      torch::load(opt, (dir / "optimizer.pt").string(), device);
      std::vector<torch::Tensor> rng;
      torch::load(rng, (dir / "rng.pt").string());
      at::Generator cpu_gen = at::globalContext().defaultGenerator(at::kCPU);  // shares the default's state
      cpu_gen.set_state(rng.at(0));
      if (cuda && rng.size() > 1) {
        at::Generator cuda_gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, 0));
        cuda_gen.set_state(rng[1]);
      }
      torch::Tensor pos;
      torch::load(pos, (dir / "position.pt").string());
      st.step = pos[0].item<int64_t>();
      st.epoch = pos[1].item<int64_t>();
      st.cursor = pos[2].item<int64_t>();
    } catch (const std::exception& e) {
      Die("resume: cannot load the checkpoint in " + dir.string() + ": " + FirstLine(e.what()));
    }
    batches.Seek(st.epoch, st.cursor);
    CheckProbeLoss(saved, ProbeCheck(model, config, probe, device, platform));  // Dies on a mismatch
    history.Load(saved, st.step);
    environment["resumed_from"] = {{"checkpoint", dir.string()}, {"step", st.step}};
    std::printf("resumed from %s at step %lld\n", dir.c_str(), (long long)st.step);
  }
  std::printf("ciuic-train: %s preset, %lld parameters, %s%s, steps %lld\n", o.preset.c_str(),
              (long long)model->ParameterCount(), cuda ? "cuda" : "cpu", o.bf16 && cuda ? " bf16" : "",
              (long long)o.steps);
  std::fflush(stdout);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);

  FILE* losses = o.losses_out.empty() ? nullptr : std::fopen(o.losses_out.c_str(), "a");
  auto t_log = std::chrono::steady_clock::now();
  int64_t tokens_since_log = 0;
  while (st.step < o.steps) {
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(LearningRate(o, st.step));
    opt.zero_grad();
    double step_loss = 0;
    for (int64_t m = 0; m < o.accum; ++m) {
      auto [x, y] = batches.Next(o.batch);
      x = x.to(device);
      y = y.to(device);
      torch::Tensor logits;
      if (o.bf16 && cuda) {
        at::autocast::set_enabled(true);
        logits = model->forward(x);
        at::autocast::clear_cache();
        at::autocast::set_enabled(false);
        logits = logits.to(torch::kFloat);
      } else {
        logits = model->forward(x);
      }
      auto loss = torch::nn::functional::cross_entropy(logits.view({-1, config.vocab}), y.view({-1})) / double(o.accum);
      loss.backward();
      step_loss += loss.item<double>();
    }
    std::optional<double> grad_norm;
    if (o.clip > 0) grad_norm = torch::nn::utils::clip_grad_norm_(trainable, o.clip);
    opt.step();
    ++st.step;
    st.loss = step_loss;
    st.epoch = batches.epoch();
    st.cursor = batches.cursor();
    tokens_since_log += o.batch * o.accum * config.context;
    if (losses) {
      std::fprintf(losses, "%lld %s\n", (long long)st.step, HexFloat(step_loss).c_str());
      std::fflush(losses);
    }
    const double lr = LearningRate(o, st.step - 1);
    const bool logging = st.step % o.log_every == 0 || st.step == 1;
    const bool evaluating = o.eval_every > 0 && st.step % o.eval_every == 0;
    const bool stopping = stop_signal != 0;
    const bool saving =
        !o.ckpt_dir.empty() && ((o.save_every > 0 && st.step % o.save_every == 0) || stopping || st.step == o.steps);
    if (logging || evaluating || saving) history.Record(st.step, batches.EpochFraction(), lr, step_loss, grad_norm);
    if (logging) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_log).count();
      std::printf("step %lld loss %.4f lr %.2e tokens/s %.0f\n", (long long)st.step, step_loss, lr,
                  tokens_since_log / std::max(secs, 1e-9));
      std::fflush(stdout);
      t_log = std::chrono::steady_clock::now();
      tokens_since_log = 0;
    }
    if ((evaluating || saving) && eval_windows > 0) {
      const double vloss = WindowLoss(model, config, val_text, eval_windows, device);
      history.RecordEval(st.step, vloss);
      std::printf("step %lld val_loss %.4f\n", (long long)st.step, vloss);
    }
    if (saving) {
      const Json check = ProbeCheck(model, config, probe, device, platform);
      SaveCheckpoint(o, model, opt, st, cuda, TrainerState(st, o, config, history, environment, check));
    }
    if (stopping) {
      std::printf("signal %d: saved step %lld, exiting\n", int(stop_signal), (long long)st.step);
      break;
    }
  }
  if (losses) std::fclose(losses);
  if (!o.weights_out.empty()) torch::save(model, o.weights_out);
  return 0;
}
