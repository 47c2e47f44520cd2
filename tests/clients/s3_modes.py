#!/usr/bin/env python3
"""Hand-rolled S3 requester for the payload modes SDKs hide, and for malformed requests.

An implementation independent of Osprey's Rust code (same algorithms as AWS's documentation and
shared/recipes/ceph-rgw/test_rgw.py), so a bug in Osprey's SigV4 cannot hide itself in the test.

usage: s3_modes.py MODE --endpoint URL --access-key AK --secret-key SK --bucket B --key K
                    [--size N] [--chunk N] [--tamper data|sig|checksum|truncate] [--tamper-chunk N] [--region R]
                    [--skew-secs N] [--seed N]
MODE: signed-chunks | signed-chunks-trailer | unsigned-trailer | unsigned-payload | sha256-payload
      | wrong-sha256 | presign-get | presign-put | presign-expired
Prints one JSON object: {"status": int, "body": str, "sha256": hex of the payload sent, "url": ...}.
Data is deterministic from --seed so the caller can recompute the expected hash.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import sys
import urllib.parse
import zlib

import requests


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(sk, date, region, service="s3"):
    k = _hmac(("AWS4" + sk).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def payload(size, seed):
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def uri_encode(s, slash=True):
    return urllib.parse.quote(s, safe="/~" if slash else "~")


def canonical_query(params):
    return "&".join(f"{uri_encode(k, False)}={uri_encode(v, False)}" for k, v in sorted(params.items()))


class Signer:
    def __init__(self, a):
        self.a = a
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=a.skew_secs)
        self.amzdate, self.date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        self.scope = f"{self.date}/{a.region}/s3/aws4_request"
        self.key = signing_key(a.secret_key, self.date, a.region)
        self.host = urllib.parse.urlparse(a.endpoint).netloc
        self.path = f"/{a.bucket}/{uri_encode(a.key)}"

    def sign(self, method, headers, payload_hash, query=None):
        h = dict(headers)
        h["host"] = self.host
        h["x-amz-date"] = self.amzdate
        h["x-amz-content-sha256"] = payload_hash
        names = sorted(h)
        creq = "\n".join([method, self.path, canonical_query(query or {}),
                          "".join(f"{n}:{h[n]}\n" for n in names), ";".join(names), payload_hash])
        sts = "\n".join(["AWS4-HMAC-SHA256", self.amzdate, self.scope, hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        h["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.a.access_key}/{self.scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={sig}")
        del h["host"]
        return h, sig

    def chunk_sig(self, prev, data):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amzdate, self.scope, prev,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def trailer_sig(self, prev, trailer_bytes):
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", self.amzdate, self.scope, prev,
                         hashlib.sha256(trailer_bytes).hexdigest()])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def presign(self, method, expires):
        q = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.a.access_key}/{self.scope}",
            "X-Amz-Date": self.amzdate,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        creq = "\n".join([method, self.path, canonical_query(q), f"host:{self.host}\n", "host", "UNSIGNED-PAYLOAD"])
        sts = "\n".join(["AWS4-HMAC-SHA256", self.amzdate, self.scope, hashlib.sha256(creq.encode()).hexdigest()])
        q["X-Amz-Signature"] = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        return f"{self.a.endpoint}{self.path}?{canonical_query(q)}"


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--size", type=int, default=200_000)
    p.add_argument("--chunk", type=int, default=64 * 1024)
    p.add_argument("--tamper", default="")
    # which chunk --tamper data|sig changes (bodies past one hashing batch, issue 13)
    p.add_argument("--tamper-chunk", type=int, default=1)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--skew-secs", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    s = Signer(a)
    data = payload(a.size, a.seed)
    url = a.endpoint + s.path
    m = a.mode

    if m in ("signed-chunks", "signed-chunks-trailer"):
        trailer = m.endswith("trailer")
        mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
        pieces = [data[i:i + a.chunk] for i in range(0, len(data), a.chunk)] + [b""]
        # the body is built first; Content-Length is its length (signatures are fixed-width)
        hdrs = {"x-amz-decoded-content-length": str(len(data)), "content-encoding": "aws-chunked"}
        if trailer:
            hdrs["x-amz-trailer"] = "x-amz-checksum-crc32"
        # content-length is signed too, so compute it before signing
        def frame(seed_sig):
            out, prev = bytearray(), seed_sig
            for i, piece in enumerate(pieces):
                sig = s.chunk_sig(prev, piece)
                sent = piece
                if a.tamper == "data" and i == a.tamper_chunk and piece:
                    sent = bytes([piece[0] ^ 1]) + piece[1:]
                if a.tamper == "sig" and i == a.tamper_chunk:
                    sig = ("0" if sig[0] != "0" else "1") + sig[1:]
                if trailer and not piece:
                    out += f"0;chunk-signature={sig}\r\n".encode()
                else:
                    out += f"{len(piece):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
                prev = sig
            if trailer:
                crc = crc32_b64(data if a.tamper != "checksum" else data + b"x")
                tline = f"x-amz-checksum-crc32:{crc}\n".encode()
                tsig = s.trailer_sig(prev, tline)
                out += f"x-amz-checksum-crc32:{crc}\r\n".encode()
                out += f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()
            return bytes(out)
        length = len(frame("0" * 64))
        hdrs["content-length"] = str(length)
        h, seed = s.sign("PUT", hdrs, mode)
        body = frame(seed)
        if a.tamper == "truncate":
            body = body[: len(body) // 2]
            h["content-length"] = str(len(body))
        r = requests.put(url, data=body, headers=h, timeout=60)
    elif m == "unsigned-trailer":
        mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        crc = crc32_b64(data if a.tamper != "checksum" else data + b"x")
        body = b""
        for i in range(0, len(data), a.chunk):
            piece = data[i:i + a.chunk]
            body += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        body += b"0\r\n" + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
        hdrs = {"x-amz-decoded-content-length": str(len(data)), "content-encoding": "aws-chunked",
                "content-length": str(len(body)), "x-amz-trailer": "x-amz-checksum-crc32"}
        h, _ = s.sign("PUT", hdrs, mode)
        r = requests.put(url, data=body, headers=h, timeout=60)
    elif m == "unsigned-payload":
        h, _ = s.sign("PUT", {"content-length": str(len(data))}, "UNSIGNED-PAYLOAD")
        r = requests.put(url, data=data, headers=h, timeout=60)
    elif m in ("sha256-payload", "wrong-sha256"):
        digest = hashlib.sha256(data if m == "sha256-payload" else data + b"x").hexdigest()
        h, _ = s.sign("PUT", {"content-length": str(len(data))}, digest)
        r = requests.put(url, data=data, headers=h, timeout=60)
    elif m == "presign-get":
        r = requests.get(s.presign("GET", 300), timeout=60)
    elif m == "presign-put":
        r = requests.put(s.presign("PUT", 300), data=data, timeout=60)
    elif m == "presign-expired":
        # signed 2 hours ago, valid for 60 s: expired but within no skew rule
        r = requests.get(s.presign("GET", 60), timeout=60)
    else:
        print(json.dumps({"error": f"unknown mode {m}"}))
        return 2
    print(json.dumps({"status": r.status_code, "body": r.text[:4000], "sha256": hashlib.sha256(data).hexdigest(),
                      "len": len(data)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
