// Named points where a test can have this process killed with SIGKILL, to
// prove what a crash at exactly that moment leaves on disk. Armed by the
// environment variable CIUICFS_CRASH_AT=<name>; costs a getenv() per
// call, and the calls sit outside per-byte loops. The names are listed in FORMAT.md's crash table terms and
// in tests/store/crash_test.cc.
#ifndef CIUICFS_STORE_CRASH_POINT_H_
#define CIUICFS_STORE_CRASH_POINT_H_

namespace ciuicfs {

// True when CIUICFS_CRASH_AT names `name`.
bool CrashPointArmed(const char* name);
// Kills the process with SIGKILL when armed for `name`.
void CrashPoint(const char* name);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CRASH_POINT_H_
