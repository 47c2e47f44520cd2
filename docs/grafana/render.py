#!/usr/bin/env python3
"""Render the panels of docs/grafana/osprey.json from a live Prometheus into one PNG.

Grafana itself is not packaged by Debian, PyPI or npm (the registries this project's machines
reach), so docs/operations.md#dashboard shows the dashboard's panels drawn by this script instead:
the same PromQL expressions and legends as the dashboard JSON, evaluated by a real Prometheus
(Debian's `prometheus` package) over real traffic, plotted with matplotlib.

    python3 docs/grafana/render.py --prometheus http://127.0.0.1:9090 --minutes 10 --out docs/grafana/dashboard.png
"""

import argparse
import json
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def query_range(prom, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"Prometheus refused {expr!r}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt) or str(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--dashboard", default="docs/grafana/osprey.json")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--until", type=float, default=None, help="end of the window, Unix time (default: now)")
    ap.add_argument("--step", type=float, default=5)
    ap.add_argument("--out", default="docs/grafana/dashboard.png")
    a = ap.parse_args()

    dash = json.load(open(a.dashboard))
    panels = dash["panels"]
    end = a.until or time.time()
    start = end - a.minutes * 60
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(18, 4.2 * rows), squeeze=False)
    fig.patch.set_facecolor("#111217")
    for ax in axes.flat:
        ax.set_visible(False)
    for p in panels:
        i = p["id"] - 1
        ax = axes[i // cols][i % cols]
        ax.set_visible(True)
        ax.set_facecolor("#181b1f")
        ax.set_title(p["title"], color="#d8d9da", fontsize=11, loc="left")
        ax.tick_params(colors="#9fa7b3", labelsize=8)
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.grid(color="#2c3235", linewidth=0.6)
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        lines = 0
        for t in p["targets"]:
            for series in query_range(a.prometheus, t["expr"], start, end, a.step):
                xs = [datetime.fromtimestamp(float(v[0]), tz=timezone.utc) for v in series["values"]]
                ys = [float(v[1]) if v[1] not in ("NaN", "+Inf", "-Inf") else float("nan") for v in series["values"]]
                ax.plot(xs, ys, linewidth=1.4, label=legend(t.get("legendFormat", ""), series["metric"]))
                lines += 1
        if lines:
            ax.legend(fontsize=7, loc="upper left", framealpha=0.3, labelcolor="#d8d9da", ncol=2)
        else:
            ax.text(0.5, 0.5, "no data", color="#9fa7b3", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel(unit, color="#9fa7b3", fontsize=8)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=timezone.utc))
    fig.suptitle(
        f"{dash['title']} — panels of docs/grafana/osprey.json from Prometheus, "
        f"{datetime.fromtimestamp(start, tz=timezone.utc):%Y-%m-%d %H:%M}–{datetime.fromtimestamp(end, tz=timezone.utc):%H:%M} UTC",
        color="#d8d9da",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(a.out, dpi=80, facecolor=fig.get_facecolor())
    print(f"wrote {a.out} ({len(panels)} panels)")


if __name__ == "__main__":
    main()
