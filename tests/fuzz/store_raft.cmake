# Fuzz targets for the store's raft transport.
strata_fuzz_target(fuzz_store_raft_frame
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_store_raft_frame.c
  LIBS strata_store_raft LABELS store
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/store_raft_frame)
