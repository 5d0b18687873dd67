"""Plots `cargo xtask bench scaling` results: python plot.py SCALING_JSON OUT_PNG.

Top left: time per query vs rows (8 parts; log-log, cold and warm = memory-resident). Top
right: time vs number of parts at a fixed size. Bottom left: peak memory of the frocket process
vs rows, with each peer's peak at the largest size. Bottom right: at the largest size, every
engine's time per query in the three regimes (a peer that gave up has no marker).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    points = json.load(open(sys.argv[1]))
    queries = sorted({p["query"] for p in points if p["series"] != "regimes"}, key=lambda q: int(q[1:]))
    fig, ((ax_rows, ax_parts), (ax_mem, ax_side)) = plt.subplots(2, 2, figsize=(16, 11))
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
        ax_mem.plot(xs, [mem[x] / 2**20 for x in xs], "-o", color="black", label="frocket (memory cache on)")
    side = [p for p in points if p["series"] == "regimes"]
    engines = list(dict.fromkeys(p["engine"] for p in side))
    side_queries = sorted({p["query"] for p in side}, key=lambda q: int(q[1:]))
    markers = {"cold": "o", "parquet": "^", "memory": "s"}
    for i, e in enumerate(engines):
        c = colors[i % len(colors)]
        mine = {p["query"]: p for p in side if p["engine"] == e}
        for regime, m in markers.items():
            xs = [k + (i - (len(engines) - 1) / 2) * 0.15 for k, q in enumerate(side_queries)
                  if mine.get(q, {}).get(regime) is not None]
            ys = [mine[q][regime] for q in side_queries if mine.get(q, {}).get(regime) is not None]
            ax_side.scatter(xs, ys, marker=m, color=c, label=f"{e} {regime}", s=28,
                            facecolors="none" if regime == "parquet" else c)
        peaks = [v for p in mine.values() for v in (p.get("peakParquetBytes"), p.get("peakMemoryBytes")) if v]
        if peaks:
            rows = side[0]["rows"]
            ax_mem.scatter([rows], [max(peaks) / 2**20], marker="D", color=c, label=f"{e} (max at {rows:,} rows)")
    if side:
        ax_side.set_xticks(range(len(side_queries)), side_queries)
        ax_side.set(yscale="log", ylabel="seconds",
                    title=f"{side[0]['rows']:,} rows: cold (o), Parquet-resident (^), memory-resident (s)")
        ax_side.grid(True, which="both", alpha=0.3)
        ax_side.legend(fontsize=7, ncol=len(engines))
    ax_mem.legend(fontsize=7)
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
