"""lowmem's conformance corpus: model code in the shapes users bring, written for this project (not copied).

Each family follows the layout of a well-known modeling file (HuggingFace LLaMA, BERT, GPT-2 and T5, nanoGPT,
timm's ViT, torch.nn.TransformerEncoder and nn.Transformer, OpenAI CLIP's text transformer, DETR's encoder), with
the details that break tools: blocks in an nn.ModuleList iterated in forward, norms that keep eps in a plain float
attribute, dtype casts around RMSNorm, PEFT-style LoRA wrappers (`base_layer`, `lora_A`, `lora_B`,
`lora_dropout`), GPT-2's Conv1D (addmm with a transposed weight) and tied embeddings, gelu_new written out with
tanh, causal masks applied with torch.where (GPT-2) and masked_fill of a buffer slice (nanoGPT), stochastic depth
through an `if`, nn.MultiheadAttention (in nn.TransformerEncoder; in nn.Transformer's encoder-decoder with
cross-attention, a causal target mask and key padding; in CLIP's text transformer with its causal mask as a
buffer; in DETR's encoder layer with key padding and need_weights left at its default).

`build(name, size)` returns (module, example inputs, trainable selection, loss) for `size` in {"small",
"full"}; `FAMILIES` lists the names. scripts/export-conformance writes them as TorchScript.
"""
import math
from collections import OrderedDict
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- PEFT-style LoRA -------------------------------------------------------------------------------------

class LoraLinear(nn.Module):
    """PEFT's lora.Linear layout: the frozen base_layer plus lora_B(lora_A(lora_dropout(x))) * scaling."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        self.base_layer = base
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.scaling = alpha / r
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        # PEFT zero-initialises B; a small random B keeps every gradient non-trivial for the checks.
        nn.init.normal_(self.lora_B.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


def lora(base: nn.Linear, r: int = 4, dropout: float = 0.0) -> LoraLinear:
    return LoraLinear(base, r, 2.0 * r, dropout)


# --- HuggingFace-style LLaMA / Mistral decoder -----------------------------------------------------------

class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size) + 0.1 * torch.randn(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, dim: int, max_positions: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        t = torch.arange(max_positions).float()
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)

    def forward(self, seq_len: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.cos_cached[:seq_len], self.sin_cached[:seq_len]


class LlamaAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, max_positions: int, r: int, dropout: float):
        super().__init__()
        self.num_heads = heads
        self.num_key_value_heads = kv_heads
        self.head_dim = hidden // heads
        self.q_proj = lora(nn.Linear(hidden, heads * self.head_dim, bias=False), r, dropout)
        self.k_proj = lora(nn.Linear(hidden, kv_heads * self.head_dim, bias=False), r, dropout)
        self.v_proj = lora(nn.Linear(hidden, kv_heads * self.head_dim, bias=False), r, dropout)
        self.o_proj = lora(nn.Linear(heads * self.head_dim, hidden, bias=False), r, dropout)
        self.rotary_emb = LlamaRotaryEmbedding(self.head_dim, max_positions)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bsz, q_len, _ = hidden_states.size()
        q = self.q_proj(hidden_states).view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        cos, sin = self.rotary_emb(q_len)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.num_heads // self.num_key_value_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        attn = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        attn = attn + attention_mask
        attn = F.softmax(attn, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(attn, v).transpose(1, 2).contiguous().reshape(bsz, q_len, -1)
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    def __init__(self, hidden: int, intermediate: int, r: int, dropout: float):
        super().__init__()
        self.gate_proj = lora(nn.Linear(hidden, intermediate, bias=False), r, dropout)
        self.up_proj = lora(nn.Linear(hidden, intermediate, bias=False), r, dropout)
        self.down_proj = lora(nn.Linear(intermediate, hidden, bias=False), r, dropout)
        self.act_fn = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, hidden, heads, kv_heads, intermediate, max_positions, eps, r, dropout):
        super().__init__()
        self.self_attn = LlamaAttention(hidden, heads, kv_heads, max_positions, r, dropout)
        self.mlp = LlamaMLP(hidden, intermediate, r, dropout)
        self.input_layernorm = LlamaRMSNorm(hidden, eps)
        self.post_attention_layernorm = LlamaRMSNorm(hidden, eps)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states = self.self_attn(hidden_states, attention_mask)
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        return residual + hidden_states


class LlamaForCausalLM(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, kv_heads, intermediate, max_positions, r, dropout,
                 eps=1e-6):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, hidden)
        # Instances differ in eps: a per-instance attribute must be read per instance.
        self.layers = nn.ModuleList([
            LlamaDecoderLayer(hidden, heads, kv_heads, intermediate, max_positions, eps * (1 + i), r, dropout)
            for i in range(layers)])
        self.norm = LlamaRMSNorm(hidden, eps)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.size(1)
        mask = torch.full((seq, seq), float("-inf"), device=input_ids.device).triu(1)
        hidden_states = self.embed_tokens(input_ids)
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask)
        hidden_states = self.norm(hidden_states)
        return self.lm_head(hidden_states)


# --- HuggingFace-style BERT (post-LN) --------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_positions, eps, dropout):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(2, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("position_ids", torch.arange(max_positions).unsqueeze(0), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.size(1)
        positions = self.position_ids[:, :seq]
        types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + \
            self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class HandLayerNorm(nn.Module):
    """A LayerNorm written by hand, eps in a plain attribute (as several repositories do)."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden) + 0.1 * torch.randn(hidden))
        self.bias = nn.Parameter(0.1 * torch.randn(hidden))
        self.hidden = hidden
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, [self.hidden], self.weight, self.bias, self.eps)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.num_attention_heads = heads
        self.attention_head_size = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def transpose_for_scores(self, x: torch.Tensor) -> torch.Tensor:
        new_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        return x.view(new_shape).permute(0, 2, 1, 3)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        q = self.transpose_for_scores(self.query(hidden_states))
        k = self.transpose_for_scores(self.key(hidden_states))
        v = self.transpose_for_scores(self.value(hidden_states))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probs = self.dropout(F.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (q.size(1) * q.size(3),))


