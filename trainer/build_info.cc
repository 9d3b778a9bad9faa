// The revision the binary was built from: CIUIC_TRAIN_BUILD_ID is set by
// trainer/CMakeLists.txt from `git rev-parse HEAD` at configure time. Its
// own small translation unit (declared in record.h), so a new commit
// recompiles only this file.
#ifndef CIUIC_TRAIN_BUILD_ID
#define CIUIC_TRAIN_BUILD_ID "unknown"
#endif

namespace ciuic {

extern const char kTrainerBuildId[];
const char kTrainerBuildId[] = CIUIC_TRAIN_BUILD_ID;

}  // namespace ciuic
