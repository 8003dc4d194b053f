# Fuzz targets for store/ (the command/reply codec).
strata_fuzz_target(fuzz_store_cmd
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_store_cmd.c
  LIBS strata_store_fsm LABELS store
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/store_cmd)
