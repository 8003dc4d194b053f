# Fuzz targets for vrouter/ (the forwarding core).
strata_fuzz_target(fuzz_vrouter_frame
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vrouter_frame.c
  LIBS strata_dp LABELS vrouter
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_frame)
