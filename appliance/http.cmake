# appliance/http: the HTTPS/1.1 server layer of the config role (strata_http).
# Included from appliance/CMakeLists.txt, or by its tests when that file does
# not include it yet; paths are relative to this file so either works.
# http-parser (libhttp-parser-dev) ships no pkg-config file in Debian 12.
if(NOT TARGET strata_http)
  find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
  find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
  add_library(strata_http STATIC ${CMAKE_CURRENT_LIST_DIR}/http.c)
  target_include_directories(strata_http PUBLIC ${PROJECT_SOURCE_DIR}
    PRIVATE ${HTTP_PARSER_INCLUDE_DIR})
  target_link_libraries(strata_http PUBLIC strata_lib PRIVATE ${HTTP_PARSER_LIBRARY})
endif()
