#!/usr/bin/env python3
"""Turns the JSON lines of bench/compare.sh into bench/RESULTS.md.

One table per metric: the three servers side by side, the median over the
rounds with the spread (min–max), and the ratio of Waxwing to each other
server (>1 means Waxwing is better, whichever way "better" points).
"""
import json
import statistics
import sys
from collections import defaultdict

SERVERS = ["waxwing", "prosody", "ejabberd"]


def variant(row):
    if row["scenario"] in ("messages", "presence"):
        return row["scenario"] + "-" + row["mode"]
    return row["scenario"]


# (variant, title, extractor, unit, higher_is_better)
METRICS = [
    ("login", "Logins per second", lambda r: r["logins_per_sec"], "logins/s", True),
    ("login", "Login latency p50", lambda r: r["latency_ms"]["p50"], "ms", False),
    ("login", "Login latency p99", lambda r: r["latency_ms"]["p99"], "ms", False),
    ("idle", "Memory per idle authenticated TLS session", lambda r: r["kib_per_session"], "KiB", False),
    ("messages-window", "Messages flat-out (bounded window)", lambda r: r["delivered_per_sec"], "msgs/s", True),
    ("messages-window", "Flat-out latency p99", lambda r: r["latency_ms"]["p99"], "ms", False),
    ("messages-rate", "Latency at the fixed rate, p50", lambda r: r["latency_ms"]["p50"], "ms", False),
    ("messages-rate", "Latency at the fixed rate, p99", lambda r: r["latency_ms"]["p99"], "ms", False),
    ("presence-toggle", "Presence fan-out, unavailable/available", lambda r: r["delivered_per_sec"], "deliveries/s", True),
    ("presence-toggle", "Presence fan-out latency p50", lambda r: r["latency_ms"]["p50"], "ms", False),
    ("presence-toggle", "Presence fan-out latency p99", lambda r: r["latency_ms"]["p99"], "ms", False),
    ("presence-relogin", "Presence fan-out, logging out and in", lambda r: r["delivered_per_sec"], "deliveries/s", True),
    ("presence-relogin", "Presence fan-out latency p99, logging out and in", lambda r: r["latency_ms"]["p99"], "ms", False),
]


def fmt(x):
    if x is None:
        return "–"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    by = defaultdict(list)
    for r in rows:
        by[(variant(r), r.get("label"))].append(r)

    out = ["# Waxwing, Prosody and ejabberd on this machine", ""]
    out.append("Written by `bench/compare.sh` from its own run; see that script for the settings. ")
    out.append("Each server ran alone, pinned to CPU 0 (`taskset -c 0`), with `waxwing-bench` on CPU 1; ")
    out.append("same domain, certificate (ECDSA P-256, TLS 1.3), users and scenarios. ")
    rounds = max((len(v) for v in by.values()), default=0)
    out.append(f"Figures are medians over {rounds} round(s), the order of servers alternating between rounds; ")
    out.append("the range in brackets is min–max. Ratio: how many times better Waxwing is than that server.")
    out.append("")
    params = {}
    for r in rows:
        v = variant(r)
        if v == "login":
            params[v] = f"{r['sessions']} logins at concurrency {r['concurrency']}, {r['mechanism']} over {r['tls']}"
        elif v == "idle":
            params[v] = f"{r['sessions']} sessions held; RSS of the server process tree before and after"
        elif v == "messages-window":
            params[v] = f"{r['pairs']} sender→receiver pairs, window {r.get('window')} per pair, {r['duration_s']} s"
        elif v == "messages-rate":
            params[v] = f"{r['pairs']} pairs at a total of {r.get('rate')} msgs/s, {r['duration_s']} s"
        elif v.startswith("presence-"):
            how = "log out and in again" if r["mode"] == "relogin" else "send unavailable then available"
            params[v] = (f"{r['users']} users with {r['contacts']} mutual contacts each, all online; "
                         f"in closed-loop rounds {r['changers_per_round']} of them (no two contacts) {how}; "
                         f"deliveries are the copies their contacts receive, over about {round(r['duration_s'])} s")

    for v, title, get, unit, higher in METRICS:
        # A run limited to some scenarios (SCENARIOS=...) gets only their tables.
        if not any(by.get((v, s)) for s in SERVERS):
            continue
        out.append(f"## {title} ({unit})")
        if v in params:
            out.append("")
            out.append(params[v])
        out.append("")
        out.append("| server | median | range | ratio (Waxwing vs this) |")
        out.append("|---|---|---|---|")
        medians = {}
        for s in SERVERS:
            vals = []
            for r in by.get((v, s), []):
                try:
                    vals.append(float(get(r)))
                except (KeyError, TypeError):
                    pass
            medians[s] = statistics.median(vals) if vals else None
            rng = f"{fmt(min(vals))}–{fmt(max(vals))}" if vals else "–"
            medians[s + ".range"] = rng
        w = medians.get("waxwing")
        for s in SERVERS:
            m = medians[s]
            ratio = "–"
            if s != "waxwing" and m and w:
                ratio = f"{(w / m) if higher else (m / w):.1f}×"
            out.append(f"| {s} | {fmt(m)} | {medians[s + '.range']} | {ratio} |")
        out.append("")

    out.append("## Correctness in every run")
    out.append("")
    out.append("| server | scenario | lost | duplicated | failures |")
    out.append("|---|---|---|---|---|")
    for (v, s), rs in sorted(by.items(), key=lambda kv: (SERVERS.index(kv[0][1]) if kv[0][1] in SERVERS else 9, kv[0][0])):
        lost = sum(r.get("lost", 0) for r in rs)
        dup = sum(r.get("duplicated", 0) for r in rs)
        fails = defaultdict(int)
        for r in rs:
            for k, n in (r.get("failures") or {}).items():
                fails[k] += n
            # presence: the roster setup's failures too (they cause losses).
            for k, n in ((r.get("setup") or {}).get("failures") or {}).items():
                fails["setup " + k] += n
        ftxt = ", ".join(f"{k}: {n}" for k, n in sorted(fails.items())) or "0"
        out.append(f"| {s} | {v} | {lost} | {dup} | {ftxt} |")
    out.append("")
    # The hand-written part (optimisations, profiles, the floor) lives beside
    # this script so a new run refreshes the tables without losing it.
    import os
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(notes):
        out.append(open(notes).read())
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/waxwing-compare/results.jsonl")
