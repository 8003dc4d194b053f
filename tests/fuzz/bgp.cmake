# Fuzz target for routing/bgp, the BGP message codec.
strata_fuzz_target(fuzz_bgp_msg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_bgp_msg.c
  LIBS strata_bgp LABELS routing
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/bgp_msg)
