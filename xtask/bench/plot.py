"""Plots `cargo xtask bench scaling` results: python plot.py SCALING_JSON OUT_PNG.

Left: time per query vs rows (8 parts; log-log, cold and warm). Middle: time vs number of parts
at a fixed size (cold and warm). Right: peak memory of the frocket process vs rows.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    points = json.load(open(sys.argv[1]))
    queries = sorted({p["query"] for p in points})
    fig, (ax_rows, ax_parts, ax_mem) = plt.subplots(1, 3, figsize=(17, 5.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, q in enumerate(queries):
        c = colors[i % len(colors)]
        rows = sorted((p for p in points if p["series"] == "rows" and p["query"] == q), key=lambda p: p["rows"])
        if rows:
            xs = [p["rows"] for p in rows]
            ax_rows.plot(xs, [p["cold"] for p in rows], "-o", color=c, label=f"{q} cold")
            ax_rows.plot(xs, [p["warm"] for p in rows], "--s", color=c, label=f"{q} warm")
        parts = sorted((p for p in points if p["series"] == "parts" and p["query"] == q), key=lambda p: p["parts"])
        if parts:
            xs = [p["parts"] for p in parts]
            ax_parts.plot(xs, [p["cold"] for p in parts], "-o", color=c, label=f"{q} cold")
            ax_parts.plot(xs, [p["warm"] for p in parts], "--s", color=c, label=f"{q} warm")
    mem = {}
    for p in points:
        if p["series"] == "rows" and p.get("peakBytes"):
            mem[p["rows"]] = max(mem.get(p["rows"], 0), p["peakBytes"])
    if mem:
        xs = sorted(mem)
        ax_mem.plot(xs, [mem[x] / 2**20 for x in xs], "-o", color="black")
    ax_rows.set(xscale="log", yscale="log", xlabel="rows (8 parts)", ylabel="seconds", title="Time vs data size")
    parts_rows = next((p["rows"] for p in points if p["series"] == "parts"), None)
    ax_parts.set(
        xscale="log", yscale="log", xlabel=f"parts ({parts_rows:,} rows)" if parts_rows else "parts",
        ylabel="seconds", title="Time vs number of parts",
    )
    ax_mem.set(xscale="log", yscale="log", xlabel="rows (8 parts)", ylabel="MB", title="Peak memory (max over queries)")
    for ax in (ax_rows, ax_parts, ax_mem):
        ax.grid(True, which="both", alpha=0.3)
    ax_rows.legend(fontsize=7, ncol=2)
    ax_parts.legend(fontsize=7, ncol=2)
    fig.suptitle("Funnel Rocket, embedded (cold = first query of a process, warm = median of later runs)")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
