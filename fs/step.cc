#include "fs/step.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <vector>

namespace ciuicfs {
namespace {

// A token, then optional separators, then the number; the token must not be
// the tail of a longer word ("xstep" does not count), "global_step" wins
// over "step" by being listed first.
const char kDefaultPattern[] =
    "(?:^|[^A-Za-z])(?:global_step|checkpoint|step|iter|ckpt|epoch)s?[-_.=]?([0-9]+)";

// How much a built-in token's number says the step: epoch least, ckpt
// (often a counter of saves) next, the others most.
int Rank(std::string match) {
  for (char& c : match) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (match.find("epoch") != std::string::npos) return 0;
  if (match.find("ckpt") != std::string::npos) return 1;
  return 2;
}

std::optional<int64_t> ParseInt(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

}  // namespace

std::optional<StepParser> StepParser::Create(const std::string& pattern, std::string* error) {
  try {
    std::regex re(pattern.empty() ? kDefaultPattern : pattern, std::regex::ECMAScript | std::regex::icase);
    if (re.mark_count() != 1) {
      *error = "step pattern must have exactly one capture group, around the number";
      return std::nullopt;
    }
    return StepParser(std::move(re), pattern.empty());
  } catch (const std::regex_error& e) {
    *error = std::string("bad step pattern: ") + e.what();
    return std::nullopt;
  }
}

std::optional<int64_t> StepParser::FromPath(const std::string& path) const {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  // The last component that names a step, and in it the last match of the
  // highest rank (step.h).
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    std::optional<int64_t> best;
    int best_rank = -1;
    for (std::sregex_iterator m(it->begin(), it->end(), re_), end; m != end; ++m) {
      auto v = ParseInt((*m)[1].str());
      const int rank = ranked_ ? Rank(m->str(0)) : 0;
      if (v && rank >= best_rank) best = v, best_rank = rank;
    }
    if (best) return best;
  }
  return std::nullopt;
}

std::optional<int64_t> StepParser::FromXattr(const std::string& value) {
  std::string v = value;
  while (!v.empty() && (v.back() == '\n' || v.back() == '\0' || v.back() == ' ')) v.pop_back();
  return ParseInt(v);
}

}  // namespace ciuicfs
