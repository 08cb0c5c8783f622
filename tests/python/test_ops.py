"""liblowmem_ops from Debian's python3-torch: every op eagerly with backward, inside torch.jit.script, and a
C++-saved model through torch.jit.load. Usage: test_ops.py LIBLOWMEM_OPS.so OPS_MODEL.pt"""
import math
import sys
import unittest

import torch
import torch.nn.functional as F

LIB, MODEL = sys.argv[1], sys.argv[2]
torch.ops.load_library(LIB)
ops = torch.ops.lowmem

GELU_A = [-0.04922261145617846, 1.0979632065417297, -0.048740595085551286]
GELU_C = [-3.1858810036855245, -0.001178821281161997, 3.190832613414926]
SILU_A = [-0.04060357190528599, 1.080925428529668, -0.040321856624382146]
SILU_C = [-6.3050461001646445, -0.0008684942046214787, 6.325815242089708]


def step_grad(x, g, a, c):
    """The published step-function derivative, in float64, from the thresholds as fp32."""
    code = sum((x > torch.tensor(ci, dtype=torch.float32)).to(torch.int64) for ci in c)
    levels = torch.tensor([0.0, a[0], a[0] + a[1], a[0] + a[1] + a[2]], dtype=torch.float64)
    return g.double() * levels[code]


class EagerOps(unittest.TestCase):
    def check_activation(self, op, ref, a, c):
        x = (torch.randn(3, 1001) * 4).requires_grad_()
        y = op(x)
        torch.testing.assert_close(y, ref(x), rtol=0, atol=5e-7)
        g = torch.randn_like(y)
        y.backward(g)
        torch.testing.assert_close(x.grad.double(), step_grad(x.detach(), g, a, c), rtol=3e-7, atol=1e-30)

    def test_regelu2(self):
        self.check_activation(ops.regelu2, F.gelu, GELU_A, GELU_C)

    def test_resilu2(self):
        self.check_activation(ops.resilu2, F.silu, SILU_A, SILU_C)

    def test_more_bits(self):
        for op, ref in ((ops.regelu, F.gelu), (ops.resilu, F.silu)):
            for bits in (2, 3, 4):
                x = torch.randn(257, requires_grad=True)
                y = op(x, bits)
                torch.testing.assert_close(y, ref(x), rtol=0, atol=5e-7)
                y.sum().backward()
                self.assertTrue(torch.isfinite(x.grad).all())

    def test_norms_match_float64_autograd(self):
        x = torch.randn(4, 9, 96, dtype=torch.float64) * 2 + 1
        g = torch.randn_like(x)
        for op, ref in ((lambda t: ops.ms_layer_norm(t, [96], 1e-5), lambda t: F.layer_norm(t, [96], eps=1e-5)),
                        (lambda t: ops.ms_rms_norm(t, [96], 1e-6),
                         lambda t: t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6))):
            a = x.clone().requires_grad_()
            b = x.clone().requires_grad_()
            torch.testing.assert_close(op(a), ref(b))
            op(a).backward(g)
            ref(b).backward(g)
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)

    def test_codes_layout(self):
        x = torch.tensor([-4.0, -1.0, 0.5, 4.0, 0.0])
        y, packed = ops.activation_forward(x, "gelu", 2, True)
        self.assertEqual(packed.numel(), math.ceil(x.numel() / 4))
        # c2 = -0.00118 < 0, so x = 0 is already past the second threshold.
        self.assertEqual(ops.unpack2(packed, x.numel()).tolist(), [0, 1, 2, 3, 2])
        self.assertTrue(torch.equal(ops.pack2(ops.activation_codes(x, "gelu", 2)), packed))


