# Fuzz targets of the office PC (tools/admin) and of the sealed-file readers
# it runs on files from sticks and archives.
dr_add_fuzz_target(seal_reader SOURCES seal_reader.c
  ${PROJECT_SOURCE_DIR}/tools/admin/seal.c ${PROJECT_SOURCE_DIR}/tools/admin/keys.c
  ${PROJECT_SOURCE_DIR}/tools/admin/orgkey.c
  LIBS dr_seal dr_media dr_stickfmt PkgConfig::JSONC PkgConfig::SODIUM)
target_include_directories(seal_reader PRIVATE ${PROJECT_SOURCE_DIR}/tools/admin)
dr_add_fuzz_target(admin_audit SOURCES admin_audit.c LIBS dr_admin_audit)
dr_add_fuzz_target(admin_orgkey SOURCES admin_orgkey.c ${PROJECT_SOURCE_DIR}/tools/admin/orgkey.c
  LIBS PkgConfig::JSONC PkgConfig::SODIUM)
target_include_directories(admin_orgkey PRIVATE ${PROJECT_SOURCE_DIR}/tools/admin)
if(DR_FUZZ)
  target_include_directories(seal_reader-libfuzzer PRIVATE ${PROJECT_SOURCE_DIR}/tools/admin)
  target_include_directories(admin_orgkey-libfuzzer PRIVATE ${PROJECT_SOURCE_DIR}/tools/admin)
endif()
# An archive made before the catalogue (per-box index.json), migrated on
# open: each input costs a SQLite open and a transaction, so fewer inputs.
set(DR_ADM ${PROJECT_SOURCE_DIR}/tools/admin)
dr_add_fuzz_target(admin_migrate SOURCES admin_migrate.c ${DR_ADM}/archive.c
  ${DR_ADM}/archive_sqlite.c ${DR_ADM}/archive_sqlite_rows.c ${DR_ADM}/archive_migrate.c
  ${DR_ADM}/archive_path.c
  ${DR_ADM}/keys.c ${DR_ADM}/orgkey.c
  LIBS dr_stickfmt PkgConfig::JSONC PkgConfig::SODIUM PkgConfig::SQLITE)
target_include_directories(admin_migrate PRIVATE ${DR_ADM})
set_tests_properties(fuzz_admin_migrate PROPERTIES ENVIRONMENT DR_FUZZ_ITERATIONS=3000)
if(DR_FUZZ)
  target_include_directories(admin_migrate-libfuzzer PRIVATE ${DR_ADM})
endif()
# The --changes file staff give collect (parse_changes in collect_index.c),
# linked with the rest of diaryroom-admin but its main.
file(GLOB DR_ADM_ALL ${DR_ADM}/*.c)
# (the browser copy, with or without FFmpeg, is its own library; serve*.c
# need libmicrohttpd, not needed here)
list(REMOVE_ITEM DR_ADM_ALL ${DR_ADM}/admin.c ${DR_ADM}/webcopy.c ${DR_ADM}/webcopy_none.c
  ${DR_ADM}/serve.c ${DR_ADM}/serve_pages.c ${DR_ADM}/serve_play.c)
list(FILTER DR_ADM_ALL EXCLUDE REGEX "/serve_[a-z_]+\\.c$") # every page of serve, present and future
# (the engagement report and share copies: reached only from admin.c and serve)
list(REMOVE_ITEM DR_ADM_ALL ${DR_ADM}/report.c ${DR_ADM}/share.c ${DR_ADM}/sharecopy.c
  ${DR_ADM}/sharevideo.c ${DR_ADM}/sharevideo_none.c
  ${DR_ADM}/mcadams.c)
dr_add_fuzz_target(admin_changes SOURCES admin_changes.c ${DR_ADM_ALL}
  LIBS dr_stickfmt dr_seal dr_media dr_admin_webcopy PkgConfig::JSONC PkgConfig::SODIUM
  PkgConfig::SQLITE)
target_include_directories(admin_changes PRIVATE ${DR_ADM})
if(DR_FUZZ)
  target_include_directories(admin_changes-libfuzzer PRIVATE ${DR_ADM})
endif()
# What diaryroom-admin serve parses from requests (Range, Cookie, form bodies).
dr_add_fuzz_target(admin_serve_parse SOURCES admin_serve_parse.c ${DR_ADM}/serve_parse.c)
target_include_directories(admin_serve_parse PRIVATE ${DR_ADM})
if(DR_FUZZ)
  target_include_directories(admin_serve_parse-libfuzzer PRIVATE ${DR_ADM})
endif()
# The walk of a staff stick (stick_walk, collect_walk.c) and the reads of
# the boxes' manifest files, on folder trees built in a scratch folder: each
# input costs a few dozen file system calls, so fewer inputs.
dr_add_fuzz_target(admin_stick_walk SOURCES admin_stick_walk.c ${DR_ADM}/collect_walk.c
  LIBS dr_stickfmt PkgConfig::JSONC PkgConfig::SODIUM)
target_include_directories(admin_stick_walk PRIVATE ${DR_ADM})
set_tests_properties(fuzz_admin_stick_walk PROPERTIES ENVIRONMENT DR_FUZZ_ITERATIONS=3000)
if(DR_FUZZ)
  target_include_directories(admin_stick_walk-libfuzzer PRIVATE ${DR_ADM})
endif()
