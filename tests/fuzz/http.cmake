# Fuzz target for appliance/http: raw bytes as a connection's input stream.
include(${PROJECT_SOURCE_DIR}/appliance/http.cmake)
strata_fuzz_target(fuzz_http_request
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http_request.c
  LIBS strata_http LABELS api
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/http_request)
