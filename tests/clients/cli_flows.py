#!/usr/bin/env python3
"""Real S3 command-line clients against Osprey (issue 10): aws-cli v2 (Debian `awscli`),
aws-cli v1 (PyPI `awscli<2`), s3cmd and rclone (Debian), each with its defaults: cp/put/get,
sync, listing, multipart (a 12 MiB file over a 5 MiB part size), presigned URLs (`aws s3 presign`,
`s3cmd signurl`) fetched with plain HTTP, delete and remove bucket.

usage: cli_flows.py --endpoint URL --access-key AK --secret-key SK --bucket-prefix P
       [--aws2 PATH] [--aws1 PATH] [--s3cmd PATH] [--rclone PATH]
Prints {"steps": [[client, step, ok, detail], ...]}; a missing client is a failed step.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--bucket-prefix", required=True)
    ap.add_argument("--aws2", default="/usr/bin/aws")
    ap.add_argument("--aws1", default="")
    ap.add_argument("--s3cmd", default=shutil.which("s3cmd") or "/usr/bin/s3cmd")
    ap.add_argument("--rclone", default=shutil.which("rclone") or "/usr/bin/rclone")
    a = ap.parse_args()
    steps = []
    work = tempfile.mkdtemp(prefix="osprey-cli-")
    small = os.path.join(work, "small.txt")
    with open(small, "wb") as f:
        f.write(b"hello from a cli\n")
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(12 * 1024 * 1024))
    big_md5 = hashlib.md5(open(big, "rb").read()).hexdigest()
    tree = os.path.join(work, "tree")
    os.makedirs(os.path.join(tree, "sub"))
    for p in ("a.txt", "sub/b.txt", "sub/ü c.txt"):
        with open(os.path.join(tree, p), "w") as f:
            f.write(p)

    def run(client, name, args, env=None, expect_out=None):
        try:
            r = subprocess.run(args, capture_output=True, env=env, timeout=300)
        except Exception as e:  # missing binary, time-out
            steps.append([client, name, False, repr(e)[:300]])
            return None
        ok = r.returncode == 0 and (expect_out is None or expect_out(r.stdout))
        detail = (r.stderr or r.stdout).decode(errors="replace")[-300:]
        steps.append([client, name, ok, detail if not ok else ""])
        return r.stdout if r.returncode == 0 else None

    def fetch(client, name, url, want):
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = resp.read()
            steps.append([client, name, body == want, f"{len(body)} bytes"])
        except Exception as e:
            steps.append([client, name, False, f"{e} {url.split('?')[0]}"])

    def md5_of(path):
        return hashlib.md5(open(path, "rb").read()).hexdigest()

    # ---- aws-cli v2 and v1: same commands
    for client, aws in (("aws-cli v2", a.aws2), ("aws-cli v1", a.aws1)):
        if not aws:
            steps.append([client, "installed", False, "no binary given"])
            continue
        env = dict(os.environ, AWS_ACCESS_KEY_ID=a.access_key, AWS_SECRET_ACCESS_KEY=a.secret_key,
                   AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.path.join(work, "none"),
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "none"), AWS_PAGER="")
        b = f"{a.bucket_prefix}-aws{client[-1]}"
        base = [aws, "--endpoint-url", a.endpoint]
        run(client, "mb", base + ["s3", "mb", f"s3://{b}"], env)
        run(client, "cp up", base + ["s3", "cp", small, f"s3://{b}/small.txt"], env)
        run(client, "cp down", base + ["s3", "cp", f"s3://{b}/small.txt", "-"], env,
            lambda o: o == b"hello from a cli\n")
        run(client, "cp multipart up", base + ["s3", "cp", big, f"s3://{b}/big.bin",
            "--only-show-errors"], env)
        down = os.path.join(work, f"big-{client[-1]}.bin")
        run(client, "cp multipart down", base + ["s3", "cp", f"s3://{b}/big.bin", down,
            "--only-show-errors"], env)
        steps.append([client, "multipart round trip", os.path.exists(down) and md5_of(down) == big_md5, ""])
        run(client, "sync", base + ["s3", "sync", tree, f"s3://{b}/tree/"], env)
        run(client, "ls recursive", base + ["s3", "ls", "--recursive", f"s3://{b}/tree/"], env,
            lambda o: o.count(b"\n") == 3 and "ü c.txt".encode() in o)
        run(client, "sync again uploads nothing", base + ["s3", "sync", tree, f"s3://{b}/tree/"], env,
            lambda o: b"upload" not in o)
        out = run(client, "presign", base + ["s3", "presign", f"s3://{b}/small.txt", "--expires-in", "300"], env)
        if out:
            fetch(client, "presigned GET", out.decode().strip(), b"hello from a cli\n")
        run(client, "rm recursive", base + ["s3", "rm", "--recursive", f"s3://{b}", "--only-show-errors"], env)
        run(client, "rb", base + ["s3", "rb", f"s3://{b}"], env)

    # ---- s3cmd
    u = urllib.parse.urlparse(a.endpoint)
    cfg = os.path.join(work, "s3cmd.cfg")
    with open(cfg, "w") as f:
        f.write(f"""[default]
