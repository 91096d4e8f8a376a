# A Flask app started by the Procfile's web line through gunicorn.
from importlib.metadata import version

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return f"flask-procfile ok (flask {version('flask')})", 200, {"Content-Type": "text/plain"}


@app.get("/health")
def health():
    return "healthy", 200, {"Content-Type": "text/plain"}
