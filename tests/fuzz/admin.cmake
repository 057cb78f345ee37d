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
