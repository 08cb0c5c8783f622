# Fails when a source file differs from what clang-format (the repo's .clang-format) makes of it.
# Run as: cmake -DSOURCE_DIR=... -DCLANG_FORMAT=... -P check_format.cmake
set(_dirs app bench core fuzz kernels models patcher profiler service tests ui)
set(_files "")
foreach(_d IN LISTS _dirs)
  file(GLOB_RECURSE _found "${SOURCE_DIR}/${_d}/*.h" "${SOURCE_DIR}/${_d}/*.cpp" "${SOURCE_DIR}/${_d}/*.cu"
       "${SOURCE_DIR}/${_d}/*.cuh")
  list(APPEND _files ${_found})
endforeach()
execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${_files} RESULT_VARIABLE _rc ERROR_VARIABLE _err
                WORKING_DIRECTORY ${SOURCE_DIR})
if(NOT _rc EQUAL 0)
  string(REGEX MATCHALL "[^\n]*(warning|error):[^\n]*" _lines "${_err}")
  list(LENGTH _lines _count)
  list(SUBLIST _lines 0 10 _first)
  list(JOIN _first "\n" _msg)
  message(FATAL_ERROR "${_count} formatting differences (run `make format`):\n${_msg}")
endif()
list(LENGTH _files _n)
message(STATUS "format: ${_n} files match .clang-format")
