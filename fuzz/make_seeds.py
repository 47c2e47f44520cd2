#!/usr/bin/env python3
"""Writes the hand-made seed corpora under fuzz/corpus/<target>/ (input layouts: docs/fuzzing.md).

Signed requests and aws-chunked bodies use the AWS S3 documentation example credentials
(AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1) so that they verify inside the targets.
Re-running this script rewrites the seed-* files only; fuzzer-found corpus files are kept.
"""
import base64, hashlib, hmac, json, os, pathlib, zlib

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parent
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AK = "AKIAIOSFODNN7EXAMPLE"
DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
EMPTY = hashlib.sha256(b"").hexdigest()


def hm(k, m):
    return hmac.new(k, m.encode() if isinstance(m, str) else m, hashlib.sha256).digest()


def signing_key(secret, day, region, service):
    k = hm(("AWS4" + secret).encode(), day)
    return hm(hm(hm(k, region), service), "aws4_request")


KEY = signing_key(SK, "20130524", "us-east-1", "s3")


def write(target, name, data):
    d = ROOT / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + name)).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- sigv4: METHOD\nPATH\nQUERY\nheaders
def auth(signed, sig):
    return (f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,"
            f"SignedHeaders={signed},Signature={sig}")


def req(method, path, query, headers):
    return "\n".join([method, path, query] + [f"{n}: {v}" for n, v in headers]) + "\n"


