#include "store/base/log.h"

#include <cstdio>

namespace ciuicfs {

void LogLine(const std::string& line) {
  std::string out = "ciuicfs: " + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);  // one write: lines never interleave
}

}  // namespace ciuicfs
