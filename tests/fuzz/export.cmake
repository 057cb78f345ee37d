# Fuzz targets of app/export (included by tests/fuzz/CMakeLists.txt): every
# parser of a staff stick's contents. Files are read with size caps and
# O_NOFOLLOW before they reach these parsers (tested in
# tests/integration/test_stick_export.py).
# The parsers are compiled into each target (not linked from dr_stickfmt)
# so that a libFuzzer build instruments them.
set(DR_STICKFMT_SOURCES
  ${PROJECT_SOURCE_DIR}/app/export/stickfmt.c
  ${PROJECT_SOURCE_DIR}/app/export/stickfmt_json.c
  ${PROJECT_SOURCE_DIR}/app/export/stickfmt_receipt.c
  ${PROJECT_SOURCE_DIR}/app/export/stickfmt_manifest.c)
foreach(t token receipt manifest revocations)
  dr_add_fuzz_target(export_${t}
    SOURCES export_${t}.c ${DR_STICKFMT_SOURCES}
    LIBS PkgConfig::JSONC PkgConfig::SODIUM)
endforeach()
