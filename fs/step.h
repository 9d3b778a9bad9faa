// Which training step a saved file belongs to (DESIGN.md, "Steps"): the
// xattr user.ciuic.step, else the first number after a step-like token in
// the path (last component first), else unknown (the head's step).
#ifndef CIUICFS_FS_STEP_H_
#define CIUICFS_FS_STEP_H_

#include <cstdint>
#include <optional>
#include <regex>
#include <string>

namespace ciuicfs {

class StepParser {
 public:
  // `pattern`: an ECMAScript regex with one capture group holding the
  // number, tried on each path component (last first); empty = the built-in
  // tokens step, iter, global_step, checkpoint, ckpt, epoch.
  static std::optional<StepParser> Create(const std::string& pattern, std::string* error);

  std::optional<int64_t> FromPath(const std::string& path) const;
  static std::optional<int64_t> FromXattr(const std::string& value);

 private:
  explicit StepParser(std::regex re) : re_(std::move(re)) {}
  std::regex re_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_FS_STEP_H_
