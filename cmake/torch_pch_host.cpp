// The one translation unit that builds the shared <torch/script.h> precompiled header (LowmemCompiler.cmake).
