# The worker of seed 000's topology (Python standing in for workers/orchestrator.mjs): it has
# no public domain; it polls Postgres every half second and processes the jobs the web
# service wrote (result = the payload in upper case, and which deployment did it). Like the
# seed's worker it opens no port at all.
import os
import time
import urllib.parse

import pg8000.native


def connect():
    url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
    return pg8000.native.Connection(
        user=url.username, password=url.password, host=url.hostname, port=url.port or 5432,
        database=url.path.lstrip("/"), timeout=10)


def process(db, deployment):
    rows = db.run("SELECT id, payload FROM jobs WHERE result IS NULL ORDER BY id FOR UPDATE SKIP LOCKED")
    for job_id, payload in rows:
        db.run("UPDATE jobs SET result = :r, processed_by = :d WHERE id = :i", r=payload.upper(), d=deployment, i=job_id)
        print(f"worker: job {job_id} done", flush=True)


deployment = os.environ.get("RAILWAY_DEPLOYMENT_ID", "?")
# As careless as the seed's logs: the address, password and all (the platform masks it).
print(f"🧠 orchestrator running against {os.environ['DATABASE_URL']}", flush=True)
db = None
while True:
    try:
        if db is None:
            db = connect()
        db.run("START TRANSACTION")
        process(db, deployment)
        db.run("COMMIT")
    except Exception as error:
        # The table may not exist yet, or the database restarted: start over.
        print(f"worker: {type(error).__name__}, retrying", flush=True)
        try:
            if db is not None:
                db.close()
        except Exception:
            pass
        db = None
    time.sleep(0.5)
