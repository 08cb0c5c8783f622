#include "models/configs.h"

namespace lowmem::models {
namespace {

LoraConfig lora(int rank, std::vector<std::string> targets) {
  LoraConfig c;
  c.rank = rank;
  c.targets = std::move(targets);
  return c;
}

const std::vector<std::string> kVitTargets = {"q", "k", "v", "proj", "fc1", "fc2"};
const std::vector<std::string> kLlamaTargets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};

}  // namespace

VitConfig vitTiny() {
  VitConfig c;
  c.imageSize = 32;
  c.patchSize = 8;
  c.hidden = 64;
  c.layers = 2;
  c.heads = 4;
  c.mlpDim = 256;
  c.numClasses = 10;
  c.lora = lora(4, kVitTargets);
  return c;
}

VitConfig vitFashionMnist() {
  VitConfig c;  // sized for validate --data fashion-mnist: 28 x 28 grey images in patches of 7, 10 classes
  c.imageSize = 28;
  c.patchSize = 7;
  c.channels = 1;
  c.hidden = 128;
  c.layers = 4;
  c.heads = 4;
  c.mlpDim = 512;
  c.numClasses = 10;
  c.lora = lora(4, kVitTargets);
  return c;
}

VitConfig vitS16() {
  VitConfig c;  // ViT-S/16 (DeiT-S) at 224 px
  c.hidden = 384;
  c.heads = 6;
  c.mlpDim = 1536;
  c.lora = lora(4, kVitTargets);
  return c;
}

VitConfig vitB16() {
  VitConfig c;  // the defaults are ViT-B/16 at 224 px
  c.lora = lora(4, kVitTargets);
  return c;
}

LlamaConfig llamaTiny() {
  LlamaConfig c;
  c.vocab = 256;
  c.hidden = 64;
  c.layers = 2;
  c.heads = 4;
  c.intermediate = 176;
  c.maxSeq = 64;
  c.lora = lora(8, kLlamaTargets);
  return c;
}

LlamaConfig llamaSmall() {
  LlamaConfig c;
  c.vocab = 8192;
  c.hidden = 512;
  c.layers = 8;
  c.heads = 8;
  c.intermediate = 1376;
  c.maxSeq = 512;
  c.lora = lora(8, kLlamaTargets);
  return c;
}

BertConfig bertTiny() {
  BertConfig c;
  c.vocab = 1024;
  c.hidden = 128;
  c.layers = 2;
  c.heads = 2;
  c.mlpDim = 512;
  c.maxSeq = 64;
  c.lora = lora(8, kVitTargets);
  return c;
}

}  // namespace lowmem::models
