// encode_study: how small a sequence of saves gets under each shape of
// delta a store could keep (the measurement behind FORMAT.md's "Encoded
// records" and its depth-one rule).
//
//   encode_study DIR [STRIDE]
//
// DIR holds one folder per save (step_1, step_2, ...: numbered names, in
// number order), each with the same files. Every file is cut into 1 MiB
// pieces at the same offsets in every save (STRIDE > 1: every STRIDE-th
// piece only, to go faster); each piece costs the smallest of raw and what
// the shape gives it. Shapes, each priced for every save:
//   keyframe     byte-grouped (4) zstd-3 alone;
//   chain-xor    XOR with the previous save, then as keyframe (a chain of
//                unbounded depth: what decoding a save would have to follow);
//   chain-sub    encoding 4 (the zigzag difference of 32-bit words) with the previous
//                save instead of XOR (also unbounded);
//   star-all     XOR with the first save, a keyframe (depth one);
//   star-8/4     the same with a new keyframe every 8 / 4 saves;
//   star-4-sub   star-4 with the difference of chain-sub.
// The first save is a keyframe in every shape. Prints stored/raw per file
// name and over all.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "store/encode/codec.h"

namespace fs = std::filesystem;
using namespace ciuicfs;

namespace {

constexpr size_t kPiece = 1 << 20;

std::string Slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Stored bytes of a piece as the store's own encodings make it (w = 4,
// phase from the file offset), or raw when that is smaller: `base` empty
// for a keyframe, else the same range of an earlier save for a delta.
size_t Priced(Encoding e, std::string_view x, uint64_t offset, std::string_view base = {}) {
  std::vector<DeltaBase> bases;
  if (IsDelta(e)) bases.push_back(DeltaBase{Hash128::Of(base.data(), base.size()), 0});
  return std::min(x.size(), EncodePayload(e, x, 4, unsigned(offset % 4), bases, base).size());
}

long Number(const fs::path& p) {
  const std::string s = p.filename().string();
  const size_t at = s.find_first_of("0123456789");
  return at == std::string::npos ? -1 : std::atol(s.c_str() + at);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: encode_study DIR [STRIDE]\n");
    return 2;
  }
  const size_t stride = argc == 3 ? std::max(1, std::atoi(argv[2])) : 1;
  std::vector<fs::path> saves;
  for (auto& e : fs::directory_iterator(argv[1]))
    if (e.is_directory()) saves.push_back(e.path());
  std::sort(saves.begin(), saves.end(), [](auto& a, auto& b) { return Number(a) < Number(b); });
  if (saves.size() < 2) {
    std::fprintf(stderr, "encode_study: %s holds fewer than two save folders\n", argv[1]);
    return 1;
  }
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(saves[0]))
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  const std::vector<std::string> shapes = {"keyframe", "chain-xor", "chain-sub", "star-all", "star-8", "star-4", "star-4-sub"};
  std::map<std::string, std::map<std::string, double>> bytes;  // file -> shape or "raw" -> bytes
  for (const std::string& name : names) {
    std::string prev, first, key8, key4;
    auto& b = bytes[name];
    for (size_t v = 0; v < saves.size(); ++v) {
      std::string cur = Slurp(saves[v] / name);
      if (v == 0) first = cur;
      if (v % 8 == 0) key8 = cur;
      if (v % 4 == 0) key4 = cur;
      for (uint64_t off = 0; off < cur.size(); off += kPiece) {
        if ((off / kPiece) % stride) continue;
        std::string_view x = std::string_view(cur).substr(off, kPiece);
        auto at = [&](const std::string& s) { return std::string_view(s).substr(std::min<size_t>(off, s.size()), kPiece); };
        const size_t key = Priced(Encoding::kZstd, x, off);
        b["raw"] += x.size();
        b["keyframe"] += key;
        auto delta = [&](Encoding e, const std::string& base) { return std::min(key, Priced(e, x, off, at(base))); };
        b["chain-xor"] += v == 0 ? key : delta(Encoding::kXorDeltaZstd, prev);
        b["chain-sub"] += v == 0 ? key : delta(Encoding::kDiffDeltaZstd, prev);
        b["star-all"] += v == 0 ? key : delta(Encoding::kXorDeltaZstd, first);
        b["star-8"] += v % 8 == 0 ? key : delta(Encoding::kXorDeltaZstd, key8);
        b["star-4"] += v % 4 == 0 ? key : delta(Encoding::kXorDeltaZstd, key4);
        b["star-4-sub"] += v % 4 == 0 ? key : delta(Encoding::kDiffDeltaZstd, key4);
      }
      prev = std::move(cur);
    }
  }
  std::printf("%s: %zu saves, stored/raw (every %zu-th MiB)\n%-20s %14s", argv[1], saves.size(), stride, "file", "raw MB");
  for (auto& s : shapes) std::printf(" %10s", s.c_str());
  std::printf("\n");
  std::map<std::string, double> all;
  for (auto& [name, b] : bytes) {
    std::printf("%-20s %14.1f", name.c_str(), b["raw"] / 1e6);
    for (auto& s : shapes) std::printf(" %10.3f", b[s] / b["raw"]);
    std::printf("\n");
    for (auto& [k, n] : b) all[k] += n;
  }
  std::printf("%-20s %14.1f", "all", all["raw"] / 1e6);
  for (auto& s : shapes) std::printf(" %10.3f", all[s] / all["raw"]);
  std::printf("\n");
  return 0;
}