class BertSelfOutput(nn.Module):
    def __init__(self, hidden, eps, dropout, hand_norm: bool):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = HandLayerNorm(hidden, eps) if hand_norm else nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, hidden, heads, eps, dropout, hand_norm):
        super().__init__()
        self.self = BertSelfAttention(hidden, heads, dropout)
        self.output = BertSelfOutput(hidden, eps, dropout, hand_norm)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden_states), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, hidden, intermediate):
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, intermediate, eps, dropout, hand_norm):
        super().__init__()
        self.attention = BertAttention(hidden, heads, eps, dropout, hand_norm)
        self.intermediate = BertIntermediate(hidden, intermediate)
        self.output = BertSelfOutput(hidden, eps, dropout, hand_norm)
        self.output.dense = nn.Linear(intermediate, hidden)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        attention_output = self.attention(hidden_states)
        return self.output(self.intermediate(attention_output), attention_output)


class BertForSequenceClassification(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, intermediate, max_positions, classes, hand_norm,
                 eps=1e-12, dropout=0.1):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden, max_positions, eps, dropout)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            [BertLayer(hidden, heads, intermediate, eps, dropout, hand_norm) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(self.dropout(pooled))


# --- HuggingFace-style GPT-2 -----------------------------------------------------------------------------

class Conv1D(nn.Module):
    """GPT-2's linear with a transposed weight: y = x @ W + b, W of shape [in, out]."""

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.randn(nf) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class NewGELUActivation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.num_heads = heads
        self.head_dim = hidden // heads
        self.split_size = hidden
        self.c_attn = Conv1D(3 * hidden, hidden)
        self.c_proj = Conv1D(hidden, hidden)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        new_shape = x.size()[:-1] + (self.num_heads, self.head_dim)
        return x.view(new_shape).permute(0, 2, 1, 3)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        qkv = self.c_attn(hidden_states).split(self.split_size, dim=2)
        q, k, v = self._split_heads(qkv[0]), self._split_heads(qkv[1]), self._split_heads(qkv[2])
        seq = q.size(-2)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=w.device).tril()
        w = torch.where(causal, w, torch.tensor(-1e4, dtype=w.dtype, device=w.device))
        w = self.attn_dropout(F.softmax(w, dim=-1))
        out = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        out = out.view(out.size()[:-2] + (self.num_heads * self.head_dim,))
        return self.resid_dropout(self.c_proj(out))


