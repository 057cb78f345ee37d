# Fuzz targets of app/util (included by tests/fuzz/CMakeLists.txt).
# The library sources are compiled into each target (not only linked from
# dr_util) so the -libfuzzer build instruments them for coverage.
dr_add_fuzz_target(util_conf
  SOURCES util_conf.c ${PROJECT_SOURCE_DIR}/app/util/conf.c)
dr_add_fuzz_target(util_evlog_str
  SOURCES util_evlog_str.c ${PROJECT_SOURCE_DIR}/app/util/evlog.c
  LIBS Threads::Threads)
