#pragma once
// Explicit attention as model code writes it, matched from its softmax: matmul(q, kᵀ) [· or / scale]
// [+ mask | masked_fill(m, fill) | where(m, ·, fill)] [cast] → softmax(-1) [cast] [dropout] → matmul(·, v),
// with the scale possibly on q instead (timm's `(q * self.scale) @ k.transpose(-2, -1)`), a window mask added
// to a view of the scores that splits their batch (Swin's), possibly under an If. The mask may be
// chosen by `mask is not None` (baddbmm(mask, q, kᵀ) or bmm(q, kᵀ), as F.multi_head_attention_forward writes
// it; or `if mask is not None: scores = scores + mask`), the dropout run under an If. The same matcher reads
// the inlined graph the planner analyses and a module's own graph the rewriter edits, where a dropout may be
// a submodule's call.

#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lowmem {

struct AttentionChain {
  torch::jit::Value* q = nullptr;  // as the op takes it: before any scale applied to q
  torch::jit::Value* k = nullptr;  // before the transpose
  torch::jit::Value* v = nullptr;
  // The additive operand (an add's, baddbmm's) or the boolean mask, nullptr when none. An Optional[Tensor]
  // when the scores are chosen by `mask is not None` (maskOptional): the op takes it as it is.
  torch::jit::Value* mask = nullptr;
  bool maskDrops = false;  // a boolean mask true where keys are left out (masked_fill's): negated for the op
  bool maskOptional = false;
  // A mask added to a view that splits the scores' batch in two ([B·nW, H, sq, sk] viewed [B, nW, H, sq, sk],
  // then viewed back: Swin's shifted windows, a mask over the windows broadcast over the images), besides
  // `mask`: the value added and the split view's sizes; nullptr when none. Under an If whose other branch
  // passes the scores on (windowGate; scripted Swin adds it in shifted blocks only), or not (a trace).
  torch::jit::Value* windowMask = nullptr;
  torch::jit::Value* windowSizes = nullptr;
  torch::jit::Node* windowGate = nullptr;
  std::vector<torch::jit::Node*> windowNodes;  // the split view, the add, the view back
  torch::jit::Value* scale = nullptr;          // the scalar the scores (or q) are multiplied or divided by
  bool scaleDivides = false;
  torch::jit::Node* dropout = nullptr;  // aten::dropout, or a dropout module's call (own graphs)
  // The If whose one branch runs `dropout` and whose other passes the probabilities on (`if dropout_p > 0.0:
  // attn = dropout(attn, dropout_p)`); nullptr when the dropout is unconditional or absent.
  torch::jit::Node* dropoutGate = nullptr;
  torch::jit::Value* probabilities = nullptr;  // what matmul(·, v) takes
  // The probabilities also leave the chain, only inside the true branch of Ifs on this condition
  // (nn.MultiheadAttention returns them when `need_weights`): nullptr when they do not leave it. Only where
  // the caller of the matcher allows it (a module's own code, which keeps the chain for that case).
  torch::jit::Value* returnedWhen = nullptr;
  std::vector<torch::jit::Use> returnedUses;
  torch::jit::Node* output = nullptr;    // matmul(probabilities, v): the op's result replaces its output
  std::vector<torch::jit::Node*> nodes;  // the chain's nodes in forward order (the transpose of k included)
  std::string form;                      // "matmul/div/add mask/softmax/matmul"
  std::string
      unsupported;  // a chain the op cannot stand in for (a small fill value, a mask before the scale)
};

// Whether a node is a call of a dropout module (the rewriter's own graphs keep such calls).
using DropoutCallTest = std::function<bool(const torch::jit::Node*)>;

// The chain around `softmax`; nullopt when the node is not the softmax of an attention (no matmul on both
// sides, or a value in between used elsewhere).
std::optional<AttentionChain> matchAttentionChain(torch::jit::Node* softmax,
                                                  const DropoutCallTest& isDropoutCall = nullptr,
                                                  bool allowReturned = false);

}  // namespace lowmem
