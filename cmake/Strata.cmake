# Compiler flags (STYLE.md) and the helpers every area uses to declare
# libraries, unit tests and fuzz targets.

set(STRATA_WARNINGS
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
  -Wimplicit-fallthrough -Wswitch-enum -Wno-unused-parameter)
if(STRATA_WERROR)
  list(APPEND STRATA_WARNINGS -Werror)
endif()

set(STRATA_HARDENING -fstack-protector-strong -fstack-clash-protection -fcf-protection)
set(STRATA_SAN_FLAGS "")
if(STRATA_ASAN)
  list(APPEND STRATA_SAN_FLAGS -fsanitize=address)
endif()
if(STRATA_UBSAN)
  list(APPEND STRATA_SAN_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined)
endif()
if(STRATA_TSAN)
  list(APPEND STRATA_SAN_FLAGS -fsanitize=thread)
endif()
if(STRATA_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "STRATA_FUZZ needs clang (CC=clang)")
  endif()
  list(APPEND STRATA_SAN_FLAGS -fsanitize=fuzzer-no-link,address,undefined)
endif()

add_compile_options(${STRATA_WARNINGS} ${STRATA_HARDENING} ${STRATA_SAN_FLAGS}
  -fno-omit-frame-pointer)
add_link_options(${STRATA_SAN_FLAGS} -Wl,-z,relro -Wl,-z,now)
# _FORTIFY_SOURCE needs optimisation and fights with the sanitizers' interceptors.
if(NOT STRATA_SAN_FLAGS AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_compile_definitions(_GNU_SOURCE)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_definitions(STRATA_TEST_HOOKS=1)
endif()

find_program(STRATA_VALGRIND valgrind)
set(STRATA_TEST_TIMEOUT 120)

# strata_unit_test(NAME SOURCES a.c b.c LIBS x y LABELS area [TIMEOUT s])
# A cmocka test binary; registered once as NAME (labels: area, unit) and, in
# non-sanitizer builds with valgrind present, once more as NAME.valgrind
# (labels: area, valgrind) failing on any memory error or leak.
function(strata_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${STRATA_TEST_TIMEOUT})
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS};unit" TIMEOUT ${T_TIMEOUT})
  if(STRATA_VALGRIND_TESTS AND STRATA_VALGRIND AND NOT STRATA_SAN_FLAGS)
    add_test(NAME ${name}.valgrind COMMAND ${STRATA_VALGRIND} --quiet
      --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --track-fds=no $<TARGET_FILE:${name}>)
    math(EXPR vg_timeout "${T_TIMEOUT} * 4")
    set_tests_properties(${name}.valgrind PROPERTIES LABELS "${T_LABELS};valgrind"
      TIMEOUT ${vg_timeout} ENVIRONMENT "STRATA_UNDER_VALGRIND=1")
  endif()
endfunction()

# strata_fuzz_target(NAME SOURCES f.c LIBS x LABELS area CORPUS dir)
# With STRATA_FUZZ a libFuzzer binary; otherwise the same entry point linked
# with tests/fuzz/driver.c and run over the seed corpus as a regression test.
function(strata_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS;LABELS" ${ARGN})
  if(STRATA_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/driver.c)
    add_test(NAME ${name}.corpus COMMAND ${name} ${F_CORPUS})
    set_tests_properties(${name}.corpus PROPERTIES LABELS "${F_LABELS};fuzz-corpus" TIMEOUT 120)
  endif()
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  set_property(GLOBAL APPEND PROPERTY STRATA_FUZZ_TARGETS "${name}=${F_CORPUS}")
endfunction()
