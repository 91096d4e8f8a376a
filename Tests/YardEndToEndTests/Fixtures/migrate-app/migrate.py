# Seed 001's migration step (drizzle-kit migrate in the seed): it creates the schema the
# app reads, and fails loudly when MIGRATION_FAIL is set, as a broken migration would.
import os
import sys

from db import connect

if os.environ.get("MIGRATION_FAIL"):
    print("migration failed: column \"nope\" does not exist", flush=True)
    sys.exit(1)
db = connect()
db.run("CREATE TABLE IF NOT EXISTS schema_info (version text PRIMARY KEY)")
version = os.environ.get("SCHEMA_VERSION", "1")
db.run("INSERT INTO schema_info (version) VALUES (:v) ON CONFLICT DO NOTHING", v=version)
db.close()
print(f"migrated to schema {version}", flush=True)
