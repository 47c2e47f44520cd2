#!/usr/bin/env python3
"""Compare a direct s3-tests run with one through Osprey.

  diff.py [DIRECT.txt [THROUGH.txt]] [--xml THROUGH.xml] [--messages THROUGH.messages.txt]

Defaults: conformance/results/direct.txt and conformance/results/osprey.txt. The first line of
each through-Osprey failure comes from the run's junit XML when it is there (results/osprey.xml,
not committed), else from results/osprey.messages.txt (committed).

Prints the counts of each run, `both` (tests passing in both runs), parity = both / direct
passes, the tests that pass directly but not through Osprey (with the failure's first line), the
tests that pass only through Osprey, and tests present in only one of the runs.

With conformance/known-differences.txt (or --known FILE) the lost tests are grouped by their
recorded cause; a lost test not recorded there is listed under UNEXPLAINED, and a recorded test
that no longer differs is listed as "recorded but no longer different" (fixed, or flaky).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, HERE)


def read_results(path):
    res = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            status, _, name = line.partition(" ")
            if status not in ("PASS", "FAIL", "ERROR", "SKIP") or not name:
                sys.exit(f"{path}:{n}: not `STATUS name`: {line!r}")
            res[name] = status
    return res


def read_messages(xml_path, msg_path):
    if xml_path and os.path.exists(xml_path):
        from junit2results import parse
        return {k: v[1] for k, v in parse(xml_path).items()}
    msgs = {}
    if msg_path and os.path.exists(msg_path):
        with open(msg_path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", 2)
                if len(parts) == 3:
                    msgs[parts[0]] = parts[2]
    return msgs


def read_known(path):
    """(causes: id -> description, tests: name -> (cause, reason))"""
    causes, tests = {}, {}
    if not path or not os.path.exists(path):
        return causes, tests
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if line.startswith("@") and len(parts) == 2:
                causes[parts[0][1:]] = parts[1]
            elif len(parts) == 3:
                tests[parts[0]] = (parts[1], parts[2])
            else:
                sys.exit(f"{path}:{n}: expected `@cause<TAB>text` or `test<TAB>cause<TAB>reason`")
    for name, (cause, _) in tests.items():
        if cause not in causes:
            sys.exit(f"{path}: {name} names an undeclared cause {cause!r}")
    return causes, tests


def counts(res):
    c = {k: 0 for k in ("PASS", "FAIL", "ERROR", "SKIP")}
    for s in res.values():
        c[s] += 1
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("direct", nargs="?", default=os.path.join(RESULTS, "direct.txt"))
    ap.add_argument("through", nargs="?", default=os.path.join(RESULTS, "osprey.txt"))
    ap.add_argument("--xml", help="junit XML of the through run (default: THROUGH with .xml)")
    ap.add_argument("--messages", help="messages file of the through run (default: THROUGH with .messages.txt)")
    ap.add_argument("--known", default=os.path.join(HERE, "known-differences.txt"),
                    help="recorded causes (default: conformance/known-differences.txt; '' for none)")
    a = ap.parse_args()
    base = a.through[:-4] if a.through.endswith(".txt") else a.through
    xml = a.xml or base + ".xml"
    msgf = a.messages or base + ".messages.txt"

    d = read_results(a.direct)
    t = read_results(a.through)
    msgs = read_messages(xml, msgf)
    common = sorted(set(d) & set(t))
    dc, tc = counts(d), counts(t)

    def line(label, c, n):
        return (f"{label:<8} PASS {c['PASS']:4} / {n:4}   (FAIL {c['FAIL']}, ERROR {c['ERROR']}, "
                f"SKIP {c['SKIP']})")

    both = [n for n in common if d[n] == "PASS" and t[n] == "PASS"]
    lost = [n for n in common if d[n] == "PASS" and t[n] != "PASS"]
    gained = [n for n in common if d[n] != "PASS" and t[n] == "PASS"]
    print(f"direct  = {os.path.relpath(a.direct)}")
    print(f"through = {os.path.relpath(a.through)}")
    print(line("direct", dc, len(d)))
    print(line("through", tc, len(t)))
    print(f"both     PASS {len(both):4}   (tests passing directly and through Osprey)")
    dp = sum(1 for n in common if d[n] == "PASS")
    parity = 100.0 * len(both) / dp if dp else 0.0
    print(f"parity   {len(both)} / {dp} = {parity:.1f} %   (both / direct passes)")
    print()
    causes, known = read_known(a.known)
    print(f"Pass directly, not through Osprey ({len(lost)}):")
    groups = {}
    for n in lost:
        groups.setdefault(known[n][0] if n in known else None, []).append(n)
    order = [c for c in causes if c in groups] + ([None] if None in groups else [])
    for c in order:
        names = groups[c]
        if c is None:
            print(f"\n  UNEXPLAINED ({len(names)}): not in {os.path.relpath(a.known) if a.known else 'a known-differences file'}")
        else:
            print(f"\n  [{c}] ({len(names)}) {causes[c]}")
        for n in names:
            m = msgs.get(n, "")
            print(f"    {t[n]:5} {n}")
            if c is not None:
                print(f"          cause: {known[n][1]}")
            if m:
                print(f"          first line: {m}")
    stale = sorted(n for n in known if n in d and n in t and not (d[n] == "PASS" and t[n] != "PASS"))
    if stale:
        print(f"\n  Recorded but no longer different ({len(stale)}): " + " ".join(
            f"{n} ({d[n]}/{t[n]})" for n in stale))
    print()
    print(f"Pass only through Osprey ({len(gained)}):")
    for n in gained:
        print(f"  {d[n]:5}->PASS {n}")
    only_d = sorted(set(d) - set(t))
    only_t = sorted(set(t) - set(d))
    if only_d or only_t:
        print()
        print(f"In the direct run only ({len(only_d)}): " + " ".join(only_d))
        print(f"In the through run only ({len(only_t)}): " + " ".join(only_t))


if __name__ == "__main__":
    main()
