# The connection both the migration and the app use: DATABASE_URL, as on Railway.
import os
import urllib.parse

import pg8000.native


def connect():
    url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
    return pg8000.native.Connection(
        user=url.username, password=url.password, host=url.hostname, port=url.port or 5432,
        database=url.path.lstrip("/"), timeout=10)
