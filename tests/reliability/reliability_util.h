// Shared by the reliability tests: the size of a run, and contents a reader
// can check from the file name alone.
#ifndef CIUICFS_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
#define CIUICFS_TESTS_RELIABILITY_RELIABILITY_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/store/test_util.h"

namespace ciuicfs::testing {

// CIUICFS_LONG=1 (scripts/reliability.sh --long) selects the long run.
inline bool LongRun() {
  const char* v = std::getenv("CIUICFS_LONG");
  return v && std::string(v) == "1";
}
inline int Scaled(int ci, int long_run) { return LongRun() ? long_run : ci; }

// The content of the file called `name`: deterministic, 16 KiB to ~600 KiB.
inline std::string ContentFor(const std::string& name) {
  uint64_t seed = std::hash<std::string>{}(name);
  return RandomBytes(seed, 16384 + seed % (600 << 10));
}

// Content that names its own seed in its first 8 bytes, so a reader can
// tell a whole version from a torn one without knowing which it read.
inline std::string SelfChecking(uint64_t seed, size_t n) {
  std::string s = RandomBytes(seed, n < 8 ? 8 : n);
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(seed >> (8 * i));
  return s;
}
inline bool IsWholeSelfChecking(const std::string& s) {
  if (s.size() < 8) return false;
  uint64_t seed = 0;
  for (int i = 0; i < 8; ++i) seed |= uint64_t(uint8_t(s[size_t(i)])) << (8 * i);
  return s == SelfChecking(seed, s.size());
}

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
