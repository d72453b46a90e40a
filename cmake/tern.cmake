# Helpers shared by every module's CMakeLists.txt.

# tern_test(NAME LABELS label... SOURCES src... LIBS lib... [TIMEOUT seconds])
# One GoogleTest executable, registered as one ctest test with the given labels
# (unit, netns, interop, e2e). Every test has a timeout: nothing waits forever.
function(tern_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS;SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE TERN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             TERN_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  if("unit" IN_LIST T_LABELS)
    set_property(GLOBAL APPEND PROPERTY TERN_UNIT_TESTS ${name})
  endif()
endfunction()

# tern_fuzzer(NAME SOURCES src... LIBS lib... CORPUS dir... [SECONDS n])
# The source defines LLVMFuzzerTestOneInput. With TERN_FUZZ (clang) it becomes a libFuzzer
# binary run for a bounded time under the `fuzz` label; in every build it is also linked
# with a replay driver that feeds it each corpus file, as a `unit` regression test.
function(tern_fuzzer name)
  cmake_parse_arguments(F "" "SECONDS" "SOURCES;LIBS;CORPUS" ${ARGN})
  if(NOT F_SECONDS)
    set(F_SECONDS 60)
  endif()
  add_executable(${name}_replay ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE ${F_LIBS})
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${F_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES LABELS unit TIMEOUT 300)
  set_property(GLOBAL APPEND PROPERTY TERN_UNIT_TESTS ${name}_replay)
  if(TERN_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
    # A fresh working corpus each run, seeded from the checked-in one; -max_total_time bounds it.
    add_test(NAME ${name}
             COMMAND sh -c "rm -rf '${work}' && mkdir -p '${work}' && exec \"$0\" -max_total_time=${F_SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 '${work}' \"$@\""
                     $<TARGET_FILE:${name}> ${F_CORPUS})
    set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT ${F_SECONDS}0)
    set_property(GLOBAL APPEND PROPERTY TERN_FUZZERS ${name})
  endif()
endfunction()

# tern_static_alternative(TARGET SHARED_DEP STATIC_FLAGS)
# Executables with the TERN_STATIC property link fully static (-static): an imported
# shared library in TARGET's link interface is swapped for STATIC_FLAGS (-l names, which a
# static link resolves to the .a archives). Everyone else links as before.
function(tern_static_alternative target shared_dep static_flags)
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  list(TRANSFORM deps REPLACE "^${shared_dep}$"
       "$<IF:$<BOOL:$<TARGET_PROPERTY:TERN_STATIC>>,${static_flags},${shared_dep}>")
  set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${deps}")
endfunction()

# tern_static_executable(TARGET): a program that runs once per request (the CNI plugins,
# called by the runtime for every Pod) links statically: no dynamic loader relocating
# libprotobuf at every start. Sanitizer builds cannot link statically and stay dynamic.
function(tern_static_executable target)
  if(NOT TERN_SANITIZE)
    set_target_properties(${target} PROPERTIES TERN_STATIC ON)
    # -w: glibc warns that libnl's name lookups (getaddrinfo, getprotobyname) need its
    # shared NSS modules at run time; tern never asks libnl to resolve names.
    target_link_options(${target} PRIVATE -static -Wl,-w)
  endif()
endfunction()
