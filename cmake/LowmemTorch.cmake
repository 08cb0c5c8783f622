# LibTorch: Debian's 1.13 (CPU) here, or a PyTorch 2.x install's (CUDA) through CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)

# TorchConfig puts _GLIBCXX_USE_CXX11_ABI and friends in TORCH_CXX_FLAGS; the imported target carries the rest.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_library(lowmem_torch INTERFACE)
target_link_libraries(lowmem_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(lowmem_torch INTERFACE ${_torch_flags})
set(LOWMEM_TORCH_VERSION "${Torch_VERSION}")
