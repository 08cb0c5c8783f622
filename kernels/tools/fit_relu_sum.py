#!/usr/bin/python3
"""Fits h~(x) = sum_i a_i * max(x - c_i, 0) to GELU or SiLU, as arXiv 2406.16282 does for ReGELU2/ReSiLU2.

Objective: minimise the trapezoid integral of (h(x) - h~(x))^2 over the window [-W, W] (GELU W = 6.07,
SiLU W = 38.2) under sum(a) = 1 and sum(a * c) = 0, which give h~ the asymptotes of h (0 on the left, x on the
right). For fixed thresholds c the problem is a linear least squares in a with two equality constraints, solved
exactly through its KKT system, so the search runs over c alone: simulated annealing (the paper's method)
from a spread start, then Nelder-Mead polishing. k bits give 2^k - 1 thresholds.

The default search (--search free) moves all thresholds, as the paper did. GELU(x) - ReLU(x) and
SiLU(x) - ReLU(x) are even, so --search symmetric tries thresholds {0, +-d_1, ..., +-d_m} (half the
dimensions); for k = 2 both reach the same error, but for k >= 3 the optimum breaks the symmetry
(GELU k = 3: 0.000218 symmetric against 0.000179 free), so the table uses the free search.

Run with Debian's python3 (numpy comes with python3-torch):
    kernels/tools/fit_relu_sum.py --function gelu --bits 2
    kernels/tools/fit_relu_sum.py --all --cpp      # the table in kernels/activation_table.cpp
"""
import argparse
import math
import sys

import numpy as np

WINDOWS = {"gelu": 6.07, "silu": 38.2}
SEARCH_POINTS = 4001   # the annealing runs on a coarse grid ...
FINAL_POINTS = 200001  # ... and Nelder-Mead polishes on a fine one


def primitive(name, x):
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    return x / (1.0 + np.exp(-x))


class Problem:
    def __init__(self, name, points=FINAL_POINTS):
        w = WINDOWS[name]
        self.x = np.linspace(-w, w, points)
        self.h = primitive(name, self.x)
        dx = self.x[1] - self.x[0]
        self.weights = np.full(points, dx)
        self.weights[0] = self.weights[-1] = dx / 2

    def solve_a(self, c):
        """Exact constrained least squares for a given thresholds c; returns (a, objective)."""
        basis = np.maximum(self.x[:, None] - c[None, :], 0.0)
        wb = basis * self.weights[:, None]
        gram = basis.T @ wb
        rhs = wb.T @ self.h
        n = len(c)
        constraints = np.vstack([np.ones(n), c])
        kkt = np.zeros((n + 2, n + 2))
        kkt[:n, :n] = 2 * gram
        kkt[:n, n:] = constraints.T
        kkt[n:, :n] = constraints
        b = np.concatenate([2 * rhs, [1.0, 0.0]])
        try:
            a = np.linalg.solve(kkt, b)[:n]
        except np.linalg.LinAlgError:
            return None, math.inf
        r = basis @ a - self.h
        return a, float(np.sum(self.weights * r * r))

    def objective(self, c):
        if np.any(np.diff(c) <= 1e-6):
            return math.inf
        return self.solve_a(c)[1]

    def relu_error(self):
        r = np.maximum(self.x, 0.0) - self.h
        return float(np.sum(self.weights * r * r))


def symmetric(d):
    d = np.sort(np.abs(np.asarray(d)))
    return np.concatenate([-d[::-1], [0.0], d])


def anneal(objective, start, width, rng, steps):
    """Simulated annealing over sorted parameter vectors, cooling as (1 - step/steps)^3."""
    c = np.sort(start)
    n = len(c)
    f = objective(c)
    best_c, best_f = c.copy(), f
    t0 = f
    for step in range(steps):
        t = t0 * (1 - step / steps) ** 3 + 1e-12
        scale = 0.2 * width * (1 - step / steps) + 1e-4
        cand = np.sort(c + rng.normal(0, scale / math.sqrt(n), n))
        fc = objective(cand)
        if fc < f or rng.random() < math.exp(-(fc - f) / t):
            c, f = cand, fc
            if f < best_f:
                best_c, best_f = c.copy(), f
    return best_c, best_f


