# Fuzz target for routing/xmpp: the stream parser and the Contrail stanza
# codec, fed arbitrary bytes as a connection's stream.
strata_fuzz_target(fuzz_xmpp_stream
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_xmpp_stream.c
  LIBS strata_xmpp LABELS routing
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/xmpp_stream)
