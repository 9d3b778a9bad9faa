// A gtest fixture with a real ciuicfs mount of a fresh store in a temp dir
// (skipped where FUSE cannot run). The suites that use it are registered
// twice, the second time with --no-passthrough (tests/fs/CMakeLists.txt).
#ifndef CIUICFS_TESTS_FS_MOUNT_FIXTURE_H_
#define CIUICFS_TESTS_FS_MOUNT_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs::testing {

class MountedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), dir_.Sub("store"));
    ASSERT_TRUE(mount_->Start()) << "mount failed; see " << dir_.Sub("store.log");
  }
  void Remount() {
    mount_->Unmount();
    ASSERT_TRUE(mount_->Start());
  }
  std::string M(const std::string& rel) const { return mount_->At(rel); }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
};

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_FS_MOUNT_FIXTURE_H_
