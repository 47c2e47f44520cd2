#!/usr/bin/env python3
"""boto3 flows as S3 users run them (issue 10): SigV2 header signing and SigV2 presigned URLs
(`signature_version='s3'`, what boto3/aws-cli v1 presign with by default in older configs), the
same with SigV4, and tampered/expired SigV2 URLs.

usage: boto3_flows.py --endpoint URL --access-key AK --secret-key SK --bucket-prefix P
Prints one JSON object {"steps": [[name, ok, detail], ...]}; exits 0 unless it crashed.
"""
import argparse
import json
import time

import boto3
import requests
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--bucket-prefix", required=True)
    a = ap.parse_args()
    steps = []

    def step(name, ok, detail=""):
        steps.append([name, bool(ok), str(detail)[:300]])

    for sv in ("s3", "s3v4"):
        c = boto3.client(
            "s3",
            endpoint_url=a.endpoint,
            aws_access_key_id=a.access_key,
            aws_secret_access_key=a.secret_key,
            region_name="us-east-1",
            config=Config(signature_version=sv, s3={"addressing_style": "path"}),
        )
        b = f"{a.bucket_prefix}-{sv}"
        key = "dir/ü x+y.txt"
        try:
            c.create_bucket(Bucket=b)
            c.put_object(Bucket=b, Key=key, Body=b"hello", Metadata={"a": "1"}, ContentType="text/plain")
            o = c.get_object(Bucket=b, Key=key)
            step(f"{sv} put/get", o["Body"].read() == b"hello" and o["Metadata"] == {"a": "1"}, o["ContentType"])
            keys = [x["Key"] for x in c.list_objects(Bucket=b).get("Contents", [])]
            step(f"{sv} list", keys == [key], keys)
            # signed sub-resources: ?location and ?uploads are in SigV2's canonical resource
            loc = c.get_bucket_location(Bucket=b)
            step(f"{sv} get location (sub-resource signed)", "LocationConstraint" in loc, loc.get("LocationConstraint"))
            ups = c.list_multipart_uploads(Bucket=b)
            step(f"{sv} list uploads (sub-resource signed)", not ups.get("Uploads"), ups.get("Uploads"))
            url = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": key}, ExpiresIn=300)
            r = requests.get(url)
            step(f"{sv} presigned get", r.status_code == 200 and r.content == b"hello", f"{r.status_code} {url.split('?')[1][:60]}")
            url = c.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "p"}, ExpiresIn=300)
            r = requests.put(url, data=b"pp")
            got = c.get_object(Bucket=b, Key="p")["Body"].read()
            step(f"{sv} presigned put", r.status_code == 200 and got == b"pp", r.status_code)
            if sv == "s3":
                bad = url.replace("Signature=", "Signature=AA")
                r = requests.put(bad, data=b"evil")
                step("s3 tampered presigned url refused", r.status_code == 403 and b"SignatureDoesNotMatch" in r.content, r.status_code)
                other = url.replace("/p?", "/q?")
                r = requests.put(other, data=b"evil")
                step("s3 presigned url for another key refused", r.status_code == 403, r.status_code)
                exp = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": key}, ExpiresIn=1)
                time.sleep(2.2)
                r = requests.get(exp)
                step("s3 expired presigned url refused", r.status_code == 403 and b"AccessDenied" in r.content, r.status_code)
                bad_c = boto3.client(
                    "s3", endpoint_url=a.endpoint, aws_access_key_id=a.access_key,
                    aws_secret_access_key=a.secret_key + "x", region_name="us-east-1",
                    config=Config(signature_version="s3", s3={"addressing_style": "path"}),
                )
                try:
                    bad_c.get_object(Bucket=b, Key=key)
                    step("s3 wrong secret refused", False, "200")
                except Exception as e:  # botocore ClientError
                    step("s3 wrong secret refused", "SignatureDoesNotMatch" in str(e), e)
            # browser POST upload (issue 10): V2 policy with `s3`, V4 with `s3v4`, conditions
            # enforced on the same policy by the backend
            post = c.generate_presigned_post(
                b, "up/${filename}",
                Conditions=[["starts-with", "$key", "up/"], ["content-length-range", 1, 64]],
                ExpiresIn=300,
            )
            r = requests.post(post["url"], data=post["fields"], files={"file": ("f.txt", b"posted")})
            got = c.get_object(Bucket=b, Key="up/f.txt")["Body"].read() if r.status_code == 204 else b""
            step(f"{sv} presigned post", r.status_code == 204 and got == b"posted", f"{r.status_code} {r.text[:200]}")
            r = requests.post(post["url"], data=post["fields"], files={"file": ("big.txt", b"x" * 65)})
            step(f"{sv} presigned post over content-length-range refused", r.status_code == 400, f"{r.status_code} {r.text[:200]}")
            bad = dict(post["fields"])
            sig = "signature" if "signature" in bad else "x-amz-signature"
            first = bad[sig][0]
            bad[sig] = ("B" if first == "A" else "A") if sv == "s3" else ("1" if first == "0" else "0")
            bad[sig] += post["fields"][sig][1:]
            r = requests.post(post["url"], data=bad, files={"file": ("evil.txt", b"evil")})
            step(f"{sv} presigned post with a forged signature refused", r.status_code == 403 and b"SignatureDoesNotMatch" in r.content, f"{r.status_code} {r.text[:200]}")
            for k in (key, "p", "up/f.txt"):
                c.delete_object(Bucket=b, Key=k)
            c.delete_bucket(Bucket=b)
            step(f"{sv} cleanup", True)
        except Exception as e:
            step(f"{sv} flow", False, repr(e))
    print(json.dumps({"steps": steps}))


if __name__ == "__main__":
    main()
