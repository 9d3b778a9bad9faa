// Nodes as rows (FORMAT.md, "Nodes", "Deferred counts"): reading, storing
// and releasing one node, the reference log that defers a commit's
// increments, reading one stored directory, where a directory's nodes are
// cut, and the path helpers the tree code shares. Internal to store/tree/;
// every call runs inside the caller's index transaction.
#ifndef CIUICFS_STORE_TREE_NODE_STORE_H_
#define CIUICFS_STORE_TREE_NODE_STORE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/index/lmdb_env.h"
#include "store/index/rows.h"

namespace ciuicfs {

// True when `name` ends a node at `level` (0: leaves). Part of the format.
bool IsNodeBoundary(std::string_view name, int level);

// The node `id` (NotFound when it has no row), and its stored refcount.
Result<Node> ReadNode(Txn& txn, const Hash128& id, uint32_t* refcount = nullptr);
// Stores `node` unless it is stored already; a new row starts at refcount
// 0 (its parent or snapshot adds the reference) and adds one reference to
// each node and version it names, into `refs` (logged by the caller).
// Returns its id.
Result<Hash128> StoreNode(Txn& txn, const Node& node, RefDeltas* refs);
// Appends one commit's increments to the reference log; every 64th row
// settles the log.
Status LogRefs(Txn& txn, const RefDeltas& refs);
// Every row of the log, summed (`keys`, when set, gets their keys).
Result<RefDeltas> ReadLog(Txn& txn, std::vector<std::string>* keys);
// Applies every logged increment to its row and empties the log.
Status SettleLog(Txn& txn);
// Takes one reference off node `id`; at zero the row goes and releases
// what it names. The log must be settled.
Status ReleaseNode(Txn& txn, const Hash128& id);

// One stored directory (its root node id; zero: empty): the entry `name`,
// every entry in name order, every leaf with its last name.
Result<std::optional<NodeEntry>> DirGet(Txn& txn, const Hash128& dir, std::string_view name);
Status DirEntries(Txn& txn, const Hash128& dir, std::vector<NodeEntry>* out);
Status DirLeaves(Txn& txn, const Hash128& dir, std::vector<NodeChild>* out);

std::string Join(const std::string& dir, const std::string& name);
// ("a/b", "c") from "a/b/c"; ("", "c") from "c".
std::pair<std::string, std::string> SplitPath(const std::string& path);
std::vector<std::string> Components(std::string_view path);
// `path` lies strictly below directory `dir`.
bool IsBelow(const std::string& path, const std::string& dir);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_TREE_NODE_STORE_H_
