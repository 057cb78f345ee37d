# Fuzz targets of app/export (included by tests/fuzz/CMakeLists.txt): every
# parser of a staff stick's contents. Files are read with size caps and
# O_NOFOLLOW before they reach these parsers (tested in
# tests/integration/test_stick_export.py).
foreach(t token receipt manifest revocations)
  dr_add_fuzz_target(export_${t}
    SOURCES export_${t}.c ${PROJECT_SOURCE_DIR}/app/export/stickfmt.c
    LIBS PkgConfig::JSONC PkgConfig::SODIUM)
endforeach()
