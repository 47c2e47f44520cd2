"""Real traffic for the dashboard picture (docs/operations.md#dashboard): three tenants onboarded
through OSIS, then boto3 PUT/GET/LIST with 1 KiB-1 MiB objects, some NoSuchKey, a CreateBucket of a
`dead-*` bucket every 40 requests (route those to an unreachable backend to see errors), OSIS reads
and user creations half-way.

    python3 docs/grafana/load.py http://127.0.0.1:8443 http://127.0.0.1:9000 7 [admin_key:admin_secret]
"""
import json, random, sys, time, threading
import boto3, botocore, urllib.request, base64

osis, s3url, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
pair = sys.argv[4] if len(sys.argv) > 4 else "osprey-admin:change-me-please"
auth = "Basic " + base64.b64encode(pair.encode()).decode()

def call(method, path, body=None):
    req = urllib.request.Request(osis + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r) if r.length != 0 else None

clients = []
for name in ["acme", "globex", "initech"]:
    t = call("POST", "/api/v1/tenants", {"name": name, "active": True, "cd_tenant_ids": [f"org-{name}"]})["tenant_id"]
    call("POST", f"/api/v1/tenants/{t}/users", {"cd_user_id": "u1", "cd_tenant_id": f"org-{name}", "username": "u1", "role": "TENANT_ADMIN", "active": True})
    k = call("GET", f"/api/v1/tenants/{t}/users/u1/s3credentials")["items"][0]
    c = boto3.client("s3", endpoint_url=s3url, aws_access_key_id=k["access_key"], aws_secret_access_key=k["secret_key"],
                     region_name="us-east-1", config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    clients.append((name, c))

end = time.time() + minutes * 60
def work(name, c, weight):
    c.create_bucket(Bucket=f"{name}-data")
    i = 0
    while time.time() < end:
        i += 1
        key = f"obj-{i % 50}"
        size = random.choice([1024, 4096, 65536, 1 << 20]) if random.random() < 0.3 else 4096
        try:
            c.put_object(Bucket=f"{name}-data", Key=key, Body=b"x" * size)
            for _ in range(weight):
                c.get_object(Bucket=f"{name}-data", Key=key)["Body"].read()
            if i % 5 == 0:
                c.list_objects_v2(Bucket=f"{name}-data")
            if i % 7 == 0:
                try: c.get_object(Bucket=f"{name}-data", Key="missing")
                except botocore.exceptions.ClientError: pass
            if i % 40 == 0:
                try: c.create_bucket(Bucket=f"dead-{name}-{i}")
                except Exception: pass
        except Exception as e:
            print(name, "error", e, flush=True)
        time.sleep(0.02)

threads = [threading.Thread(target=work, args=(n, c, w)) for (n, c), w in zip(clients, [4, 2, 1])]
for t in threads: t.start()
# OSIS traffic and a reload half-way
half = time.time() + minutes * 30
users = 1
while time.time() < end:
    call("GET", "/api/v1/tenants")
    if time.time() > half and users < 6:
        users += 1
        t = call("GET", "/api/v1/tenants")["items"][0]["tenant_id"]
        call("POST", f"/api/v1/tenants/{t}/users", {"cd_user_id": f"extra{users}", "cd_tenant_id": "org-x", "username": f"extra{users}", "role": "TENANT_USER", "active": True})
    time.sleep(2)
for t in threads: t.join()
print("load done")
