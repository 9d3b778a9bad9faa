#include "gpt.h"

#include <cmath>

namespace ciuic {

bool GptConfig::FromPreset(const std::string& name, GptConfig* out) {
  if (name == "tiny") *out = GptConfig{256, 32, 64, 4, 2};
  else if (name == "small") *out = GptConfig{256, 256, 384, 6, 10};   // ~17.9M + embeddings
  else if (name == "gpt2") *out = GptConfig{50304, 1024, 768, 12, 12};  // ~124M
  else return false;
  return true;
}

BlockImpl::BlockImpl(const GptConfig& c) : heads_(c.heads) {
  ln1_ = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.width})));
  qkv_ = register_module("qkv", torch::nn::Linear(c.width, 3 * c.width));
  proj_ = register_module("proj", torch::nn::Linear(c.width, c.width));
  ln2_ = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.width})));
  up_ = register_module("up", torch::nn::Linear(c.width, 4 * c.width));
  down_ = register_module("down", torch::nn::Linear(4 * c.width, c.width));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), t = x.size(1), c = x.size(2), hd = c / heads_;
  auto qkv = qkv_(ln1_(x)).chunk(3, -1);
  auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads_, hd}).transpose(1, 2); };
  auto q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
  auto att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd));
  att = att.masked_fill(mask.slice(0, 0, t).slice(1, 0, t).logical_not(), -1e9);
  auto y = torch::matmul(torch::softmax(att, -1), v).transpose(1, 2).contiguous().view({b, t, c});
  auto h = x + proj_(y);
  return h + down_(torch::gelu(up_(ln2_(h))));
}

GptImpl::GptImpl(const GptConfig& c) : config_(c) {
  tok_ = register_module("tok", torch::nn::Embedding(c.vocab, c.width));
  pos_ = register_module("pos", torch::nn::Embedding(c.context, c.width));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.layers; ++i) blocks_->push_back(Block(c));
  ln_f_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.width})));
  mask_ = register_buffer("mask", torch::ones({c.context, c.context}, torch::kBool).tril());
  for (auto& p : named_parameters()) {  // GPT-2 style initialisation
    if (p.key().find("ln") != std::string::npos) continue;
    torch::NoGradGuard no_grad;
    if (p.value().dim() >= 2) p.value().normal_(0.0, 0.02);
    else p.value().zero_();
  }
}

torch::Tensor GptImpl::forward(const torch::Tensor& tokens) {
  const int64_t t = tokens.size(1);
  auto positions = torch::arange(t, tokens.options().dtype(torch::kLong));
  auto x = tok_(tokens) + pos_(positions);
  for (const auto& m : *blocks_) x = m->as<Block>()->forward(x, mask_);
  return torch::matmul(ln_f_(x), tok_->weight.t());  // tied head
}

void GptImpl::Freeze(int64_t k) {
  tok_->weight.set_requires_grad(false);
  pos_->weight.set_requires_grad(false);
  for (int64_t i = 0; i < k && i < int64_t(blocks_->size()); ++i)
    for (auto& p : blocks_[i]->parameters()) p.set_requires_grad(false);
}

int64_t GptImpl::ParameterCount() {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace ciuic
