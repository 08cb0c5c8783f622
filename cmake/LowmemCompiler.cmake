# Compiler launcher, warnings, sanitizers and the LibTorch precompiled header.

find_program(LOWMEM_CCACHE ccache)
if(LOWMEM_CCACHE)
  # The sloppiness settings let ccache cache translation units that use a precompiled header. The base
  # directory and no hashed working directory let two build folders of one checkout (the main build and
  # scripts/gpu-check --rehearse's headless one, which CI runs back to back) and two clones share results:
  # their commands differ only in absolute paths. The price: debug info names the first build's folder.
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_NOHASHDIR=true ${LOWMEM_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}
      CCACHE_NOHASHDIR=true ${LOWMEM_CCACHE})
  message(STATUS "lowmem: compiling through ccache (${LOWMEM_CCACHE})")
endif()

set(LOWMEM_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address;undefined")
# Off only for scripts/gpu-check's one-shot build with the GPU machine's GCC 13, whose new warnings are
# collected from its log and fixed here rather than costing a rerun of the device's limited time.
option(LOWMEM_WERROR "Treat compiler warnings as errors" ON)

# Applied to every target the project owns; third-party headers come in as SYSTEM includes.
function(lowmem_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${LOWMEM_WERROR}>:-Werror>)
  if(LOWMEM_FMT_INCLUDE_FIRST)
    target_include_directories(${target} SYSTEM BEFORE PRIVATE ${LOWMEM_FMT_INCLUDE_FIRST})
  endif()
  # GCC 12 and 13 report std::vector<bool>::reserve, inlined from LibTorch 2.x's autograd::Function::apply, as
  # out of bounds and overflowing (known false positives of -Warray-bounds/-Wstringop-overflow in libstdc++);
  # Debian's GCC 12 with LibTorch 1.13 never reaches it, the GPU machine's GCC 13 with LibTorch 2.11 does.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND Torch_VERSION VERSION_GREATER_EQUAL 2)
    target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:-Wno-array-bounds;-Wno-stringop-overflow>")
  endif()
  if(LOWMEM_SANITIZE)
    list(JOIN LOWMEM_SANITIZE "," _san)
    # vptr checks need the RTTI of every polymorphic class they meet; Debian's LibTorch does not export
    # c10::DynamicType's typeinfo, so a vptr-checked call into it cannot even link.
    # GCC 12 at -O2 with ASan warns that libstdc++'s own std::regex state "may be used uninitialized": a known
    # false positive of the sanitizer build only, which -Werror would turn into a failed build.
    target_compile_options(${target} PRIVATE -fsanitize=${_san} -fno-sanitize=vptr -fno-omit-frame-pointer
                                             -Wno-maybe-uninitialized)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()

# A precompiled <torch/script.h> takes a LibTorch-heavy file from ~17 s to ~7 s on these machines. It is built
# once, in lowmem_torch_pch_host, and every other target reuses it: one copy is 416 MB, and a copy per target
# (11 of them, twice with the GPU rehearsal's build) filled a CI machine's disk before the tests were built.
# Reuse needs the same code-generation flags, which every user has: static libraries and executables, no -fPIC.
function(lowmem_torch_pch target)
  if(NOT TARGET lowmem_torch_pch_host)
    add_library(lowmem_torch_pch_host OBJECT ${PROJECT_SOURCE_DIR}/cmake/torch_pch_host.cpp)
    target_link_libraries(lowmem_torch_pch_host PRIVATE lowmem_torch)
    lowmem_target_defaults(lowmem_torch_pch_host)
    target_precompile_headers(lowmem_torch_pch_host PRIVATE <torch/script.h>)
  endif()
  target_precompile_headers(${target} REUSE_FROM lowmem_torch_pch_host)
endfunction()
