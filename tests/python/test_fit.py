"""The fitting program against the published k = 2 constants (paper.md §1).

The published set satisfies the constraints exactly but is not a minimiser of the stated objective: the
program finds a lower error (GELU 0.0095069 against 0.0095093), and GELU - ReLU being even, the optimum is
(nearly) symmetric while the published thresholds are not. So this checks what can be reproduced: the
paper's quoted errors to their stated digits, an error no higher than the published set's, and the constants
to within about 1%. Usage: test_fit.py PATH/TO/fit_relu_sum.py"""
import importlib.util
import sys
import unittest

import numpy as np

spec = importlib.util.spec_from_file_location("fit", sys.argv[1])
fit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fit)

PUBLISHED = {
    "gelu": ([-0.04922261145617846, 1.0979632065417297, -0.048740595085551286],
             [-3.1858810036855245, -0.001178821281161997, 3.190832613414926], 0.0095, 0.0618),
    "silu": ([-0.04060357190528599, 1.080925428529668, -0.040321856624382146],
             [-6.3050461001646445, -0.0008684942046214787, 6.325815242089708], 0.0399, 0.316),
}


class FitReproducesThePaper(unittest.TestCase):
    def check(self, name):
        a_pub, c_pub, quoted, relu_quoted = PUBLISHED[name]
        a, c, err, relu = fit.fit(name, 2)
        problem = fit.Problem(name)
        r = np.maximum(problem.x[:, None] - np.array(c_pub)[None, :], 0) @ np.array(a_pub) - problem.h
        published_err = float(np.sum(problem.weights * r * r))
        print(f"{name}: fitted error {err:.7f}, published constants' error {published_err:.7f}, ReLU {relu:.4f}")
        self.assertAlmostEqual(err, quoted, places=4)
        self.assertAlmostEqual(relu, relu_quoted, places=3 if name == "gelu" else 2)
        self.assertLessEqual(err, published_err)
        self.assertAlmostEqual(sum(a), 1.0, places=12)
        self.assertAlmostEqual(float(np.dot(a, c)), 0.0, places=12)
        np.testing.assert_allclose([c[0], c[2]], [c_pub[0], c_pub[2]], rtol=0.01)
        np.testing.assert_allclose(a[1], a_pub[1], rtol=0.002)
        np.testing.assert_allclose([a[0], a[2]], [a_pub[0], a_pub[2]], rtol=0.025)
        self.assertLess(abs(c[1]), 0.002)

    def test_gelu(self):
        self.check("gelu")

    def test_silu(self):
        self.check("silu")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
