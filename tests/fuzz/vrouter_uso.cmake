# Fuzz target for strata-vrouter's fabric UDP segmentation offload: the
# UDP_GRO control messages the kernel hands back, the cutting of glued
# datagrams, and the gluing and rebuilding of fabric frames.
strata_fuzz_target(fuzz_vrouter_uso
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vrouter_uso.c
  LIBS strata_vrd LABELS vrouter
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_uso)
