// store_bench: ingest throughput of the store engine, without FUSE.
//
// For each repetition: a fresh store, N MiB of fresh random data ingested
// in 1 MiB appends and committed (chunk + hash + pack, packs to the page
// cache), then the same bytes again (all duplicates). Prints GB/s and the
// bytes stored, per repetition and the median.
//
//   store_bench [--mib 1024] [--reps 3] [--dir /var/tmp]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "store/store.h"

namespace {

using ciuicfs::Store;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void Fill(std::vector<uint8_t>* buf, uint64_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  auto* w = reinterpret_cast<uint64_t*>(buf->data());
  for (size_t i = 0; i < buf->size() / 8; ++i) {  // xorshift64*
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w[i] = x * 0x2545f4914f6cdd1dULL;
  }
}

// Returns seconds for ingest + commit of `data`.
double IngestOnce(Store* store, const std::vector<uint8_t>& data, const char* name) {
  auto start = std::chrono::steady_clock::now();
  auto ingest = store->NewIngest();
  const size_t piece = 1 << 20;
  for (size_t off = 0; off < data.size(); off += piece) {
    ciuicfs::Status s = ingest->Append(data.data() + off, std::min(piece, data.size() - off));
    if (!s.ok()) {
      std::fprintf(stderr, "store_bench: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  auto v = ingest->Finish();
  ciuicfs::CommitRequest req;
  if (v.ok()) req.edits.push_back(ciuicfs::TreeEdit::PutFile(name, 0644, 1, &*v));
  auto snap = v.ok() ? store->Commit(req) : ciuicfs::Result<ciuicfs::Snapshot>(v.status());
  if (!snap.ok()) {
    std::fprintf(stderr, "store_bench: %s\n", snap.status().ToString().c_str());
    std::exit(1);
  }
  return Seconds(start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int reps = 3;
  std::string base = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mib" && i + 1 < argc) mib = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) base = argv[++i];
    else {
      std::fprintf(stderr, "usage: store_bench [--mib N] [--reps N] [--dir DIR]\n");
      return 2;
    }
  }
  std::vector<uint8_t> data(mib << 20);
  std::vector<double> fresh_gbs, dup_gbs;
  uint64_t stored_fresh = 0, stored_dup = 0;
  std::printf("store_bench: %zu MiB per ingest, %d repetitions, store under %s\n", mib, reps, base.c_str());
  std::printf("%-4s %14s %14s %16s %16s\n", "rep", "fresh GB/s", "repeat GB/s", "stored fresh", "stored +repeat");
  for (int r = 0; r < reps; ++r) {
    Fill(&data, 1000 + r);
    std::string dir = base + "/ciuic-store-bench-" + std::to_string(getpid()) + "-" + std::to_string(r);
    std::filesystem::remove_all(dir);
    auto store = Store::Open(dir, {});
    if (!store.ok()) {
      std::fprintf(stderr, "store_bench: %s\n", store.status().ToString().c_str());
      return 1;
    }
    double t1 = IngestOnce(store->get(), data, "fresh.bin");
    auto st1 = (*store)->Stats();
    double t2 = IngestOnce(store->get(), data, "repeat.bin");
    auto st2 = (*store)->Stats();
    fresh_gbs.push_back(double(data.size()) / t1 / 1e9);
    dup_gbs.push_back(double(data.size()) / t2 / 1e9);
    stored_fresh = st1->stored_bytes;
    stored_dup = st2->stored_bytes;
    std::printf("%-4d %14.2f %14.2f %16llu %16llu\n", r + 1, fresh_gbs.back(), dup_gbs.back(),
                (unsigned long long)stored_fresh, (unsigned long long)stored_dup);
    store->reset();
    std::filesystem::remove_all(dir);
  }
  std::printf("median: fresh %.2f GB/s, repeat %.2f GB/s; raw %zu bytes, stored %llu after fresh, %llu after repeat\n",
              Median(fresh_gbs), Median(dup_gbs), data.size(), (unsigned long long)stored_fresh,
              (unsigned long long)stored_dup);
  return 0;
}