class Attention(unittest.TestCase):
    def test_matches_float64_chain_with_padding_mask(self):
        torch.manual_seed(0)
        q, k, v = (torch.randn(2, 3, 9, 8, dtype=torch.float64) for _ in range(3))
        mask = torch.zeros(2, 1, 1, 9, dtype=torch.float64)
        mask[1, ..., -3:] = -1e9
        leaves = [t.clone().float().requires_grad_() for t in (q, k, v)]
        out = ops.attention(*leaves, mask.float(), None, False)
        refs = [t.clone().requires_grad_() for t in (q, k, v)]
        ref = torch.softmax(refs[0] @ refs[1].transpose(-2, -1) / math.sqrt(8) + mask, -1) @ refs[2]
        g = torch.randn_like(ref)
        out.backward(g.float())
        ref.backward(g)
        self.assertTrue(torch.allclose(out.double(), ref, atol=2e-5))
        for mine, theirs in zip(leaves, refs):
            self.assertTrue(torch.allclose(mine.grad.double(), theirs.grad, atol=2e-5))

    def test_causal_in_a_scripted_function(self):
        @torch.jit.script
        def f(q, k, v):
            return torch.ops.lowmem.attention(q, k, v, None, None, True)

        q, k, v = (torch.randn(1, 2, 6, 4) for _ in range(3))
        keep = torch.ones(6, 6, dtype=torch.bool).tril()
        scores = (q @ k.transpose(-2, -1) / 2).masked_fill(~keep, float("-inf"))
        self.assertTrue(torch.allclose(f(q, k, v), torch.softmax(scores, -1) @ v, atol=1e-6))


    def test_dropout_from_python(self):
        # As aten draws it: the chain's F.dropout mask at the same point of torch's stream, so outputs agree.
        q, k, v = (torch.randn(2, 3, 9, 8) for _ in range(3))
        torch.manual_seed(4)
        want = F.dropout(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), -1), 0.25, True) @ v
        previous = torch.ops.lowmem.attention_dropout_as_aten(True)
        try:
            torch.manual_seed(4)
            got = torch.ops.lowmem.attention(q, k, v, None, None, False, 0.25)
        finally:
            torch.ops.lowmem.attention_dropout_as_aten(previous)
        self.assertFalse(previous)
        self.assertTrue(torch.allclose(got, want, atol=1e-6))
        # Its own Philox mask: repeatable under torch.manual_seed, another one next call, none without p.
        torch.manual_seed(5)
        a = torch.ops.lowmem.attention(q, k, v, None, None, False, 0.25)
        b = torch.ops.lowmem.attention(q, k, v, None, None, False, 0.25)
        torch.manual_seed(5)
        self.assertTrue(torch.equal(torch.ops.lowmem.attention(q, k, v, None, None, False, 0.25), a))
        self.assertFalse(torch.equal(a, b))
        plain = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), -1) @ v
        self.assertTrue(torch.allclose(torch.ops.lowmem.attention(q, k, v), plain, atol=1e-6))


class Scripted(unittest.TestCase):
    def test_script_function(self):
        @torch.jit.script
        def block(x: torch.Tensor) -> torch.Tensor:
            h = torch.ops.lowmem.ms_layer_norm(x, [32], 1e-5)
            return torch.ops.lowmem.regelu2(h) + torch.ops.lowmem.resilu2(h)

        x = torch.randn(5, 32, requires_grad=True)
        y = block(x)
        h = F.layer_norm(x, [32], eps=1e-5)
        torch.testing.assert_close(y, F.gelu(h) + F.silu(h), rtol=1e-5, atol=1e-5)
        y.sum().backward()
        self.assertTrue(torch.isfinite(x.grad).all())

    def test_load_cpp_saved_model(self):
        m = torch.jit.load(MODEL)
        self.assertIn("ops.lowmem.regelu2", m.code)
        x = torch.randn(2, 7, 16, requires_grad=True)
        y = m(x)
        w = m.w
        h = F.layer_norm(x, [16], eps=1e-5)
        h = F.gelu(h @ w)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)
        torch.testing.assert_close(y, F.silu(h) + F.gelu(h) + F.silu(h), rtol=1e-4, atol=1e-5)
        y.sum().backward()
        self.assertEqual(x.grad.shape, x.shape)
        self.assertTrue(torch.isfinite(x.grad).all())


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
