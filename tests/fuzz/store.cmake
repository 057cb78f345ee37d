# Fuzz targets of app/store (included by tests/fuzz/CMakeLists.txt).
# store_catalogue: dr_store_open() and every query on a catalogue file of
# arbitrary bytes; a recording file must survive every input. Each input opens
# a database (and may commit with synchronous=FULL), so it is far slower than
# a parser target: fewer mutated inputs by default.
dr_add_fuzz_target(store_catalogue
  SOURCES store_catalogue.c
    ${PROJECT_SOURCE_DIR}/app/store/store.c
    ${PROJECT_SOURCE_DIR}/app/store/store_rec.c
    ${PROJECT_SOURCE_DIR}/app/store/store_media.c
    ${PROJECT_SOURCE_DIR}/app/store/store_consent.c
    ${PROJECT_SOURCE_DIR}/app/store/store_schema.c
    ${PROJECT_SOURCE_DIR}/app/store/store_hash.c
    ${PROJECT_SOURCE_DIR}/app/store/store_time.c
  LIBS PkgConfig::SQLITE PkgConfig::SODIUM)
set_tests_properties(fuzz_store_catalogue PROPERTIES ENVIRONMENT DR_FUZZ_ITERATIONS=5000)
