# What `cmake --install` puts where, and the Debian package CPack makes of
# it (scripts/package.sh). Included at the end of fs/CMakeLists.txt, which
# has chosen the libfuse. Only the ciuicfs command is installed:
# the bundled trainer and the tests stay build-tree programs.
include(GNUInstallDirs)
# `install` and `cpack` take what is built; scripts/package.sh builds only
# the targets installed here, not the trainer and the tests.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# ciuicfs finds a libfuse it brings along (.deps/libfuse, >= 3.17 for kernel
# passthrough) in a private directory, so it never shadows the system's.
set(CIUICFS_PRIVATE_LIBDIR "${CMAKE_INSTALL_LIBDIR}/ciuicfs")
install(TARGETS ciuicfs RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
if(_ciuicfs_fuse3_from STREQUAL ".deps/libfuse" AND NOT CIUICFS_CARRY)
  set_target_properties(ciuicfs PROPERTIES INSTALL_RPATH "\$ORIGIN/../${CIUICFS_PRIVATE_LIBDIR}")
  file(GLOB _ciuicfs_fuse_libs "${FUSE3_LIBRARY_DIRS}/libfuse3.so.*")
  install(FILES ${_ciuicfs_fuse_libs} DESTINATION "${CIUICFS_PRIVATE_LIBDIR}")
endif()

# Man pages from the --help text (scripts/manpages.sh, help2man).
find_program(CIUICFS_HELP2MAN help2man)
if(CIUICFS_HELP2MAN)
  add_custom_command(OUTPUT "${CMAKE_BINARY_DIR}/man/ciuicfs.1.gz"
                     COMMAND "${PROJECT_SOURCE_DIR}/scripts/manpages.sh" "$<TARGET_FILE:ciuicfs>" "${CMAKE_BINARY_DIR}/man"
                     DEPENDS ciuicfs "${PROJECT_SOURCE_DIR}/scripts/manpages.sh"
                     COMMENT "Man pages from ciuicfs --help")
  add_custom_target(ciuicfs_man ALL DEPENDS "${CMAKE_BINARY_DIR}/man/ciuicfs.1.gz")
  install(DIRECTORY "${CMAKE_BINARY_DIR}/man/" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" FILES_MATCHING PATTERN "*.1.gz")
else()
  message(STATUS "ciuicfs: help2man not found, no man pages (scripts/setup.sh installs it)")
endif()

install(FILES "${PROJECT_SOURCE_DIR}/fs/dist/ciuicfs.bash-completion" DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions"
        RENAME ciuicfs)
install(FILES "${PROJECT_SOURCE_DIR}/README.md" "${PROJECT_SOURCE_DIR}/store/FORMAT.md"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/fs/README.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME mount.md)
install(FILES "${PROJECT_SOURCE_DIR}/fs/dist/ckpt.mount" DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")

# The Debian package: `cpack -G DEB` in the build directory.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ciuicfs)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "ciuicfs engineers <ciuicfs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "checkpoint store for ML training, as a FUSE filesystem")
set(CPACK_PACKAGE_DESCRIPTION
    "Every checkpoint a trainer saves into a ciuicfs mount becomes an immutable, deduplicated version in a git-like chain, readable forever as an ordinary path.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # libc, LMDB, xxHash, zstd, Boost, librados, from the binary
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${FUSE3_LIBRARY_DIRS}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")  # mount.fuse3 and fusermount3
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "graphviz, man-db")
set(CPACK_OUTPUT_FILE_PREFIX "${CMAKE_BINARY_DIR}/package")
include(CPack)
