# Fuzz target for vrouter/agent/proxy: the agent's ARP, DHCP and DNS
# parsing of frames punted from VM ports. The seed corpus holds frames
# captured from busybox udhcpc/nslookup/arping (realclient.sh) and the unit
# tests' hand-built requests.
if(NOT TARGET strata_agent_proxy)
  add_subdirectory(${PROJECT_SOURCE_DIR}/vrouter/agent/proxy ${PROJECT_BINARY_DIR}/vrouter/agent/proxy)
endif()
strata_fuzz_target(fuzz_agent_proxy
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent_proxy.c
  LIBS strata_agent_proxy LABELS agent
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/agent_proxy)
