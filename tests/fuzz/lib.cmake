# Fuzz targets for lib/.
strata_fuzz_target(fuzz_lib_cursor
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_lib_cursor.c
  LIBS strata_lib LABELS lib
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/lib_cursor)
