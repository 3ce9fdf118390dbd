#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarizes the runs of scripts/results into the Markdown tables of
docs/results.md (printed) and its pictures (SVG, plus the strength grid PNG of
EL-nivMF, seed 0).

Usage: scripts/summarize_results.py RESULTS_DIR PICTURES_DIR

RESULTS_DIR holds <protocol>/seed<s>/<loss>/ as written by scripts/results.
Means are over the seeds present; "+-" is the sample standard deviation.
"""

import csv
import math
import os
import shutil
import statistics
import sys

LOSSES = ["elnivmf", "proxyanchor", "proxynca", "elvmf", "untrained"]
NAMES = {"elnivmf": "EL-nivMF", "proxyanchor": "ProxyAnchor", "proxynca": "Proxy-NCA",
         "elvmf": "EL-vMF", "untrained": "untrained network"}
COLORS = {"elnivmf": "#d62728", "proxyanchor": "#1f77b4", "proxynca": "#2ca02c",
          "elvmf": "#9467bd", "untrained": "#7f7f7f"}
CORRUPTIONS = ["blur", "occlusion", "noise", "mix"]
MEANING = {"blur": "sigma (pixels)", "occlusion": "patch side / image side",
           "noise": "noise sd", "mix": "mixing weight l"}
SPLITS = {"zeroshot": ["heldout", "seen"], "seen": ["test"]}
SPLIT_TITLES = {"heldout": "held-out classes 5-9 (zero-shot)",
                "seen": "seen classes 0-4, test images (zero-shot protocol)",
                "test": "all 10 classes, test images (seen-class protocol)"}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load(results):
    """runs[(protocol, loss)] = {seed: {"metrics": rows, "corruptions": rows, "rejection": rows}}"""
    runs = {}
    for protocol in ("zeroshot", "seen"):
        root = os.path.join(results, protocol)
        if not os.path.isdir(root):
            continue
        for seed_dir in sorted(os.listdir(root)):
            seed = int(seed_dir.replace("seed", ""))
            for loss in LOSSES:
                name = "elnivmf" if loss == "untrained" else loss
                stem = os.path.join(root, seed_dir, loss, name + ("_seen" if protocol == "seen" else ""))
                if not os.path.exists(stem + "_rejection.csv"):
                    continue
                runs.setdefault((protocol, loss), {})[seed] = {
                    "metrics": read_csv(stem + "_metrics.csv"),
                    "corruptions": read_csv(stem + "_corruptions.csv"),
                    "rejection": read_csv(stem + "_rejection.csv"),
                }
    return runs


def mean_sd(values, digits, scale=1.0):
    values = [scale * v for v in values]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def retrieval_tables(runs):
    out = []
    for protocol in ("zeroshot", "seen"):
        for split in SPLITS[protocol]:
            rows = []
            for loss in LOSSES:
                seeds = runs.get((protocol, loss), {})
                vals = {k: [] for k in ("recall_at_1", "map_at_r", "nmi", "norm_auroc")}
                for run in seeds.values():
                    for m in run["metrics"]:
                        if m["split"] == split:
                            for k in vals:
                                vals[k].append(float(m[k]))
                if not vals["recall_at_1"]:
                    continue
                rows.append(f"| {NAMES[loss]} | {len(vals['recall_at_1'])} | "
                            f"{mean_sd(vals['recall_at_1'], 2, 100)} | {mean_sd(vals['map_at_r'], 2, 100)} | "
                            f"{mean_sd(vals['nmi'], 2, 100)} | {mean_sd(vals['norm_auroc'], 3)} |")
            if rows:
                out.append(f"#### Retrieval, {SPLIT_TITLES[split]}\n")
                out.append("| criterion | seeds | R@1 | mAP@R | NMI | norm AUROC |")
                out.append("|---|---|---|---|---|---|")
                out.extend(rows)
                out.append("")
    return "\n".join(out)


def suite_values(runs, protocol, loss, split, corruption, strength, column):
    values = []
    for run in runs.get((protocol, loss), {}).values():
        for r in run["corruptions"]:
            if r["split"] == split and r["corruption"] == corruption and \
                    math.isclose(float(r["strength"]), strength):
                values.append(float(r[column]))
    return values


def strengths_of(runs, protocol, corruption):
    for run in next(iter(runs.values())).values():
        return sorted({float(r["strength"]) for r in run["corruptions"] if r["corruption"] == corruption})
    return []


def auroc_tables(runs):
    """Per split: every corruption at its strongest strength, and the mixing ladder."""
    out = []
    for protocol in ("zeroshot", "seen"):
        for split in SPLITS[protocol]:
            if not any((protocol, loss) in runs for loss in LOSSES):
                continue
            out.append(f"#### Clean vs corrupted AUROC, {SPLIT_TITLES[split]}\n")
            out.append("Each cell: AUROC of |e| / of the mean intensity (ink) / of the untrained network's |e|; "
                       "the last column counts the seeds where |e| beats the better control by >= 0.1.\n")
            header = "| criterion | corruption (strength) | seeds | AUROC \\|e\\| | AUROC ink | AUROC untrained \\|e\\| | \\|e\\| - best control | seeds with margin >= 0.1 |"
            out.append(header)
            out.append("|---|---|---|---|---|---|---|---|")
            for corruption in CORRUPTIONS:
                strongest = strengths_of(runs, protocol, corruption)[-1]
                for loss in LOSSES[:-1]:
                    a = suite_values(runs, protocol, loss, split, corruption, strongest, "auroc_norm")
                    ink = suite_values(runs, protocol, loss, split, corruption, strongest, "auroc_intensity")
                    un = suite_values(runs, protocol, loss, split, corruption, strongest, "auroc_untrained_norm")
                    if not a:
                        continue
                    # A control counts in whichever direction it separates better.
                    margins = [x - max(max(i, 1 - i), max(u, 1 - u)) for x, i, u in zip(a, ink, un)]
                    wins = sum(m >= 0.1 for m in margins)
                    out.append(f"| {NAMES[loss]} | {corruption} ({strongest:g}) | {len(a)} | {mean_sd(a, 3)} | "
                               f"{mean_sd(ink, 3)} | {mean_sd(un, 3)} | {mean_sd(margins, 3)} | {wins}/{len(a)} |")
            out.append("")
            out.append(f"Mixing ladder (AUROC of |e|, clean vs x = (1 - l) a + l b), {SPLIT_TITLES[split]}:\n")
            ls = strengths_of(runs, protocol, "mix")
            out.append("| score | " + " | ".join(f"l = {l:g}" for l in ls) + " |")
            out.append("|---|" + "---|" * len(ls))
            for loss in LOSSES[:-1]:
                cells = [mean_sd(suite_values(runs, protocol, loss, split, "mix", l, "auroc_norm"), 3) for l in ls]
                out.append(f"| {NAMES[loss]} \\|e\\| | " + " | ".join(cells) + " |")
            un = [mean_sd(suite_values(runs, protocol, "untrained", split, "mix", l, "auroc_norm"), 3) for l in ls]
            ink = [mean_sd(suite_values(runs, protocol, "untrained", split, "mix", l, "auroc_intensity"), 3) for l in ls]
            out.append("| untrained network \\|e\\| | " + " | ".join(un) + " |")
            out.append("| mean intensity | " + " | ".join(ink) + " |")
            out.append("")
    return "\n".join(out)


def relative_norm_table(runs):
    out = ["#### Mean |e| relative to clean at the strongest strength (mean over seeds)\n",
           "| criterion | split | " + " | ".join(f"{c}" for c in CORRUPTIONS) + " | corr(\\|e\\|, ink) |",
           "|---|---|" + "---|" * (len(CORRUPTIONS) + 1)]
    for protocol in ("zeroshot", "seen"):
        for split in SPLITS[protocol]:
            for loss in LOSSES:
                if (protocol, loss) not in runs:
                    continue
                cells = []
                for c in CORRUPTIONS:
                    s = strengths_of(runs, protocol, c)[-1]
                    cells.append(mean_sd(suite_values(runs, protocol, loss, split, c, s, "relative_norm"), 3))
                corr = suite_values(runs, protocol, loss, split, "blur", strengths_of(runs, protocol, "blur")[0],
                                    "corr_norm_intensity")
                out.append(f"| {NAMES[loss]} | {split} | " + " | ".join(cells) + f" | {mean_sd(corr, 2)} |")
    out.append("")
    return "\n".join(out)


def rejection_values(runs, protocol, loss, split, pool, score, q):
    values = []
    for run in runs.get((protocol, loss), {}).values():
        for r in run["rejection"]:
            if r["split"] == split and r["pool"] == pool and r["score"] == score and \
                    math.isclose(float(r["kept_fraction"]), q):
                values.append(float(r["recall_at_1"]))
    return values


def rejection_table(runs):
    out = []
    for protocol in ("zeroshot", "seen"):
        for split in SPLITS[protocol]:
            if not any((protocol, loss) in runs for loss in LOSSES[:-1]):
                continue
            out.append(f"#### Retrieval with rejection, {SPLIT_TITLES[split]}\n")
            out.append("Recall@1 (%) of the most certain 10% / 50% of the queries (pool: the clean "
                       "images, or clean + all five strengths of a corruption), ordered by |e|, by "
                       "ink and by the untrained |e|; random: the pool's overall Recall@1.\n")
            out.append("| criterion | pool | by \\|e\\| | by ink | by untrained \\|e\\| | random |")
            out.append("|---|---|---|---|---|---|")
            for loss in LOSSES[:-1]:
                for pool in ["clean"] + CORRUPTIONS:
                    cells = []
                    for score in ("norm", "intensity", "untrained_norm"):
                        a = rejection_values(runs, protocol, loss, split, pool, score, 0.1)
                        b = rejection_values(runs, protocol, loss, split, pool, score, 0.5)
                        if not a:
                            continue
                        cells.append(f"{100 * statistics.mean(a):.1f} / {100 * statistics.mean(b):.1f}")
                    r = rejection_values(runs, protocol, loss, split, pool, "random", 1.0)
                    if cells:
                        out.append(f"| {NAMES[loss]} | {pool} | " + " | ".join(cells) +
                                   f" | {100 * statistics.mean(r):.1f} |")
            out.append("")
    return "\n".join(out)


def svg_panels(path, title, panels, x_label):
    """panels: [(panel title, [(name, color, xs, ys, dashed)])]; one SVG, panels stacked."""
    pw, ph, left, right, top, gap = 560, 200, 60, 200, 44, 64
    width, height = left + pw + right, top + len(panels) * (ph + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2:.0f}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for p, (panel_title, curves) in enumerate(panels):
        y0 = top + p * (ph + gap)
        xs = [x for c in curves for x in c[2]]
        ys = [y for c in curves for y in c[3]]
        xmin, xmax = min(xs), max(xs)
        ymin, ymax = min(ys), max(ys)
        if ymax <= ymin:
            ymax = ymin + 1
        pad = 0.05 * (ymax - ymin)
        ymin, ymax = ymin - pad, ymax + pad

        def sx(x):
            return left + (x - xmin) / (xmax - xmin) * pw

        def sy(y):
            return y0 + ph - (y - ymin) / (ymax - ymin) * ph

        parts.append(f'<text x="{left}" y="{y0 - 8}" font-size="13">{panel_title}</text>')
        parts.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        for t in range(5):
            yv = ymin + (ymax - ymin) * t / 4
            xv = xmin + (xmax - xmin) * t / 4
            parts.append(f'<line x1="{left}" y1="{sy(yv):.1f}" x2="{left + pw}" y2="{sy(yv):.1f}" stroke="#ddd"/>'
                         f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>'
                         f'<text x="{sx(xv):.1f}" y="{y0 + ph + 16}" text-anchor="middle">{xv:.3g}</text>')
        parts.append(f'<text x="{left + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">{x_label}</text>')
        for k, (name, color, cx, cy, dashed) in enumerate(curves):
            points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(cx, cy))
            dash = ' stroke-dasharray="5,4"' if dashed else ""
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{points}"/>')
            ly = y0 + 14 + 16 * k
            parts.append(f'<line x1="{left + pw + 10}" y1="{ly - 4}" x2="{left + pw + 30}" y2="{ly - 4}" '
                         f'stroke="{color}" stroke-width="3"{dash}/><text x="{left + pw + 36}" y="{ly}">{name}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def pictures(runs, results, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    split = "heldout"
    panels = []
    for c in CORRUPTIONS:
        ss = strengths_of(runs, "zeroshot", c)
        curves = []
        for loss in LOSSES:
            if ("zeroshot", loss) not in runs:
                continue
            ys = [1.0] + [statistics.mean(suite_values(runs, "zeroshot", loss, split, c, s, "relative_norm"))
                          for s in ss]
            curves.append((NAMES[loss], COLORS[loss], [0.0] + ss, ys, loss == "untrained"))
        panels.append((f"{c}: mean |e| / clean, against {MEANING[c]}", curves))
    svg_panels(os.path.join(out_dir, "concentration_vs_strength.svg"),
               "Held-out classes 5-9: mean concentration under corruption (mean over seeds)",
               panels, "strength (0 = clean)")
    qs = [t / 10 for t in range(1, 11)]
    for pool in ("mix", "clean"):
        panels = []
        for loss in LOSSES[:-1]:
            if ("zeroshot", loss) not in runs:
                continue
            curves = []
            for score, color, label in (("norm", COLORS[loss], "by |e|"), ("intensity", "#ff7f0e", "by ink"),
                                        ("untrained_norm", "#7f7f7f", "by untrained |e|"),
                                        ("random", "#000000", "random order")):
                ys = [100 * statistics.mean(rejection_values(runs, "zeroshot", loss, split, pool,
                                                             score, 1.0 if score == "random" else q))
                      for q in qs]
                curves.append((label, color, [100 * q for q in qs], ys, score == "random"))
            what = "clean + mixtures l = 0.1..0.5" if pool == "mix" else "clean images"
            panels.append((f"{NAMES[loss]}: Recall@1 (%) of the most certain queries ({what})", curves))
        svg_panels(os.path.join(out_dir, f"rejection_{pool}.svg"),
                   "Held-out classes 5-9: retrieval with rejection (mean over seeds)",
                   panels, "queries kept, most certain first (%)")
    grid = os.path.join(results, "zeroshot", "seed0", "elnivmf", "elnivmf_corruption_grid.png")
    if os.path.exists(grid):
        shutil.copyfile(grid, os.path.join(out_dir, "elnivmf_corruption_grid.png"))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    results, out_dir = sys.argv[1], sys.argv[2]
    runs = load(results)
    if not runs:
        sys.exit(f"summarize_results: no runs under {results}")
    print(retrieval_tables(runs))
    print(auroc_tables(runs))
    print(relative_norm_table(runs))
    print(rejection_table(runs))
    pictures(runs, results, out_dir)
    print(f"pictures: {out_dir}/concentration_vs_strength.svg, {out_dir}/rejection_mix.svg, "
          f"{out_dir}/rejection_clean.svg, {out_dir}/elnivmf_corruption_grid.png")


if __name__ == "__main__":
    main()
