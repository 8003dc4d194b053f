# Fuzz targets for compiler/.
strata_fuzz_target(fuzz_compiler_validate
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_compiler_validate.c
  LIBS strata_schema LABELS compiler
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/compiler_validate)
strata_fuzz_target(fuzz_compiler_schema_load
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_compiler_schema_load.c
  LIBS strata_schema LABELS compiler
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/compiler_schema_load)