class GPT2MLP(nn.Module):
    def __init__(self, hidden, intermediate, dropout):
        super().__init__()
        self.c_fc = Conv1D(intermediate, hidden)
        self.c_proj = Conv1D(hidden, intermediate)
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, hidden, heads, intermediate, eps, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = GPT2Attention(hidden, heads, dropout)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = GPT2MLP(hidden, intermediate, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2LMHeadModel(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, max_positions, eps=1e-5, dropout=0.1):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_positions, hidden)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([GPT2Block(hidden, heads, 4 * hidden, eps, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(hidden, eps=eps)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as GPT-2 does

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        x = self.drop(self.wte(input_ids) + self.wpe(positions))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# --- nanoGPT-style decoder (the attention without flash: a causal buffer sliced and masked_fill'd with -inf) ---

class NanoCausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.c_attn = lora(nn.Linear(n_embd, 3 * n_embd))
        self.c_proj = lora(nn.Linear(n_embd, n_embd))
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head = n_head
        self.n_embd = n_embd
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class NanoBlock(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = NanoCausalSelfAttention(n_embd, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = lora(nn.Linear(n_embd, 4 * n_embd))
        self.gelu = nn.GELU()
        self.c_proj = lora(nn.Linear(4 * n_embd, n_embd))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.dropout(self.c_proj(self.gelu(self.c_fc(self.ln_2(x)))))


class NanoGPT(nn.Module):
    def __init__(self, vocab, n_embd, n_layer, n_head, block_size, dropout=0.0):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([NanoBlock(n_embd, n_head, block_size, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # tied, as nanoGPT does

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(0, idx.size(1), dtype=torch.long, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# --- T5-style encoder (RMSNorm without mean and bias, nested ModuleLists) ---------------------------------

class T5LayerNorm(nn.Module):
    def __init__(self, hidden: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden) + 0.1 * torch.randn(hidden))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in [torch.float16, torch.bfloat16]:
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states


class T5Attention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.n_heads = heads
        self.key_value_proj_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, hidden, bias=False)
        self.o = nn.Linear(hidden, hidden, bias=False)
        self.dropout = dropout

    def shape(self, states: torch.Tensor, b: int) -> torch.Tensor:
        return states.view(b, -1, self.n_heads, self.key_value_proj_dim).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, position_bias: torch.Tensor) -> torch.Tensor:
        b, s, _ = hidden_states.size()
        q = self.shape(self.q(hidden_states), b)
        k = self.shape(self.k(hidden_states), b)
        v = self.shape(self.v(hidden_states), b)
        scores = torch.matmul(q, k.transpose(3, 2)) + position_bias
        weights = F.dropout(F.softmax(scores.float(), dim=-1).type_as(scores), p=self.dropout,
                            training=self.training)
        out = torch.matmul(weights, v).transpose(1, 2).contiguous().view(b, -1, self.n_heads *
                                                                         self.key_value_proj_dim)
        return self.o(out)


class T5LayerSelfAttention(nn.Module):
    def __init__(self, hidden, heads, eps, dropout):
        super().__init__()
        self.SelfAttention = T5Attention(hidden, heads, dropout)
        self.layer_norm = T5LayerNorm(hidden, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor, position_bias: torch.Tensor) -> torch.Tensor:
        normed = self.layer_norm(hidden_states)
        return hidden_states + self.dropout(self.SelfAttention(normed, position_bias))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, hidden, ff, dropout):
        super().__init__()
        self.wi_0 = nn.Linear(hidden, ff, bias=False)
        self.wi_1 = nn.Linear(hidden, ff, bias=False)
        self.wo = nn.Linear(ff, hidden, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi_0(x)) * self.wi_1(x)))


class T5LayerFF(nn.Module):
    def __init__(self, hidden, ff, eps, dropout):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(hidden, ff, dropout)
        self.layer_norm = T5LayerNorm(hidden, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor, position_bias: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.dropout(self.DenseReluDense(self.layer_norm(hidden_states)))


class T5Block(nn.Module):
    def __init__(self, hidden, heads, ff, eps, dropout):
        super().__init__()
        self.layer = nn.ModuleList([T5LayerSelfAttention(hidden, heads, eps, dropout),
                                    T5LayerFF(hidden, ff, eps, dropout)])

    def forward(self, hidden_states: torch.Tensor, position_bias: torch.Tensor) -> torch.Tensor:
        for sub in self.layer:
            hidden_states = sub(hidden_states, position_bias)
        return hidden_states


class T5EncoderModel(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, ff, max_positions, eps=1e-6, dropout=0.1):
        super().__init__()
        self.shared = nn.Embedding(vocab, hidden)
        self.position_bias = nn.Parameter(torch.zeros(heads, max_positions, max_positions))
        self.block = nn.ModuleList([T5Block(hidden, heads, ff, eps, dropout) for _ in range(layers)])
        self.final_layer_norm = T5LayerNorm(hidden, eps)
        self.head = nn.Linear(hidden, 2)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        s = input_ids.size(1)
        bias = self.position_bias[:, :s, :s].unsqueeze(0)
        x = self.shared(input_ids)
        for blk in self.block:
            x = blk(x, bias)
        return self.head(self.final_layer_norm(x))


# --- timm-style ViT --------------------------------------------------------------------------------------

class DropPath(nn.Module):
    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class TimmAttention(nn.Module):
    def __init__(self, dim, heads, r):
        super().__init__()
        self.num_heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = lora(nn.Linear(dim, dim * 3), r)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = lora(nn.Linear(dim, dim), r)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class TimmMlp(nn.Module):
    def __init__(self, dim, hidden, r):
        super().__init__()
        self.fc1 = lora(nn.Linear(dim, hidden), r)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(0.0)
        self.fc2 = lora(nn.Linear(hidden, dim), r)
        self.drop2 = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class TimmBlock(nn.Module):
    def __init__(self, dim, heads, r, drop_path):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, heads, r)
        self.ls1 = nn.Identity()
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = TimmMlp(dim, 4 * dim, r)
        self.ls2 = nn.Identity()
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class TimmVisionTransformer(nn.Module):
    def __init__(self, img, patch, dim, depth, heads, classes, r, drop_path=0.0):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[TimmBlock(dim, heads, r, drop_path) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])


# --- torch.nn.TransformerEncoder -------------------------------------------------------------------------

class NnTransformerClassifier(nn.Module):
    def __init__(self, vocab, dim, layers, heads, norm_first: bool):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 4)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(input_ids)).mean(1))


