// chunk_study: how chunker parameters trade dedup against speed on real
// checkpoint sequences (the measurement behind FORMAT.md's defaults).
//
//   chunk_study DIR...
//
// Each DIR holds one sequence of saves; its regular files, in name order,
// are ingested one after another as a trainer would have written them. For
// each parameter set the tool prints raw bytes, unique chunk bytes (what a
// store would keep), the ratio, the chunk count and the chunking speed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/ingest/chunker.h"

namespace fs = std::filesystem;
using ciuicfs::ChunkerParams;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: chunk_study DIR...\n");
    return 2;
  }
  const std::vector<ChunkerParams> candidates = {
      {4 << 10, 16 << 10, 64 << 10},    {16 << 10, 64 << 10, 256 << 10}, {64 << 10, 256 << 10, 1 << 20},
      {256 << 10, 1 << 20, 4 << 20},    {1 << 20, 4 << 20, 16 << 20},
  };
  for (int a = 1; a < argc; ++a) {
    std::vector<fs::path> files;
    for (auto& e : fs::recursive_directory_iterator(argv[a]))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> contents;
    uint64_t raw = 0;
    for (auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      contents.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      raw += contents.back().size();
    }
    std::printf("%s: %zu files, %.1f MB\n", argv[a], files.size(), raw / 1e6);
    std::printf("  %-22s %12s %12s %7s %9s %10s\n", "min/avg/max KiB", "raw MB", "unique MB", "ratio", "chunks",
                "chunk MB/s");
    for (const ChunkerParams& p : candidates) {
      ciuicfs::Chunker chunker(p);
      std::unordered_set<ciuicfs::ChunkId, ciuicfs::Hash128Hasher> seen;
      uint64_t unique = 0, chunks = 0;
      double chunk_seconds = 0;
      for (const std::string& c : contents) {
        const auto* d = reinterpret_cast<const uint8_t*>(c.data());
        size_t off = 0;
        while (off < c.size()) {
          auto t0 = std::chrono::steady_clock::now();
          size_t len = chunker.NextBoundary(d + off, c.size() - off);
          chunk_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (seen.insert(ciuicfs::Hash128::Of(d + off, len)).second) unique += len;
          ++chunks;
          off += len;
        }
      }
      char label[64];
      std::snprintf(label, sizeof(label), "%u/%u/%u", p.min_size >> 10, p.avg_size >> 10, p.max_size >> 10);
      std::printf("  %-22s %12.1f %12.1f %7.3f %9llu %10.0f\n", label, raw / 1e6, unique / 1e6,
                  double(unique) / double(raw), (unsigned long long)chunks, raw / 1e6 / chunk_seconds);
    }
  }
  return 0;
}
