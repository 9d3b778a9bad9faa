# Writes OUTPUT, a C++ header holding each file of INPUTS (a '|'-separated
# list of paths) as a raw string literal: page.html -> page::kPageHtml,
# page.js -> page::kPageJs. Run by fs/CMakeLists.txt at build time
# (cmake -P), so the page is edited as the plain files it is.
string(REPLACE "|" ";" inputs "${INPUTS}")
set(delim "ciuicfs_ui")
set(text "// Generated from fs/ui/page.* by fs/ui/embed.cmake; do not edit.\n#pragma once\n#include <string_view>\n\nnamespace ciuicfs::ui::page {\n")
foreach(input IN LISTS inputs)
  get_filename_component(name "${input}" NAME)
  file(READ "${input}" content)
  string(FIND "${content}" ")${delim}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${input} holds the raw string delimiter )${delim}\"")
  endif()
  # page.html -> PageHtml
  string(REPLACE "." ";" parts "${name}")
  set(ident "k")
  foreach(part IN LISTS parts)
    string(SUBSTRING "${part}" 0 1 first)
    string(SUBSTRING "${part}" 1 -1 rest)
    string(TOUPPER "${first}" first)
    string(APPEND ident "${first}${rest}")
  endforeach()
  string(APPEND text "inline constexpr std::string_view ${ident} = R\"${delim}(${content})${delim}\";\n")
endforeach()
string(APPEND text "}  // namespace ciuicfs::ui::page\n")
file(WRITE "${OUTPUT}.tmp" "${text}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
