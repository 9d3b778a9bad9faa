// The bundled GPT's shape, by preset. LibTorch-free, so the training record
// (record.h) can name it without compiling LibTorch's headers.
#ifndef CIUICFS_TRAINER_GPT_CONFIG_H_
#define CIUICFS_TRAINER_GPT_CONFIG_H_

#include <cstdint>
#include <string>

namespace ciuic {

struct GptConfig {
  int64_t vocab = 256;
  int64_t context = 64;
  int64_t width = 64;
  int64_t heads = 4;
  int64_t layers = 2;
  // tiny: fast on CPU in tests; small: ~20M parameters; gpt2: ~124M.
  static bool FromPreset(const std::string& name, GptConfig* out);
};

}  // namespace ciuic

#endif  // CIUICFS_TRAINER_GPT_CONFIG_H_
