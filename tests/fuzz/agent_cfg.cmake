# Fuzz target for vrouter/agent/agent_cfg.c: CONFIG objects (interface,
# network, ACL and global-vrouter-config property texts) into ports,
# policies and flow decisions. Seeds: tests/fuzz/corpus/agent_cfg (one
# object or event per line, see fuzz_agent_cfg.c).
if(NOT TARGET strata_agent_core)
  add_subdirectory(${PROJECT_SOURCE_DIR}/vrouter/agent ${PROJECT_BINARY_DIR}/vrouter/agent)
endif()
strata_fuzz_target(fuzz_agent_cfg
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_agent_cfg.c
  LIBS strata_agent_cfg LABELS agent
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/agent_cfg)