class NnSeq2Seq(nn.Module):
    """torch.nn.Transformer, encoder and decoder: a causal float target mask, key padding (token 0) on the source
    for the encoder's attention and the decoder's cross-attention."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.transformer = nn.Transformer(dim, heads, layers, layers, 4 * dim, 0.1, batch_first=True)
        self.head = nn.Linear(dim, vocab)

    def forward(self, src_ids: torch.Tensor, tgt_ids: torch.Tensor) -> torch.Tensor:
        t = tgt_ids.size(1)
        causal = torch.triu(torch.full((t, t), float("-inf"), device=tgt_ids.device), 1)
        padding = src_ids == 0
        out = self.transformer(self.embed(src_ids), self.embed(tgt_ids), tgt_mask=causal,
                               src_key_padding_mask=padding, memory_key_padding_mask=padding)
        return self.head(out)


# --- OpenAI CLIP's text transformer: nn.MultiheadAttention sequence-first, a causal float mask as a buffer ------

class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, attn_mask: torch.Tensor):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = nn.LayerNorm(d_model)
        self.register_buffer("attn_mask", attn_mask, persistent=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.attn_mask.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class ClipTextTransformer(nn.Module):
    def __init__(self, vocab: int, width: int, layers: int, heads: int, context: int, embed_dim: int):
        super().__init__()
        mask = torch.full((context, context), float("-inf")).triu_(1)
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.randn(context, width) * 0.01)
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, mask) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed_dim) * width ** -0.5)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(text) + self.positional_embedding
        x = x.permute(1, 0, 2)  # NLD -> LND
        x = self.resblocks(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection


# --- DETR's transformer encoder layer: nn.MultiheadAttention called with need_weights left at its default --------

class DetrEncoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def with_pos_embed(self, tensor: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
        return tensor if pos is None else tensor + pos

    def forward(self, src: torch.Tensor, src_key_padding_mask: Optional[torch.Tensor],
                pos: Optional[torch.Tensor]) -> torch.Tensor:
        q = k = self.with_pos_embed(src, pos)
        src2 = self.self_attn(q, k, value=src, key_padding_mask=src_key_padding_mask)[0]
        src = src + self.dropout1(src2)
        src = self.norm1(src)
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        src = src + self.dropout2(src2)
        return self.norm2(src)


class DetrStyleEncoder(nn.Module):
    """DETR's encoder layers over token embeddings, padding (token 0) left out of attention by key_padding_mask."""

    def __init__(self, vocab: int, d_model: int, layers: int, heads: int, seq: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq, 1, d_model) * 0.02)
        self.layers = nn.ModuleList([DetrEncoderLayer(d_model, heads, 4 * d_model, 0.1) for _ in range(layers)])
        self.head = nn.Linear(d_model, 4)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        padding = input_ids == 0
        x = self.embed(input_ids).transpose(0, 1)
        for layer in self.layers:
            x = layer(x, padding, self.pos)
        return self.head(x.mean(0))


