"""A model patched by `lowmem patch` in Debian's python3-torch: without the op library it refuses to load
with lowmem's op named; with torch.ops.load_library it loads, computes the original model's outputs and trains
(forward, backward, SGD step). Usage: test_patched.py LIBLOWMEM_OPS.so ORIGINAL.pt PATCHED.pt"""
import subprocess
import sys
import unittest

import torch

LIB, ORIGINAL, PATCHED = sys.argv[1], sys.argv[2], sys.argv[3]


class PatchedModel(unittest.TestCase):
    def test_needs_the_op_library(self):
        # A fresh interpreter that never loaded the library.
        probe = subprocess.run(
            [sys.executable, "-c", f"import torch; torch.jit.load({PATCHED!r})"], capture_output=True, text=True)
        self.assertNotEqual(probe.returncode, 0)
        self.assertIn("lowmem::", probe.stderr)

    def test_loads_matches_and_trains(self):
        torch.ops.load_library(LIB)
        original = torch.jit.load(ORIGINAL)
        patched = torch.jit.load(PATCHED)
        self.assertTrue(len(patched.lowmem_rewrites) > 0)
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(patched(x), original(x), rtol=1e-4, atol=1e-5)
        params = [p for n, p in patched.named_parameters() if "lora_" in n]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.SGD(params, lr=0.1)
        before = [p.detach().clone() for p in params]
        loss = patched(x).float().pow(2).mean()
        loss.backward()
        self.assertTrue(all(p.grad is not None and torch.isfinite(p.grad).all() for p in params))
        opt.step()
        self.assertTrue(any(not torch.equal(a, p.detach()) for a, p in zip(before, params)))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
