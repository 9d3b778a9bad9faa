// ciuic-ckptgen: writes a real LibTorch checkpoint sequence for measuring
// chunking and dedup (store/FORMAT.md, "Choosing the chunk size").
//
// Trains a small transformer-shaped stack of layers with AdamW on a fixed
// synthetic regression task and saves model and optimizer state with
// torch::save every --every steps into OUT/step_NNNNNN/{model,optimizer}.pt,
// each written as NAME.tmp and renamed over NAME.
// --freeze K freezes the embedding and the first K blocks, as fine-tuning
// does, so their bytes repeat from save to save.
// --dtype bf16 saves only the model state, cast to bf16, as mixed-precision
// training keeps it (the re-encoding bench, store/FORMAT.md "Encoded records").
//
// --mirror DIR saves every checkpoint a second time, with the same calls,
// into DIR: a native copy to compare the first against (the optimizer file
// of a C++ AdamW is keyed by tensor addresses, so two *runs* differ).
//
//   ciuic-ckptgen OUT [--saves 10] [--every 5] [--width 384] [--blocks 6] [--freeze 0] [--mirror DIR] [--dtype fp32]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t width)
      : norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        attn_in(register_module("attn_in", torch::nn::Linear(width, 3 * width))),
        attn_out(register_module("attn_out", torch::nn::Linear(width, width))),
        mlp_up(register_module("mlp_up", torch::nn::Linear(width, 4 * width))),
        mlp_down(register_module("mlp_down", torch::nn::Linear(4 * width, width))) {}
  torch::Tensor forward(torch::Tensor x) {
    auto h = norm(x);
    auto qkv = attn_in(h).chunk(3, -1);
    auto mixed = attn_out(torch::tanh(qkv[0]) * qkv[1] + qkv[2]);
    x = x + mixed;
    return x + mlp_down(torch::gelu(mlp_up(norm(x))));
  }
  torch::nn::LayerNorm norm;
  torch::nn::Linear attn_in, attn_out, mlp_up, mlp_down;
};
TORCH_MODULE(Block);

struct NetImpl : torch::nn::Module {
  NetImpl(int64_t vocab, int64_t width, int64_t blocks)
      : embed(register_module("embed", torch::nn::Embedding(vocab, width))),
        head(register_module("head", torch::nn::Linear(width, vocab))) {
    for (int64_t i = 0; i < blocks; ++i) layers.push_back(register_module("block" + std::to_string(i), Block(width)));
  }
  torch::Tensor forward(torch::Tensor tokens) {
    auto x = embed(tokens);
    for (auto& b : layers) x = b(x);
    return head(x);
  }
  torch::nn::Embedding embed;
  std::vector<Block> layers;
  torch::nn::Linear head;
};
TORCH_MODULE(Net);

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr,
                 "usage: ciuic-ckptgen OUT [--saves N] [--every N] [--width N] [--blocks N] [--freeze K] [--mirror DIR]\n"
                 "                     [--dtype bf16: save only the model state, as bf16]\n");
    return argc < 2 ? 2 : 0;
  }
  std::string out = argv[1];
  int saves = 10, every = 5, width = 384, blocks = 6, freeze = 0;
  std::string mirror, dtype = "fp32";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (a == "--mirror") mirror = argv[i + 1];
    else if (a == "--dtype") dtype = argv[i + 1];
    else if (a == "--saves") saves = v;
    else if (a == "--every") every = v;
    else if (a == "--width") width = v;
    else if (a == "--blocks") blocks = v;
    else if (a == "--freeze") freeze = v;
    else {
      std::fprintf(stderr, "ciuic-ckptgen: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (dtype != "fp32" && dtype != "bf16") {
    std::fprintf(stderr, "ciuic-ckptgen: --dtype is fp32 or bf16, not %s\n", dtype.c_str());
    return 2;
  }
  torch::manual_seed(1);
  const int64_t vocab = 256, seq = 64, batch = 8;
  Net net(vocab, width, blocks);
  if (freeze > 0) {
    net->embed->weight.set_requires_grad(false);
    for (int i = 0; i < freeze && i < blocks; ++i)
      for (auto& p : net->layers[i]->parameters()) p.set_requires_grad(false);
  }
  std::vector<torch::Tensor> trainable;
  for (auto& p : net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(3e-4).weight_decay(0.1));
  for (int s = 1; s <= saves * every; ++s) {
    auto tokens = torch::randint(vocab, {batch, seq + 1});
    auto logits = net->forward(tokens.slice(1, 0, seq));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), tokens.slice(1, 1).reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (s % every == 0) {
      char name[32];
      std::snprintf(name, sizeof(name), "step_%06d", s);
      for (const std::string& root : {out, mirror}) {
        if (root.empty()) continue;
        std::filesystem::path dir = std::filesystem::path(root) / name;
        std::filesystem::create_directories(dir);
        // tmp-then-rename, as trainers that fear a crash mid-save do.
        if (dtype == "bf16") {  // mixed-precision training's model state: bf16 weights only
          std::vector<torch::Tensor> state;
          for (auto& p : net->parameters()) state.push_back(p.detach().to(torch::kBFloat16));
          torch::save(state, (dir / "model.pt.tmp").string());
          std::filesystem::rename(dir / "model.pt.tmp", dir / "model.pt");
          continue;
        }
        torch::save(net, (dir / "model.pt.tmp").string());
        std::filesystem::rename(dir / "model.pt.tmp", dir / "model.pt");
        torch::save(opt, (dir / "optimizer.pt.tmp").string());
        std::filesystem::rename(dir / "optimizer.pt.tmp", dir / "optimizer.pt");
      }
      std::printf("step %d loss %.4f saved %s\n", s, loss.item<float>(), (std::filesystem::path(out) / name).c_str());
    }
  }
  return 0;
}