# --- The corpus ------------------------------------------------------------------------------------------

def _tokens(batch: int, seq: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq))


def build(name: str, size: str):
    """(module, example inputs, trainable selection, loss) of corpus model `name` at `size`."""
    small = size == "small"
    if name in ("hf_llama", "hf_llama_dropout"):
        h, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        m = LlamaForCausalLM(vocab, h, layers, 4, 2, 2 * h + h // 2, seq, 4,
                             0.1 if name == "hf_llama_dropout" else 0.0)
        return m, (_tokens(2, seq, vocab),), "lora", "mean"
    if name in ("hf_bert", "hf_bert_handnorm"):
        h, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        m = BertForSequenceClassification(vocab, h, layers, 4, 4 * h, seq, 3, name == "hf_bert_handnorm")
        return m, (_tokens(2, seq, vocab),), "all", "mean"
    if name in ("hf_gpt2", "hf_gpt2_nodropout"):
        h, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        m = GPT2LMHeadModel(vocab, h, layers, 4, seq, dropout=0.0 if name == "hf_gpt2_nodropout" else 0.1)
        return m, (_tokens(2, seq, vocab),), "all", "mean"
    if name == "nanogpt":
        h, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        return NanoGPT(vocab, h, layers, 4, seq), (_tokens(2, seq, vocab),), "lora", "mean"
    if name == "t5_encoder":
        h, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        return T5EncoderModel(vocab, h, layers, 4, 2 * h, seq), (_tokens(2, seq, vocab),), "all", "mean"
    if name == "timm_vit":
        img, dim, depth = (16, 32, 2) if small else (64, 192, 4)
        m = TimmVisionTransformer(img, 8, dim, depth, 4, 10, 4)
        return m, (torch.randn(2, 3, img, img),), "lora", "mean"
    if name in ("nn_transformer_prenorm", "nn_transformer_postnorm"):
        dim, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        m = NnTransformerClassifier(vocab, dim, layers, 4, name.endswith("prenorm"))
        return m, (_tokens(2, seq, vocab),), "all", "mean"
    if name == "nn_seq2seq":
        dim, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 2, 64, 1000)
        m = NnSeq2Seq(vocab, dim, layers, 4)
        return m, (_tokens(2, seq, vocab), _tokens(2, seq - 2, vocab)), "all", "mean"
    if name == "clip_text":
        width, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        return ClipTextTransformer(vocab, width, layers, 4, seq, width), (_tokens(2, seq, vocab),), "all", "mean"
    if name == "detr_encoder":
        d, layers, seq, vocab = (32, 2, 8, 64) if small else (256, 4, 64, 1000)
        return DetrStyleEncoder(vocab, d, layers, 4, seq), (_tokens(2, seq, vocab),), "all", "mean"
    raise KeyError(name)


FAMILIES = ("hf_llama", "hf_llama_dropout", "hf_bert", "hf_bert_handnorm", "hf_gpt2", "hf_gpt2_nodropout", "nanogpt",
            "t5_encoder", "timm_vit", "nn_transformer_prenorm", "nn_transformer_postnorm", "nn_seq2seq", "clip_text",
            "detr_encoder")
