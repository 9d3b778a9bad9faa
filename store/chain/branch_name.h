// Branch names (FORMAT.md, `branches`), apart from branches.h so that
// store.h and fs/ can check a name without the index headers.
#ifndef CIUICFS_STORE_CHAIN_BRANCH_NAME_H_
#define CIUICFS_STORE_CHAIN_BRANCH_NAME_H_

#include <string>

#include "store/base/status.h"

namespace ciuicfs {

inline constexpr char kMainBranch[] = "main";

// 1-64 of [A-Za-z0-9._-], not starting with '.' or '-', no "..".
Status ValidateBranchName(const std::string& name);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CHAIN_BRANCH_NAME_H_
