# Fuzz target for vrouter/msg, the agent <-> forwarding-plane message codec.
strata_fuzz_target(fuzz_vrouter_msg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vrouter_msg.c
  LIBS strata_vr_msg LABELS vrouter
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_msg)