HOST = "examplebucket.s3.amazonaws.com"
write("sigv4", "get-object", req("GET", "/test.txt", "", [
    ("Host", HOST), ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY), ("x-amz-date", DATE),
    ("Authorization", auth("host;range;x-amz-content-sha256;x-amz-date",
                           "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))]))
write("sigv4", "put-object", req("PUT", "/test%24file.text", "", [
    ("Host", HOST), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
    ("Authorization", auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")),
    ("x-amz-date", DATE), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")]))
for q, sig, n in [("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", "lifecycle"),
                  ("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", "list")]:
    write("sigv4", n, req("GET", "/", q, [
        ("Host", HOST), ("x-amz-date", DATE), ("x-amz-content-sha256", EMPTY),
        ("Authorization", auth("host;x-amz-content-sha256;x-amz-date", sig))]))
PRESIGN = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
           "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
           "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
write("sigv4", "presigned", req("GET", "/test.txt", PRESIGN, [("Host", HOST)]))
write("sigv4", "streaming-seed", req("PUT", "/examplebucket/chunkObject.txt", "", [
    ("Host", "s3.amazonaws.com"), ("x-amz-date", DATE), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("Authorization", auth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                           "x-amz-decoded-content-length;x-amz-storage-class", SEED)),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824")]))
write("sigv4", "osis-verifier-get", req("GET", "/", "", [
    ("host", "127.0.0.1:9000"), ("x-amz-date", DATE), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us/s3/aws4_request, "
                      "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)]))
write("sigv4", "trailer-modes", req("PUT", "/b/k", "partNumber=1&uploadId=abc", [
    ("host", "localhost"), ("x-amz-date", DATE),
    ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), ("x-amz-trailer", "x-amz-checksum-crc32"),
    ("x-amz-meta-a", "  two   spaces "), ("x-amz-meta-a", "again"),
    ("authorization", auth("host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-trailer", "ab" * 32))]))
write("sigv4", "resign-shape", req("PUT", "/bucket/a%20key/with~odd$chars", "versionId=3&acl", [
    ("host", "backend.example:7480"), ("x-amz-acl", "private"), ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    ("x-amz-copy-source", "/src/key")]))

# ---------------------------------------------------------------- chunked: mode, seed, flags, len, body
def chunk_sig(prev, data):
    sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{DATE}\n{SCOPE}\n{prev}\n{EMPTY}\n{hashlib.sha256(data).hexdigest()}"
    return hm(KEY, sts).hex()


def trailer_sig(prev, canonical):
    sts = f"AWS4-HMAC-SHA256-TRAILER\n{DATE}\n{SCOPE}\n{prev}\n{hashlib.sha256(canonical).hexdigest()}"
    return hm(KEY, sts).hex()


def checksum(alg, data):
    if alg == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif alg == "sha1":
        raw = hashlib.sha1(data).digest()
    else:
        raw = hashlib.sha256(data).digest()
    return base64.b64encode(raw).decode()


def signed_body(pieces, trailer=None):
    prev, out = SEED, b""
    for p in pieces + [b""]:
        prev = chunk_sig(prev, p)
        out += f"{len(p):x};chunk-signature={prev}\r\n".encode() + p
        if p:
            out += b"\r\n"
    if trailer is None:
        return out + b"\r\n"
    line = f"x-amz-checksum-{trailer}:{checksum(trailer, b''.join(pieces))}"
    t = trailer_sig(prev, (line + "\n").encode())
    return out + f"{line}\r\nx-amz-trailer-signature:{t}\r\n\r\n".encode()


def unsigned_body(pieces, trailer="crc32"):
    out = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
    return out + f"0\r\nx-amz-checksum-{trailer}:{checksum(trailer, b''.join(pieces))}\r\n\r\n".encode()


ALG = {"crc32": 0, "sha1": 2, "sha256": 3}
DEC = {"signed": 0, "signed-trailer": 1, "unsigned-trailer": 2}
pieces = [b"hello ", b"world", b"\r\n0;x\r\n"]
data = b"".join(pieces)


def hdr(mode, seed, dec, alg, declared):
    flags = (DEC[dec] << 6) | ALG[alg]
    lb = 0
    if declared is not None:
        flags |= 8 | ((declared >> 8) & 3) << 4
        lb = declared & 0xFF
    return bytes([mode, seed, flags, lb])


for seed in (0, 1, 2, 3):
    write("chunked", f"signed-{seed}", hdr(0, seed, "signed", "crc32", len(data)) + signed_body(pieces))
    write("chunked", f"signed-trailer-{seed}", hdr(1, seed, "signed-trailer", "sha256", None) + signed_body(pieces, "sha256"))
    write("chunked", f"unsigned-trailer-{seed}", hdr(2, seed, "unsigned-trailer", "crc32", len(data)) + unsigned_body(pieces))
write("chunked", "sdk-literal", hdr(2, 1, "unsigned-trailer", "crc32", 11)
      + b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n")
write("chunked", "no-final-crlf", hdr(2, 2, "unsigned-trailer", "crc32", None)
      + b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n")
write("chunked", "signed-empty", hdr(0, 0, "signed", "crc32", 0) + signed_body([]))
for mode, name in ((3, "decode"), (4, "passthrough"), (5, "rechain")):
    write("chunked", f"{name}-signed", hdr(mode, 2, "signed", "crc32", len(data)) + signed_body(pieces))
    write("chunked", f"{name}-signed-trailer", hdr(mode, 1, "signed-trailer", "sha1", None) + signed_body(pieces, "sha1"))
    write("chunked", f"{name}-unsigned", hdr(mode, 3, "unsigned-trailer", "crc32", None) + unsigned_body(pieces))
for dec in DEC:
    # framing variants 3 (upper-case hex), 5/7 (leading zero), 8 (blank after the trailer colon);
    # re-chaining (bit 16 of byte 0) only where it keeps the length: fuzz/crashes/OPEN
    for variant in (0, 3, 5, 7, 8):
        rechain = 16 if variant in (0, 3) else 0
        write("chunked", f"constructed-{dec}-{variant}", bytes([6 | rechain, 5, (DEC[dec] << 6) | 8, variant]) + data)
    write("chunked", f"constructed-tamper-{dec}", bytes([6 | 8, 5, DEC[dec] << 6, 0]) + b"\x03\x40" + data)

# ---------------------------------------------------------------- s3op: METHOD\nHOST\nPATH\nQUERY\nDOMAIN\nCOPY\nTENANT
def op(*f):
    return "\n".join(f)


T = "t0123456789abcdef"
write("s3op", "list-buckets", op("GET", "s3.example.com", "/", "", "", "", T))
write("s3op", "list-v2", op("GET", "s3.example.com", "/photos", "list-type=2&prefix=a%2Fb&max-keys=10", "", "", T))
write("s3op", "vhost-get", op("GET", "photos.s3.example.com:9000", "/dir/a%20b.jpg", "versionId=1", "s3.example.com", "", T))
write("s3op", "copy", op("PUT", "s3.example.com", "/dst/key", "", "", "/photos/src%2Fkey.jpg?versionId=7", T))
write("s3op", "upload-part-copy", op("PUT", "h", "/b/k", "partNumber=2&uploadId=xyz", "", "photos/k", T))
write("s3op", "multipart", op("POST", "h", "/bucket/big.bin", "uploads", "", "", T))
write("s3op", "complete", op("POST", "h", "/bucket/big.bin", "uploadId=abc", "", "", T))
write("s3op", "delete-objects", op("POST", "h", "/bucket", "delete", "", "", T))
write("s3op", "subresources", op("DELETE", "h", "/bucket", "lifecycle&tagging", "", "", T))
write("s3op", "presigned", op("GET", "h", "/b/k", PRESIGN, "", "", T))
write("s3op", "long-name", op("PUT", "h", "/" + "a" * 60 + "-b.c", "", "", "", "tenant0123456789"))
write("s3op", "ip-like", op("PUT", "192.168.1.1", "/192.168.1.1", "acl=&x-id=PutObject", "", "", "0"))

# ---------------------------------------------------------------- xml: BACKEND\nBUCKET\nXML
BB = "t1-photos"
write("xml", "list-bucket", f"{BB}\nphotos\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      f"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{BB}</Name><Prefix></Prefix>"
      f"<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
      f"<Contents><Key>{BB}</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
      f"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>"
      f"<Contents><Key>/{BB}/x</Key><Size>1</Size></Contents></ListBucketResult>")
write("xml", "error", f"{BB}\nphotos\n<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>"
      f"<Resource>/{BB}/a/b</Resource><BucketName>{BB}</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>")
write("xml", "multipart", f"{BB}\nphotos\n<InitiateMultipartUploadResult><Bucket>{BB}</Bucket><Key>k</Key>"
      f"<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId></InitiateMultipartUploadResult>")
write("xml", "complete", f"{BB}\nphotos\n<CompleteMultipartUploadResult><Location>http://h:1/{BB}/k?x=1</Location>"
      f"<Bucket>{BB}</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>")
write("xml", "copy", f"{BB}\nphotos\n<CopyObjectResult><LastModified>2009-10-28T22:32:00</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>")
write("xml", "list-uploads", f"{BB}\nphotos\n<ListMultipartUploadsResult><Bucket>{BB}</Bucket><Upload><Key>my-movie.m2ts</Key>"
      f"<UploadId>abc</UploadId></Upload><Resource>{BB}</Resource><Location>/{BB}X/k</Location></ListMultipartUploadsResult>")
write("xml", "escapes", "b&amp;\n<p>\n<Error><Message>a &lt; b &amp;&amp; c &gt; d \"q\" 'a'</Message><Resource><![CDATA[/b&amp;/x]]></Resource></Error>")

# ---------------------------------------------------------------- osis: SELECTOR + text
tests_json = [
    {"name": "brave-teal", "active": True, "cd_tenant_ids": ["acme-org"]},
    {"tenant_id": "t1", "active": True, "username": "alice", "role": "TENANT_ADMIN", "cd_user_id": "alice", "cd_tenant_id": "acme-org"},
    {"active": False},
    {"username": "osprey-admin", "password": "change-me-please"},
    {"refresh_token": "eyJhbGciOiJIUzUxMiJ9.e30.sig"},
]
for i, j in enumerate(tests_json):
    write("osis", f"json-{i}", bytes([i]) + json.dumps(j).encode())
for i, raw in enumerate([r'{"name": "x", "active": "yes"}', r'{"name": "x", "cd_tenant_ids": "abc"}',
                         r'{"name": "x", "cd_tenant_ids": ["dup"], "colour": 3}', r'{"cd_user_id": "u1", "cd_tenant_id": "dup", "role": "BOSS"}',
                         '{"a":' * 40 + '1' + '}' * 40]):
    write("osis", f"json-bad-{i}", bytes([i]) + raw.encode())
write("osis", "filter-cred", b"\x02cd_tenant_id==C;cd_user_id==D;tenant_id==T;user_id==U;access_key==AK;")
write("osis", "filter-user", b"\x01tenant_id==T;cd_tenant_id==C;user_id==U;cd_user_id==D;username==N;active==true")
write("osis", "filter-bad", b"\x00a==b==c;==x;active==maybe")
write("osis", "paging", b"\x00offset=5&limit=99999&filter=name%3D%3Dx")
write("osis", "basic-ok", b"\x00Basic " + base64.b64encode(b"osprey-admin:change-me-please"))
write("osis", "basic-bad", b"\x00basic " + base64.b64encode(b"osprey-admin"))
write("osis", "bearer", b"\x00Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJvc3ByZXktYWRtaW4ifQ.AAAA")
write("osis", "capabilities", b"\x00" + (REPO / "config" / "s3capabilities.json").read_bytes())

# ---------------------------------------------------------------- config: TOML text
for p in [REPO / "config" / "osprey.toml", *sorted((REPO / "config" / "examples").glob("*.toml"))]:
    write("config", p.name, p.read_bytes())
write("config", "minimal-bad", "[server]\ndata_dir = \"\"\n[routing]\ndefault_table = \"nope\"\n")
# ---------------------------------------------------------------- post: BOUNDARY\nBODY
def form(boundary, fields, file_body=b"bar", filename="f.txt"):
    out = b""
    for n, v in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"; filename=\"{n}\"\r\n\r\n").encode() + v.encode() + b"\r\n"
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode() + file_body + f"\r\n--{boundary}--\r\n".encode()
    return boundary.encode() + b"\n" + out

POLICY = base64.b64encode(b'{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"photos"},["starts-with","$key","up/"],["content-length-range",0,1024],{"x-amz-credential":"AK/20130524/us-east-1/s3/aws4_request"}]}').decode()
write("post", "v2", form("XyZ", [("key", "up/${filename}"), ("AWSAccessKeyId", "AK"), ("acl", "private"),
                                  ("signature", "c2lnbmF0dXJl"), ("policy", POLICY), ("Content-Type", "text/plain")]))
write("post", "v4", form("----WebKitFormBoundary7MA4YWxkTrZu0gW", [
    ("key", "up/a.txt"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
    ("x-amz-credential", "AK/20130524/us-east-1/s3/aws4_request"), ("x-amz-date", "20130524T000000Z"),
    ("policy", POLICY), ("x-amz-signature", "00" * 32), ("success_action_redirect", "http://e.com/ok")]))
write("post", "anonymous", form("b", [("key", "k")]))
write("post", "no-file", b"XyZ\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ--\r\n")
write("post", "preamble", b"XyZ\npreamble text\r\n" + form("XyZ", [("key", "k"), ("policy", "!!notbase64")])[4:])

print("seeds written")
