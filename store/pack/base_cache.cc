#include "store/pack/base_cache.h"

#include <exception>

namespace ciuicfs {

Result<BaseCache::Bytes> BaseCache::Get(const ChunkId& id, const std::function<Result<Bytes>()>& load) {
  std::promise<Result<Bytes>> mine;
  std::shared_future<Result<Bytes>> theirs;
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->id == id) {
        entries_.splice(entries_.begin(), entries_, it);
        theirs = it->bytes;
        break;
      }
    if (!theirs.valid()) {
      token = ++last_token_;
      entries_.push_front(Entry{id, token, mine.get_future().share()});
      if (entries_.size() > capacity_) entries_.pop_back();  // its waiters hold their own future
    }
  }
  if (theirs.valid()) return theirs.get();  // never under the lock
  auto forget = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.remove_if([&](const Entry& e) { return e.token == token; });
  };
  Result<Bytes> loaded = [&]() -> Result<Bytes> {
    try {
      return load();
    } catch (...) {  // out of memory: the waiters see it, no later reader does
      forget();
      mine.set_exception(std::current_exception());
      throw;
    }
  }();
  if (!loaded.ok()) forget();
  mine.set_value(loaded);
  return loaded;
}

}  // namespace ciuicfs
