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
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>

#include "gpt.h"

namespace fs = std::filesystem;

namespace ciuic {
namespace {

std::atomic<int> stop_signal{0};
void OnSignal(int sig) { stop_signal = sig; }

struct Options {
  std::string preset = "tiny", data, ckpt_dir, resume, device = "auto", losses_out, weights_out;
  int64_t steps = 100, batch = 8, save_every = 0, keep = 0, freeze = 0, log_every = 10, eval_every = 0, accum = 1;
  int64_t warmup = 10, seed = 1337;
  double lr = 3e-3, min_lr_ratio = 0.1, weight_decay = 0.1, clip = 1.0;
  bool bf16 = false;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "ciuic-train: %s\n", msg.c_str());
  std::exit(2);
}

const char kUsage[] =
    "usage: ciuic-train [options]\n"
    "  --preset tiny|small|gpt2   model size (default tiny)\n"
    "  --steps N                  optimizer steps to reach (default 100)\n"
    "  --batch N --accum N        sequences per micro-batch, micro-batches per step\n"
    "  --lr X --warmup N --min-lr-ratio X --weight-decay X --clip X\n"
    "  --data FILE                train on FILE's bytes (default: a generated corpus)\n"
    "  --ckpt-dir DIR --save-every N --keep K   checkpoints DIR/step_NNNNNNNN/, keep the newest K\n"
    "  --resume DIR               continue from a checkpoint folder, or the newest in DIR\n"
    "  --freeze-layers K          freeze the embeddings and the first K blocks\n"
    "  --device auto|cpu|cuda --bf16 --seed N --log-every N --eval-every N\n"
    "  --losses-out FILE          append 'step loss' lines (loss as an exact hex float)\n"
    "  --weights-out FILE         torch::save the final model to FILE\n"
    "SIGTERM or SIGINT saves one last checkpoint and exits 0.\n"
    "example: ciuic-train --preset tiny --steps 200 --ckpt-dir /ckpt/run --save-every 50 --keep 3\n";

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (a == "--bf16") {
      o.bf16 = true;
      continue;
    }
    if (i + 1 >= argc) Die("option " + a + " needs a value (see --help)");
    std::string v = argv[++i];
    auto num = [&]() -> int64_t {
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) Die("option " + a + " wants a non-negative integer, got '" + v + "'");
      return n;
    };
    auto real = [&]() -> double {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(d >= 0)) Die("option " + a + " wants a non-negative number, got '" + v + "'");
      return d;
    };
    if (a == "--preset") o.preset = v;
    else if (a == "--steps") o.steps = num();
    else if (a == "--batch") o.batch = std::max<int64_t>(1, num());
    else if (a == "--accum") o.accum = std::max<int64_t>(1, num());
    else if (a == "--lr") o.lr = real();
    else if (a == "--warmup") o.warmup = num();
    else if (a == "--min-lr-ratio") o.min_lr_ratio = real();
    else if (a == "--weight-decay") o.weight_decay = real();
    else if (a == "--clip") o.clip = real();
    else if (a == "--data") o.data = v;
    else if (a == "--ckpt-dir") o.ckpt_dir = v;
    else if (a == "--save-every") o.save_every = num();
    else if (a == "--keep") o.keep = num();
    else if (a == "--resume") o.resume = v;
    else if (a == "--freeze-layers") o.freeze = num();
    else if (a == "--device") o.device = v;
    else if (a == "--seed") o.seed = num();
    else if (a == "--log-every") o.log_every = std::max<int64_t>(1, num());
    else if (a == "--eval-every") o.eval_every = num();
    else if (a == "--losses-out") o.losses_out = v;
    else if (a == "--weights-out") o.weights_out = v;
    else Die("unknown option " + a + " (see --help)");
  }
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda") Die("--device must be auto, cpu or cuda");
  if (o.save_every > 0 && o.ckpt_dir.empty()) Die("--save-every needs --ckpt-dir");
  return o;
}

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

std::string HexFloat(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

void SaveAtomically(const std::function<void(const std::string&)>& save, const fs::path& path) {
  fs::path tmp = path;
  tmp += ".tmp";
  save(tmp.string());
  fs::rename(tmp, path);
}

struct TrainState {
  int64_t step = 0, epoch = 0, cursor = 0;
  double loss = 0;
};

void SaveCheckpoint(const Options& o, const GptConfig& c, Gpt& model, torch::optim::AdamW& opt, const TrainState& st,
                    bool cuda) {
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
        j << "{\"step\": " << st.step << ", \"loss\": " << st.loss << ", \"epoch\": " << st.epoch
          << ", \"cursor\": " << st.cursor << ", \"preset\": \"" << o.preset << "\", \"seed\": " << o.seed
          << ", \"lr\": " << o.lr << ", \"steps\": " << o.steps << ", \"batch\": " << o.batch
          << ", \"accum\": " << o.accum << ", \"freeze_layers\": " << o.freeze << ", \"width\": " << c.width
          << ", \"layers\": " << c.layers << "}\n";
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

  Gpt model(config);
  if (o.freeze > 0) model->Freeze(o.freeze);
  model->to(device);
  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(o.lr).betas({0.9, 0.95}).weight_decay(o.weight_decay));
  Batches batches(train_text, config.context, uint64_t(o.seed));
  TrainState st;

  if (!o.resume.empty()) {
    fs::path dir = FindCheckpoint(o.resume);
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
    batches.Seek(st.epoch, st.cursor);
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
    if (o.clip > 0) torch::nn::utils::clip_grad_norm_(trainable, o.clip);
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
    if (st.step % o.log_every == 0 || st.step == 1) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_log).count();
      std::printf("step %lld loss %.4f lr %.2e tokens/s %.0f\n", (long long)st.step, step_loss,
                  LearningRate(o, st.step - 1), tokens_since_log / std::max(secs, 1e-9));
      std::fflush(stdout);
      t_log = std::chrono::steady_clock::now();
      tokens_since_log = 0;
    }
    if (o.eval_every > 0 && st.step % o.eval_every == 0) {
      torch::NoGradGuard no_grad;
      Batches val(val_text, config.context, 7);
      auto [x, y] = val.Next(std::min<int64_t>(8, o.batch));
      auto logits = model->forward(x.to(device));
      auto vloss = torch::nn::functional::cross_entropy(logits.view({-1, config.vocab}), y.to(device).view({-1}));
      std::printf("step %lld val_loss %.4f\n", (long long)st.step, vloss.item<double>());
    }
    const bool stopping = stop_signal != 0;
    if (!o.ckpt_dir.empty() && ((o.save_every > 0 && st.step % o.save_every == 0) || stopping || st.step == o.steps))
      SaveCheckpoint(o, config, model, opt, st, cuda);
    if (stopping) {
      std::printf("signal %d: saved step %lld, exiting\n", int(stop_signal), (long long)st.step);
      break;
    }
  }
  if (losses) std::fclose(losses);
  if (!o.weights_out.empty()) torch::save(model, o.weights_out);
  return 0;
}
