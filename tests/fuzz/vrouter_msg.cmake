# Fuzz target for vrouter/msg, the agent <-> forwarding-plane message codec.
strata_fuzz_target(fuzz_vrouter_msg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vrouter_msg.c
  LIBS strata_vr_msg LABELS vrouter
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_msg)

# Its seeds come from the unit tests' samples (one per frame type): the
# generator, and a test that the committed corpus holds every sample.
add_executable(vrouter_msg_corpus ${CMAKE_CURRENT_LIST_DIR}/vrouter_msg_corpus.c)
target_link_libraries(vrouter_msg_corpus PRIVATE strata_vr_msg)
add_test(NAME vrouter_msg_corpus_current
  COMMAND vrouter_msg_corpus --check ${CMAKE_CURRENT_LIST_DIR}/corpus/vrouter_msg)
set_tests_properties(vrouter_msg_corpus_current PROPERTIES LABELS "vrouter;unit")
