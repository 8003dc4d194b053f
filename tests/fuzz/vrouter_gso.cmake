# Fuzz target for strata-vrouter's GSO passthrough (what a VM hands its port).
strata_fuzz_target(fuzz_vrouter_gso
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vrouter_gso.c
  LIBS strata_vrd LABELS vrouter
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_gso)
