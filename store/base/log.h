// One-line diagnostics from store/ (recovery actions, corruption found on
// read). Goes to stderr, which the daemon redirects to its log. Thread-safe.
#ifndef CIUICFS_STORE_LOG_H_
#define CIUICFS_STORE_LOG_H_

#include <string>

namespace ciuicfs {

void LogLine(const std::string& line);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_LOG_H_
