#!/usr/bin/env python3
"""tcp_chart.py RAW.md... > chart.svg: a bar chart of bench/tcp.sh's raw outputs.

Each "## " section of a raw file is one bar: the Mbit/s its receivers report, added up (a run
in both directions at once moves the sum of its two), drawn against the same file's host
loopback (iperf3, one way), whose value is the dashed line of its group. Nothing is typed in by
hand: the numbers come from the raw files as bench/tcp.sh wrote them.
"""
import re
import sys
from xml.sax.saxutils import escape

RECEIVED = re.compile(r"received \d+ bytes in [\d.]+ s \(([\d.]+) Mbit/s\)")
IPERF = re.compile(r"iperf3 loopback: ([\d.]+) Mbits/sec")


def short(title):
    """The section's heading without its sizes and load averages."""
    t = re.sub(r"\s*\(load average.*$", "", title)
    t = re.sub(r",? \d+ MiB.*$", "", t)
    t = t.replace("rump kernel (virtif, TAP, ", "rump kernel on a TAP (")
    t = t.replace(" <-> Linux in a namespace", " to Linux")
    t = t.replace(" into a namespace", "")
    t = t.replace("Linux <-> Linux over veth", "Linux to Linux over veth")
    return t


def parse(path):
    """(label, [(bar title, Mbit/s)], loopback Mbit/s or None) of one raw file."""
    text = open(path, encoding="utf-8").read()
    first = next((l for l in text.splitlines() if l.startswith("bench/tcp.sh")), path)
    label = "one way" if "one way only" in first else "both directions at once (sum)"
    bars, loop, title, total = [], None, None, 0.0
    for line in text.splitlines():
        if line.startswith("## "):
            if title and total:
                bars.append((short(title), total))
            title, total = line[3:], 0.0
            continue
        m = RECEIVED.search(line)
        if m:
            total += float(m.group(1))
        m = IPERF.search(line)
        if m:
            loop = float(m.group(1))
    if title and total:
        bars.append((short(title), total))
    return label + " (" + first.split(" on ", 1)[-1].split(",")[0] + ")", bars, loop


def main(paths):
    groups = [parse(p) for p in paths]
    top = max([v for _, bars, loop in groups for _, v in bars] + [g[2] or 0 for g in groups])
    bar_h, gap, left, width = 18, 6, 330, 420
    rows = sum(len(b) + 2 for _, b, _ in groups)
    height = rows * (bar_h + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 140}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<text x="8" y="18" font-weight="bold">TCP throughput, Mbit/s (bench/tcp.sh); '
           'dashed: the host\'s loopback (iperf3, one way) in the same run</text>']
    y = 36
    for label, bars, loop in groups:
        out.append(f'<text x="8" y="{y + 13}" font-weight="bold">{escape(label)}</text>')
        y += bar_h + gap
        first_y = y
        for name, v in bars:
            w = v / top * width
            color = "#1f77b4" if name.startswith("Linux") else "#d62728"  # ours red, Linux blue
            out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
            pct = f" ({v / loop * 100:.0f}% of loopback)" if loop else ""
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}">{v:,.0f}{pct}</text>')
            y += bar_h + gap
        if loop:
            x = left + loop / top * width
            out.append(f'<line x1="{x:.1f}" y1="{first_y - 3}" x2="{x:.1f}" y2="{y - gap + 3}" '
                       'stroke="black" stroke-dasharray="4,3"/>')
        y += bar_h + gap
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: tcp_chart.py RAW.md... > chart.svg")
    main(sys.argv[1:])
