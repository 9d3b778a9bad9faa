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
  // tokens step, iter, global_step, checkpoint, ckpt, epoch. Within a
  // component the last match counts, but for the built-in tokens a step,
  // iteration or checkpoint number outranks a ckpt one, and that outranks
  // an epoch ("epoch=3-step=1200" is 1200, "model_step_1000_ckpt2" 1000).
  static std::optional<StepParser> Create(const std::string& pattern, std::string* error);

  std::optional<int64_t> FromPath(const std::string& path) const;
  static std::optional<int64_t> FromXattr(const std::string& value);

 private:
  StepParser(std::regex re, bool ranked) : re_(std::move(re)), ranked_(ranked) {}
  std::regex re_;
  bool ranked_;  // the built-in tokens
};

}  // namespace ciuicfs

#endif  // CIUICFS_FS_STEP_H_
