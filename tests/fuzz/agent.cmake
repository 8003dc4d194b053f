# Fuzz target for vrouter/agent: frames punted by the datapath (punt header
# parsing and the flow-miss path: IPv4 parsing, decision, flow table,
# re-injection frames). Seeds: punted ARP/flow-miss frames, TCP/UDP/ICMP,
# fragments, options, truncations (tests/fuzz/agent_punt_corpus.py).
if(NOT TARGET strata_agent_core)
  add_subdirectory(${PROJECT_SOURCE_DIR}/vrouter/agent ${PROJECT_BINARY_DIR}/vrouter/agent)
endif()
strata_fuzz_target(fuzz_agent_punt
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent_punt.c
  LIBS strata_agent_core LABELS agent
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/agent_punt)
