#!/usr/bin/env python3
"""junit XML (pytest --junitxml) -> one line per test.

  junit2results.py RUN.xml RUN.txt [RUN.messages.txt]

RUN.txt:          `PASS|FAIL|ERROR|SKIP <file>::<test>` sorted by name, e.g.
                  `PASS test_s3.py::test_bucket_list_empty`
RUN.messages.txt: `<file>::<test>\t<STATUS>\t<first line of the failure/error/skip message>` for
                  every test that did not pass (small enough to commit, unlike the XML).

A test that passed but whose teardown failed is ERROR (pytest writes an <error> for it); when a
test appears twice (call + teardown) the worse status wins: ERROR > FAIL > SKIP > PASS.
"""
import sys
import xml.etree.ElementTree as ET

RANK = {"PASS": 0, "SKIP": 1, "FAIL": 2, "ERROR": 3}


def test_name(tc):
    cls = tc.get("classname", "")
    # pytest: classname "s3tests.functional.test_s3", name "test_x[param]"
    module = cls.split(".")[-1] if cls else "?"
    return f"{module}.py::{tc.get('name')}"


def first_line(el):
    msg = (el.get("message") or "").strip()
    if not msg:
        msg = (el.text or "").strip()
    for line in msg.splitlines():
        line = line.strip()
        if line:
            return line[:400]
    return ""


def parse(xml_path):
    """name -> (status, message)"""
    out = {}
    root = ET.parse(xml_path).getroot()
    for tc in root.iter("testcase"):
        name = test_name(tc)
        status, msg = "PASS", ""
        for child in tc:
            tag = child.tag
            if tag == "failure":
                st = "FAIL"
            elif tag == "error":
                st = "ERROR"
            elif tag == "skipped":
                st = "SKIP"
            else:
                continue
            if RANK[st] > RANK[status]:
                status, msg = st, first_line(child)
        prev = out.get(name)
        if prev is None or RANK[status] > RANK[prev[0]]:
            out[name] = (status, msg)
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    res = parse(sys.argv[1])
    with open(sys.argv[2], "w") as f:
        for name in sorted(res):
            f.write(f"{res[name][0]} {name}\n")
    if len(sys.argv) == 4:
        with open(sys.argv[3], "w") as f:
            for name in sorted(res):
                st, msg = res[name]
                if st != "PASS":
                    f.write(f"{name}\t{st}\t{msg}\n")
    counts = {}
    for st, _ in res.values():
        counts[st] = counts.get(st, 0) + 1
    print(" ".join(f"{k}={counts.get(k, 0)}" for k in ("PASS", "FAIL", "ERROR", "SKIP")),
          f"total={len(res)}")


if __name__ == "__main__":
    main()
