// ciuic-train's command line: the options and their parser. LibTorch-free.
#ifndef CIUICFS_TRAINER_OPTIONS_H_
#define CIUICFS_TRAINER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ciuic {

struct Options {
  std::string preset = "tiny", data, ckpt_dir, resume, device = "auto", losses_out, weights_out;
  int64_t steps = 100, batch = 8, save_every = 0, keep = 0, freeze = 0, log_every = 10, eval_every = 0, accum = 1;
  int64_t warmup = 10, seed = 1337;
  double lr = 3e-3, min_lr_ratio = 0.1, weight_decay = 0.1, clip = 1.0;
  bool bf16 = false;
  bool allow_changed_hparams = false;  // --resume with other trajectory hyperparameters
  std::vector<std::string> argv;       // the whole command line, argv[0] included
};

// Prints "ciuic-train: MSG" to stderr and exits 2.
[[noreturn]] void Die(const std::string& msg);

// Parses the command line; --help prints the usage and exits 0, a bad
// option Dies.
Options Parse(int argc, char** argv);

}  // namespace ciuic

#endif  // CIUICFS_TRAINER_OPTIONS_H_
