#pragma once
// Configurations of the bundled model families and their presets. Tests derive expected counts from these.

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>

#include "models/layers.h"

namespace lowmem::models {

struct VitConfig {
  int64_t imageSize = 224;
  int64_t patchSize = 16;
  int64_t channels = 3;
  int64_t hidden = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t mlpDim = 3072;
  int64_t numClasses = 1000;
  double eps = 1e-6;  // torchvision's ViT
  LoraConfig lora;

  int64_t tokens() const { return (imageSize / patchSize) * (imageSize / patchSize) + 1; }
};

struct LlamaConfig {
  int64_t vocab = 32000;
  int64_t hidden = 4096;
  int64_t layers = 32;
  int64_t heads = 32;
  int64_t intermediate = 11008;
  int64_t maxSeq = 2048;
  double eps = 1e-6;
  double ropeTheta = 10000.0;
  LoraConfig lora;
};

struct BertConfig {
  int64_t vocab = 30522;
  int64_t hidden = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t mlpDim = 3072;
  int64_t maxSeq = 512;
  int64_t numClasses = 2;
  double eps = 1e-12;  // BERT's LayerNorm
  double dropout = 0.1;
  LoraConfig lora;
};

struct BuildOptions {
  uint64_t seed = 0;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::optional<int> loraRank;  // overrides the preset's rank; 0 removes the adapters
  int64_t batch = 2;            // the batch written into the model's input hint
};

VitConfig vitTiny();
VitConfig vitFashionMnist();
VitConfig vitS16();
VitConfig vitB16();
LlamaConfig llamaTiny();
LlamaConfig llamaSmall();
BertConfig bertTiny();

}  // namespace lowmem::models