access_key = {a.access_key}
secret_key = {a.secret_key}
host_base = {u.netloc}
host_bucket = {u.netloc}
use_https = {'True' if u.scheme == 'https' else 'False'}
bucket_location = us-east-1
""")
    s3c = [a.s3cmd, "-c", cfg]
    b = f"{a.bucket_prefix}-s3cmd"
    run("s3cmd", "mb", s3c + ["mb", f"s3://{b}"])
    run("s3cmd", "put", s3c + ["put", small, f"s3://{b}/small.txt"])
    got = os.path.join(work, "s3cmd-small.txt")
    run("s3cmd", "get", s3c + ["get", "--force", f"s3://{b}/small.txt", got])
    steps.append(["s3cmd", "get content", os.path.exists(got) and open(got, "rb").read() == b"hello from a cli\n", ""])
    run("s3cmd", "put multipart", s3c + ["put", "--multipart-chunk-size-mb=5", big, f"s3://{b}/big.bin"])
    got = os.path.join(work, "s3cmd-big.bin")
    run("s3cmd", "get multipart", s3c + ["get", "--force", f"s3://{b}/big.bin", got])
    steps.append(["s3cmd", "multipart round trip", os.path.exists(got) and md5_of(got) == big_md5, ""])
    run("s3cmd", "sync", s3c + ["sync", tree + "/", f"s3://{b}/tree/"])
    run("s3cmd", "ls recursive", s3c + ["ls", "--recursive", f"s3://{b}/tree/"], None,
        lambda o: o.count(b"\n") == 3)
    out = run("s3cmd", "signurl", s3c + ["signurl", f"s3://{b}/small.txt", "+300"])
    if out:
        fetch("s3cmd", "signed URL GET", out.decode().strip(), b"hello from a cli\n")
    run("s3cmd", "del recursive", s3c + ["del", "--recursive", "--force", f"s3://{b}/"])
    run("s3cmd", "rb", s3c + ["rb", f"s3://{b}"])

    # ---- rclone (configured through the environment)
    # rclone's AWS SDK fails on an AWS_CA_BUNDLE with its own HTTP transport (plain http here)
    base_env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    open(os.path.join(work, "rclone.conf"), "w").close()
    env = dict(base_env, RCLONE_CONFIG=os.path.join(work, "rclone.conf"),
               RCLONE_CONFIG_OSP_TYPE="s3", RCLONE_CONFIG_OSP_PROVIDER="Other",
               RCLONE_CONFIG_OSP_ACCESS_KEY_ID=a.access_key,
               RCLONE_CONFIG_OSP_SECRET_ACCESS_KEY=a.secret_key,
               RCLONE_CONFIG_OSP_ENDPOINT=a.endpoint, RCLONE_CONFIG_OSP_REGION="us-east-1",
               RCLONE_CONFIG_OSP_FORCE_PATH_STYLE="true")
    rc = [a.rclone, "--retries", "1", "--low-level-retries", "1"]
    b = f"{a.bucket_prefix}-rclone"
    run("rclone", "mkdir", rc + ["mkdir", f"osp:{b}"], env)
    run("rclone", "copy", rc + ["copy", small, f"osp:{b}/"], env)
    run("rclone", "cat", rc + ["cat", f"osp:{b}/small.txt"], env, lambda o: o == b"hello from a cli\n")
    run("rclone", "copy multipart", rc + ["copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
        big, f"osp:{b}/"], env)
    run("rclone", "md5sum multipart", rc + ["md5sum", "--download", f"osp:{b}/big.bin"], env,
        lambda o: o.decode().split()[0] == big_md5)
    run("rclone", "sync", rc + ["sync", tree, f"osp:{b}/tree"], env)
    run("rclone", "check", rc + ["check", tree, f"osp:{b}/tree"], env)
    run("rclone", "ls", rc + ["ls", f"osp:{b}/tree"], env, lambda o: o.count(b"\n") == 3)
    run("rclone", "purge", rc + ["purge", f"osp:{b}"], env)

    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"steps": steps}))


if __name__ == "__main__":
    main()
