# Installing extract-sync (`cmake --install`) and packaging it as a .deb (`cpack -G DEB`).
# Included last by the top-level CMakeLists.txt, once every program target exists.
# Layout and the reasons behind it: docs/operations.md.
include(GNUInstallDirs)

# extract-sim is installed too: it is the demo and rehearsal upstream (scripts/demo, trying
# extractctl and a configuration without an account). It listens on 127.0.0.1 only, and only
# when someone runs it.
# Components (cmake --install build --component NAME): runtime (programs, man pages, completions),
# service (units, /etc configuration), doc (README, docs, example, copyright, changelog).
install(TARGETS extract-syncd extractctl extract-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# Man pages and extractctl's bash and zsh completions, generated from one source each (the
# programs' --help texts, docs/configuration.md: cmake/man_and_completions.py), gzipped as Debian
# installs them. tests/install checks them (`man -l` without warnings).
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(EXTRACT_GENERATED ${PROJECT_BINARY_DIR}/generated)
set(EXTRACT_MAN_PAGES ${EXTRACT_GENERATED}/man8/extract-syncd.8.gz ${EXTRACT_GENERATED}/man1/extractctl.1.gz
                      ${EXTRACT_GENERATED}/man5/extract-sync.ini.5.gz)
set(EXTRACT_COMPLETIONS ${EXTRACT_GENERATED}/completions/extractctl ${EXTRACT_GENERATED}/completions/_extractctl)
add_custom_command(
  OUTPUT ${EXTRACT_MAN_PAGES} ${EXTRACT_COMPLETIONS}
  COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/cmake/man_and_completions.py ${EXTRACT_GENERATED}
          ${PROJECT_VERSION} $<TARGET_FILE:extract-syncd> $<TARGET_FILE:extractctl>
          ${PROJECT_SOURCE_DIR}/docs/configuration.md
  DEPENDS extract-syncd extractctl ${PROJECT_SOURCE_DIR}/cmake/man_and_completions.py
          ${PROJECT_SOURCE_DIR}/docs/configuration.md
  COMMENT "Man pages and extractctl completions from the --help texts and docs/configuration.md"
  VERBATIM)
add_custom_target(man_and_completions ALL DEPENDS ${EXTRACT_MAN_PAGES} ${EXTRACT_COMPLETIONS})
install(FILES ${EXTRACT_GENERATED}/man8/extract-syncd.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT runtime)
install(FILES ${EXTRACT_GENERATED}/man1/extractctl.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
install(FILES ${EXTRACT_GENERATED}/man5/extract-sync.ini.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT runtime)
install(FILES ${EXTRACT_GENERATED}/completions/extractctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)
install(FILES ${EXTRACT_GENERATED}/completions/_extractctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT runtime)

# The docs keep the layout the README links (docs/*.md beside README.md).
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT doc)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs COMPONENT doc FILES_MATCHING PATTERN "*.md")
install(FILES config/extract-sync.ini DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT doc)
# Debian wants a copyright file and (a native package) changelog.gz in the doc directory.
install(FILES cmake/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT doc)
string(TIMESTAMP EXTRACT_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${EXTRACT_GENERATED}/changelog
     "extract-sync (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
     "  * Release ${PROJECT_VERSION}: see README.md and docs/.\n\n"
     " -- extract-sync maintainers <extract-sync@example.org>  ${EXTRACT_CHANGELOG_DATE}\n")
execute_process(COMMAND gzip -9nf ${EXTRACT_GENERATED}/changelog RESULT_VARIABLE gzip_result)
if(NOT gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip ${EXTRACT_GENERATED}/changelog failed: ${gzip_result}")
endif()
install(FILES ${EXTRACT_GENERATED}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT doc)

# The configuration lives where extract-syncd looks by default, whatever the prefix, and an
# edited one is never overwritten: installed only when absent. (In the .deb it is a conffile,
# which dpkg keeps and asks about on upgrade.)
# file(INSTALL) puts $DESTDIR in front of the absolute destination itself.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}/etc/extract-sync/extract-sync.ini\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}/etc/extract-sync/extract-sync.ini (an existing configuration is never replaced)\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/config/extract-sync.ini\" DESTINATION /etc/extract-sync
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
" COMPONENT service)

# ---- the Debian package ---------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME extract-sync)
set(CPACK_PACKAGE_VENDOR "extract-sync")
set(CPACK_PACKAGE_CONTACT "extract-sync maintainers <extract-sync@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "Keeps a durable local mirror of every batch of an extract API account, records every status "
    "transition, serves it over a Unix-socket HTTP API and the extractctl CLI, and fires signed "
    "webhooks and local commands when batches change state. Runs as the systemd service extract-syncd.")
# The package installs under the configured prefix, so that the unit's ExecStart (configured
# from it) names the packaged binary: build the .deb with -DCMAKE_INSTALL_PREFIX=/usr.
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
# Staged through DESTDIR, so that /etc/extract-sync (an absolute path) lands in the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The debug information stays in the build tree; the package carries stripped binaries.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://api.extract.page")
# Depends computed from the binaries' shared libraries (libpoco*, libsqlitecpp0, libspdlog1.10,
# libsystemd0, libssl3, ...); dpkg-shlibdeps comes with dpkg-dev (build-essential).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "sqlite3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/cmake/debian/conffiles;${PROJECT_SOURCE_DIR}/cmake/debian/postinst;${PROJECT_SOURCE_DIR}/cmake/debian/prerm;${PROJECT_SOURCE_DIR}/cmake/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