def nelder_mead(fun, x0, scale, iters=4000, tol=1e-15):
    n = len(x0)
    simplex = [x0] + [x0 + scale * np.eye(n)[i] for i in range(n)]
    values = [fun(p) for p in simplex]
    for _ in range(iters):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) < tol:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        xr = centroid + (centroid - simplex[-1])
        fr = fun(xr)
        if fr < values[0]:
            xe = centroid + 2 * (centroid - simplex[-1])
            fe = fun(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (simplex[-1] - centroid)
            fc = fun(xc)
            if fc < values[-1]:
                simplex[-1], values[-1] = xc, fc
            else:
                simplex = [simplex[0]] + [simplex[0] + 0.5 * (p - simplex[0]) for p in simplex[1:]]
                values = [values[0]] + [fun(p) for p in simplex[1:]]
    i = int(np.argmin(values))
    return simplex[i], values[i]


def fit(name, bits, seed=0, restarts=4, steps=3000, search="free"):
    coarse = Problem(name, SEARCH_POINTS)
    fine = Problem(name, FINAL_POINTS)
    n = 2 ** bits - 1
    if search == "symmetric":
        dims = (n - 1) // 2
        to_c = symmetric
    else:
        dims = n
        to_c = np.sort
    coarse_obj = lambda p: coarse.objective(to_c(p))
    fine_obj = lambda p: fine.objective(to_c(p))
    rng = np.random.default_rng(seed)
    best = (None, math.inf)
    w = WINDOWS[name]
    for _ in range(restarts):
        if search == "symmetric":
            start = np.linspace(0.1 * w, 0.6 * w, dims) + rng.normal(0, 0.02 * w, dims)
        else:
            start = np.linspace(-0.6 * w, 0.6 * w, dims) + rng.normal(0, 0.05 * w, dims)
        p, f = anneal(coarse_obj, start, w, rng, steps)
        p, f = nelder_mead(coarse_obj, np.asarray(p), 0.1)
        if f < best[1]:
            best = (p, f)
    p = best[0]
    for scale in (0.01, 0.001):
        p, _ = nelder_mead(fine_obj, np.asarray(p), scale, iters=1500)
    c = to_c(p)
    a, f = fine.solve_a(c)
    return a, c, f, fine.relu_error()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", choices=sorted(WINDOWS), default="gelu")
    parser.add_argument("--bits", type=int, choices=(2, 3, 4), default=2)
    parser.add_argument("--all", action="store_true", help="every function and bit width")
    parser.add_argument("--cpp", action="store_true", help="print C++ table rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search", choices=("symmetric", "free"), default="free")
    args = parser.parse_args()
    jobs = [(f, b) for f in ("gelu", "silu") for b in (2, 3, 4)] if args.all else [(args.function, args.bits)]
    for name, bits in jobs:
        # Two restarts for k = 4 keep the 15-dimensional search within minutes.
        a, c, f, relu = fit(name, bits, args.seed, restarts=2 if bits == 4 else 4, search=args.search)
        if args.cpp:
            print(f"// {name} k={bits}: integral of squared error {f:.6g} (plain ReLU {relu:.6g})")
            print("{" + ", ".join(repr(float(v)) for v in a) + "},")
            print("{" + ", ".join(repr(float(v)) for v in c) + "},")
        else:
            print(f"{name} k={bits}  error {f:.6g}  (ReLU {relu:.6g})")
            print("  a = " + ", ".join(f"{v:.17g}" for v in a))
            print("  c = " + ", ".join(f"{v:.17g}" for v in c))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
