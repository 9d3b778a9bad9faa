// A GPT-style decoder-only transformer: token and position embeddings,
// pre-norm blocks (causal self-attention, MLP), final norm, head tied to the
// token embedding. LibTorch only.
#ifndef CIUICFS_TRAINER_GPT_H_
#define CIUICFS_TRAINER_GPT_H_

#include <torch/torch.h>

#include <string>

#include "gpt_config.h"

namespace ciuic {

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GptConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  int64_t heads_;
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, up_{nullptr}, down_{nullptr};
};
TORCH_MODULE(Block);

class GptImpl : public torch::nn::Module {
 public:
  explicit GptImpl(const GptConfig& c);
  // tokens [B, T] -> logits [B, T, vocab]
  torch::Tensor forward(const torch::Tensor& tokens);
  // Stops gradients into the embeddings and the first `k` blocks.
  void Freeze(int64_t k);
  int64_t ParameterCount();

 private:
  GptConfig config_;
  torch::nn::Embedding tok_{nullptr}, pos_{nullptr};
  torch::nn::ModuleList blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
  torch::Tensor mask_;  // causal mask, a registered buffer (moves with the module)
};
TORCH_MODULE(Gpt);

}  // namespace ciuic

#endif  // CIUICFS_TRAINER_GPT_H_
