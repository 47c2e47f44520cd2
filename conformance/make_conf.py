#!/usr/bin/env python3
"""Create the three s3-tests identities and write an s3tests.conf for one run.

  make_conf.py direct --ceph-conf /tmp/ceph-rgw/ceph.conf --endpoint http://127.0.0.1:7480 \
               --out DIR/s3tests.conf
      RGW users made with radosgw-admin (reused when they exist):
        main, alt : the default (global) RGW tenant: uids `osprconf-main`, `osprconf-alt`
                    (--direct-tenant T puts them in RGW tenant T instead: `T$main`, `T$alt`)
        tenant    : RGW tenant `osprconfx` (uid `osprconfx$tenant`)
      Why the global tenant by default: through Osprey a client addresses its buckets by their
      plain names, anonymous requests included (Osprey rewrites them to RGW's `tenant:bucket`);
      directly, RGW resolves an unqualified name of an anonymous or POST-policy request in the
      global tenant only, so tenanted main/alt users would fail ~50 anonymous/CORS/POST tests on
      RGW itself (measured; docs/conformance.md). main and alt share a namespace, the third user
      is in another one, as OSE tenants are on Osprey's ceph-rgw kind. Display names `conf-main`,
      `conf-alt`, `conf-tenant` = the usernames the Osprey run gives OSIS (Osprey passes the
      username to RGW as the display name).

  make_conf.py osprey --osis http://127.0.0.1:PORT --admin AK:SK --endpoint http://127.0.0.1:PORT \
               --out DIR/s3tests.conf [--state DIR/identities.json]
      Two OSIS tenants (two Cloud Director orgs) created through Osprey's OSIS API; main and alt
      in the first, the third user in the second. user_id in the conf = OSIS canonical_user_id,
      display_name = OSIS username (what Osprey gives RGW as the display name), email = the OSIS
      user's email, keys = the user's first Osprey-issued S3 credential.

Only the Python standard library is used.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

# Direct-run RGW identities (fixed names, so repeated runs reuse them instead of piling up users).
# (RGW tenant or "" for the global one, uid, display name, email); emails are unique in RGW
def direct_users(direct_tenant):
    def one(tenant, role):
        uid = role if tenant else f"osprconf-{role}"
        return (tenant, uid, f"conf-{role}",
                f"conf-{role}@{tenant or 'global'}.osprey-conformance.test")
    return {"main": one(direct_tenant, "main"), "alt": one(direct_tenant, "alt"),
            "tenant": one("osprconfx", "tenant")}


def radosgw_admin(ceph_conf, *args):
    p = subprocess.run(
        ["timeout", "120", "radosgw-admin", "-c", ceph_conf, *args],
        capture_output=True,
        text=True,
    )
    return p.returncode, p.stdout, p.stderr


def direct_identity(ceph_conf, spec):
    tenant, uid, display, email = spec
    full = f"{tenant}${uid}" if tenant else uid
    rc, out, _ = radosgw_admin(ceph_conf, "user", "info", "--uid", full)
    if rc != 0:
        rc, out, err = radosgw_admin(
            ceph_conf, "user", "create", *(["--tenant", tenant] if tenant else []), "--uid", uid,
            "--display-name", display, "--email", email, "--key-type", "s3",
            "--gen-access-key", "--gen-secret",
        )
        if rc != 0:
            sys.exit(f"radosgw-admin user create {full} failed: {err.strip()}")
    info = json.loads(out)
    keys = [k for k in info.get("keys", []) if k.get("user") == full]
    if not keys:
        rc, out, err = radosgw_admin(
            ceph_conf, "key", "create", "--uid", full, "--key-type", "s3",
            "--gen-access-key", "--gen-secret",
        )
        if rc != 0:
            sys.exit(f"radosgw-admin key create {full} failed: {err.strip()}")
        info = json.loads(out)
        keys = [k for k in info.get("keys", []) if k.get("user") == full]
    if info.get("suspended"):
        radosgw_admin(ceph_conf, "user", "enable", "--uid", full)
    if info.get("display_name") != display or info.get("email") != email:
        rc, out, err = radosgw_admin(ceph_conf, "user", "modify", "--uid", full,
                                     "--display-name", display, "--email", email)
        if rc != 0:
            sys.exit(f"radosgw-admin user modify {full} failed: {err.strip()}")
        info = json.loads(out)
    return {
        # RGW's owner id: `tenant$uid` for a tenanted user, `uid` otherwise (ACLs, listings)
        "user_id": full,
        "display_name": info.get("display_name") or display,
        "email": info.get("email") or email,
        "access_key": keys[0]["access_key"],
        "secret_key": keys[0]["secret_key"],
        "tenant": tenant or "",
    }


class Osis:
    def __init__(self, base, admin):
        self.base = base.rstrip("/")
        self.auth = "Basic " + base64.b64encode(admin.encode()).decode()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text.strip() else None)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def osprey_identities(osis_url, admin, suffix, osis_role="TENANT_ADMIN"):
    osis = Osis(osis_url, admin)
    out, state = {}, {"tenants": []}
    orgs = {
        "main": (f"conf-org-{suffix}", f"conformance-{suffix}"),
        "tenant": (f"conf-orgx-{suffix}", f"conformance-x-{suffix}"),
    }
    tenant_ids = {}
    for key, (org, name) in orgs.items():
        st, j = osis.call("POST", "/api/v1/tenants",
                          {"name": name, "active": True, "cd_tenant_ids": [org]})
        if st != 201:
            sys.exit(f"OSIS create tenant {name}: {st} {j}")
        tenant_ids[key] = (j["tenant_id"], org)
        state["tenants"].append(j["tenant_id"])
    for role, tkey in (("main", "main"), ("alt", "main"), ("tenant", "tenant")):
        tid, org = tenant_ids[tkey]
        cd_user = f"conf-{role}"
        body = {
            "tenant_id": tid, "active": True, "username": cd_user, "role": osis_role,
            "cd_user_id": cd_user, "cd_tenant_id": org,
            "email": f"{cd_user}-{suffix}@osprey-conformance.test",
        }
        st, u = osis.call("POST", f"/api/v1/tenants/{tid}/users", body)
        if st != 201:
            sys.exit(f"OSIS create user {cd_user}: {st} {u}")
        st, creds = osis.call(
            "GET", f"/api/v1/tenants/{tid}/users/{urllib.parse.quote(u['user_id'], safe='')}/s3credentials")
        if st != 200 or not creds["items"]:
            sys.exit(f"OSIS credentials of {cd_user}: {st} {creds}")
        c = creds["items"][0]
        out[role] = {
            "user_id": u["canonical_user_id"],
            "display_name": u["username"],
            "email": u.get("email", body["email"]),
            "access_key": c["access_key"],
            "secret_key": c["secret_key"],
            "tenant": tid,
            "osis_user_id": u["user_id"],
        }
    state["identities"] = out
    return out, state


def write_conf(path, endpoint, ids):
    u = urllib.parse.urlsplit(endpoint)
    with open(os.path.join(HERE, "s3tests.conf.in")) as f:
        text = f.read()
    values = {"host": u.hostname, "port": str(u.port or 80),
              "is_secure": "True" if u.scheme == "https" else "False"}
    for role, ident in ids.items():
        for k, v in ident.items():
            values[f"{role}_{k}"] = v
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", str(v))
    if "{{" in text:
        sys.exit("s3tests.conf.in: unfilled placeholder: " + text[text.index("{{"):][:40])
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", choices=["direct", "osprey"])
    ap.add_argument("--endpoint", required=True, help="S3 endpoint the tests talk to")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ceph-conf", default="/tmp/ceph-rgw/ceph.conf")
    ap.add_argument("--osis")
    ap.add_argument("--admin", help="OSIS admin pair AK:SK")
    ap.add_argument("--direct-tenant", default="",
                    help="direct run: RGW tenant of main and alt (default: the global tenant)")
    ap.add_argument("--suffix", default=str(os.getpid()))
    ap.add_argument("--role", default="TENANT_ADMIN",
                    help="OSIS role of the three users (run.sh: TENANT_USER on the s3 and local kinds)")
    ap.add_argument("--state", help="write the created identities (JSON) here")
    a = ap.parse_args()
    if a.run == "direct":
        ids = {role: direct_identity(a.ceph_conf, spec)
               for role, spec in direct_users(a.direct_tenant).items()}
        state = {"identities": ids}
    else:
        if not a.osis or not a.admin:
            sys.exit("osprey: --osis and --admin are required")
        ids, state = osprey_identities(a.osis, a.admin, a.suffix, a.role)
    write_conf(a.out, a.endpoint, ids)
    if a.state:
        with open(a.state, "w") as f:
            json.dump(state, f, indent=1)
        os.chmod(a.state, 0o600)
    for role, i in ids.items():
        print(f"  {role:6} user_id={i['user_id']} display_name={i['display_name']} "
              f"access_key={i['access_key']} tenant={i['tenant']}")


if __name__ == "__main__":
    main()
