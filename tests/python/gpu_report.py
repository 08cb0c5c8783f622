"""The results table of scripts/gpu-check: each model's patch run (peak before -> after, predicted, step time
ratio, verification) beside the paper's Fig. 1 figures, with CUPTI's activity counts per run read from the
session, and the kernel bandwidth rows of gpu_check.py as a share of the device copy.
Usage: gpu_report.py --out TABLE.md --ops gpu-results.md NAME=PATCH.json:SESSION.db ..."""
import argparse
import json
import sqlite3
import sys

MIB = 1024 * 1024
# arXiv 2406.16282, Fig. 1: ViT-B/16 LoRA, batch 64, 16-bit mixed precision, one GPU.
PAPER = {"vit-b16": "3,827 -> 2,717 MiB (-29.0%), 288 -> 290 img/s"}


def activity_counts(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = {}
    for label, kind, n, correlated in con.execute(
            "SELECT r.label, d.kind, count(*), sum(d.op >= 0) FROM device_activities d JOIN runs r ON r.id = d.run "
            "GROUP BY r.label, d.kind"):
        rows.setdefault(label, {})[kind] = (n, correlated or 0)
    tracing = dict(con.execute("SELECT label, device_tracing FROM runs"))
    return rows, tracing


def model_rows(name, patch_json, db):
    with open(patch_json) as f:
        j = json.load(f)
    c = j["comparison"]
    before, after = c["peak_before"], c["peak_after"]
    predicted = c.get("peak_predicted", j["suggestions"].get("predicted_peak", 0))
    ratio = c.get("timing", {}).get("ratio", float("nan"))
    v = j["verification"]
    counts, tracing = activity_counts(db)
    acts = "; ".join(
        f"{label}: " + ", ".join(f"{k} {n:,} ({corr:,} with op)" for k, (n, corr) in sorted(kinds.items()))
        for label, kinds in sorted(counts.items())) or "none (" + "; ".join(sorted(set(tracing.values()))) + ")"
    return (f"| {name} | {before / MIB:,.1f} -> {after / MIB:,.1f} MiB ({100.0 * (after - before) / before:+.1f}%) | "
            f"{predicted / MIB:,.1f} MiB | {ratio:.3f} | {len(j['rewrites'])} | "
            f"{'ok' if v.get('forward_ok') else 'FAILED'} (cosine {v.get('overall_cosine', float('nan')):.4f}) | "
            f"{PAPER.get(name, '')} | {acts} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--ops", required=True)
    p.add_argument("--title", default="")
    p.add_argument("runs", nargs="*")
    a = p.parse_args()
    lines = [a.title, "", "| model | peak before -> after | predicted after | step time ratio | sites | "
             "forward check | paper (Fig. 1) | CUPTI activities |", "|---|---|---|---|---|---|---|---|"]
    failed = False
    for spec in a.runs:
        name, rest = spec.split("=", 1)
        patch_json, db = rest.split(":", 1)
        try:
            lines.append(model_rows(name, patch_json, db))
        except (OSError, KeyError, ValueError, sqlite3.Error) as e:
            failed = True
            lines.append(f"| {name} | no result: {type(e).__name__}: {e} | | | | | {PAPER.get(name, '')} | |")
    lines += ["", "Kernel bandwidth (forward+backward) as a share of a device copy of the same bytes:", ""]
    with open(a.ops) as f:
        for row in f:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if len(cells) == 8 and cells[0] not in ("op", "---"):
                lines.append(f"- {cells[0]} {cells[1]} {cells[2]}: {float(cells[6]) / float(cells[7]):.0%} "
                             f"({cells[6]} of {cells[7]} GB/s), time ratio to PyTorch {cells[5]}")
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
