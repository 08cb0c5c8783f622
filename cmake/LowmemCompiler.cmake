# Compiler launcher, warnings, sanitizers and the LibTorch precompiled header.

find_program(LOWMEM_CCACHE ccache)
if(LOWMEM_CCACHE)
  # The sloppiness settings let ccache cache translation units that use a precompiled header.
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${LOWMEM_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${LOWMEM_CCACHE})
  message(STATUS "lowmem: compiling through ccache (${LOWMEM_CCACHE})")
endif()

set(LOWMEM_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address;undefined")

# Applied to every target the project owns; third-party headers come in as SYSTEM includes.
function(lowmem_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
  if(LOWMEM_SANITIZE)
    list(JOIN LOWMEM_SANITIZE "," _san)
    target_compile_options(${target} PRIVATE -fsanitize=${_san} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()

# A precompiled <torch/script.h> takes a LibTorch-heavy file from ~17 s to ~7 s on these machines.
function(lowmem_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/script.h>)
endfunction()
