# Fails when a layer includes what it must not: core/ no LibTorch and no Qt; ui/ no LibTorch.
# Run as: cmake -DSOURCE_DIR=... -P check_layering.cmake
set(_torch_re "#include[ \t]*[<\"](torch/|ATen/|c10/|caffe2/)")
set(_qt_re "#include[ \t]*[<\"](Q[A-Za-z]+|Qt[A-Za-z]+/)")
set(_violations "")

function(_scan folder regex what)
  file(GLOB_RECURSE _files "${SOURCE_DIR}/${folder}/*.h" "${SOURCE_DIR}/${folder}/*.cpp")
  foreach(_f IN LISTS _files)
    file(STRINGS "${_f}" _hits REGEX "${regex}")
    if(_hits)
      list(APPEND _violations "${_f}: ${what}: ${_hits}")
      set(_violations "${_violations}" PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

_scan(core "${_torch_re}" "core/ must not include LibTorch")
_scan(core "${_qt_re}" "core/ must not include Qt")
_scan(ui "${_torch_re}" "ui/ must not include LibTorch")

if(_violations)
  list(JOIN _violations "\n" _msg)
  message(FATAL_ERROR "layering violations:\n${_msg}")
endif()
message(STATUS "layering: core/ free of LibTorch and Qt, ui/ free of LibTorch")
