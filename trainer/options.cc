#include "options.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace ciuic {

void Die(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "ciuic-train: %s\n", msg.c_str());
  std::exit(2);
}

namespace {

const char kUsage[] =
    "usage: ciuic-train [options]\n"
    "  --preset tiny|small|gpt2   model size (default tiny)\n"
    "  --steps N                  optimizer steps to reach (default 100)\n"
    "  --batch N --accum N        sequences per micro-batch, micro-batches per step\n"
    "  --lr X --warmup N --min-lr-ratio X --weight-decay X --clip X\n"
    "  --data FILE                train on FILE's bytes (default: a generated corpus)\n"
    "  --ckpt-dir DIR --save-every N --keep K   checkpoints DIR/step_NNNNNNNN/, keep the newest K\n"
    "  --resume DIR               continue from a checkpoint folder, or the newest in DIR\n"
    "  --allow-changed-hparams    resume even if a trajectory hyperparameter differs\n"
    "  --freeze-layers K          freeze the embeddings and the first K blocks\n"
    "  --device auto|cpu|cuda --bf16 --seed N --log-every N --eval-every N\n"
    "  --losses-out FILE          append 'step loss' lines (loss as an exact hex float)\n"
    "  --weights-out FILE         torch::save the final model to FILE\n"
    "Every checkpoint's trainer_state.json records the loss history, the environment\n"
    "and a probe loss; --resume checks them (trainer/README.md).\n"
    "SIGTERM or SIGINT saves one last checkpoint and exits 0.\n"
    "example: ciuic-train --preset tiny --steps 200 --ckpt-dir /ckpt/run --save-every 50 --keep 3\n";

}  // namespace

Options Parse(int argc, char** argv) {
  Options o;
  o.argv.assign(argv, argv + argc);
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
    if (a == "--allow-changed-hparams") {
      o.allow_changed_hparams = true;
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

}  // namespace ciuic
