# Every required dependency comes from Debian 12's packages (scripts/setup installs them).

find_package(spdlog REQUIRED)
# LibTorch 2.x ships newer fmt headers (12.x in 2.11) in its include directory, which would hide the fmt that
# spdlog was built with. Every target puts spdlog's fmt first (lowmem_target_defaults); that works for any fmt
# outside the compiler's own directories, such as scripts/gpu-bundle's.
set(LOWMEM_FMT_INCLUDE_FIRST "")
foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
  if(EXISTS ${_dir}/fmt/core.h AND NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    get_target_property(_fmt_dirs fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
    foreach(_fmt IN LISTS _fmt_dirs)
      if(NOT _fmt IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
        list(APPEND LOWMEM_FMT_INCLUDE_FIRST ${_fmt})
      endif()
    endforeach()
    if(NOT LOWMEM_FMT_INCLUDE_FIRST)
      message(FATAL_ERROR "LibTorch ${LOWMEM_TORCH_VERSION} ships its own fmt headers (${_dir}/fmt), which hide "
        "the system fmt that spdlog needs: put scripts/gpu-bundle's prefix first in CMAKE_PREFIX_PATH")
    endif()
    break()
  endif()
endforeach()
find_package(nlohmann_json REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
# SHA-256 of model files (a patched model records its base): OpenSSL's libcrypto, Debian's libssl-dev.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
# Reading Debian's gzipped data sets (Fashion-MNIST's IDX files) for `validate --data`: zlib1g-dev.
find_package(ZLIB REQUIRED)
# RE2 (Debian ships pkg-config files only; found by path, so the GPU bundle's prefix works too): user regexes
# run in linear time, with bounded memory and nesting.
find_path(LOWMEM_RE2_INCLUDE_DIR re2/re2.h REQUIRED)
find_library(LOWMEM_RE2_LIBRARY re2 REQUIRED)
add_library(lowmem_re2 INTERFACE)
target_include_directories(lowmem_re2 SYSTEM INTERFACE ${LOWMEM_RE2_INCLUDE_DIR})
target_link_libraries(lowmem_re2 INTERFACE ${LOWMEM_RE2_LIBRARY})
if(LOWMEM_GUI)
  find_package(Qt6 REQUIRED COMPONENTS Widgets Charts Concurrent Svg Test)
endif()
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_package(Threads REQUIRED)

# Debian's python3-torch is the only Python that can load our op library; another python3 may come first on PATH.
set(LOWMEM_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with torch and torchvision (Debian's)")
