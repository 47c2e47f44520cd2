# Does RGW answer a 4 KiB PUT later when its head and body arrive in two writes (pingora) than in one (nginx)?
import socket, time, statistics, sys, boto3
from botocore.config import Config
from urllib.parse import urlsplit
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:7480", aws_access_key_id="ADMINKEY",
                  aws_secret_access_key="ADMINSECRET", region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
try: s3.create_bucket(Bucket="splitbench")
except Exception: pass
url = s3.generate_presigned_url("put_object", Params={"Bucket": "splitbench", "Key": "k"}, ExpiresIn=3600)
u = urlsplit(url)
body = b"x" * 4096
head = (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: 127.0.0.1:7480\r\nContent-Length: 4096\r\n\r\n").encode()
def run(split, n):
    c = socket.create_connection(("127.0.0.1", 7480)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        if split: c.sendall(head); c.sendall(body)
        else: c.sendall(head + body)
        buf = b""
        while b"\r\n\r\n" not in buf: buf += c.recv(65536)
        h, _, rest = buf.partition(b"\r\n\r\n")
        cl = 0
        for line in h.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"): cl = int(line.split(b":")[1])
        while len(rest) < cl: rest += c.recv(65536)
        assert h.startswith(b"HTTP/1.1 200"), h[:80]
        ts.append(time.perf_counter() - t)
    c.close(); return ts
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
run(False, 100)
res = {False: [], True: []}
for r in range(int(sys.argv[2]) if len(sys.argv) > 2 else 6):
    for split in ([False, True] if r % 2 == 0 else [True, False]):
        res[split] += run(split, N)
for split in (False, True):
    t = sorted(res[split])
    print(f"{'two writes' if split else 'one write '}: n={len(t)} p50={statistics.median(t)*1e3:.3f} ms p90={t[int(len(t)*0.9)]*1e3:.3f} ms mean={statistics.mean(t)*1e3:.3f} ms")
