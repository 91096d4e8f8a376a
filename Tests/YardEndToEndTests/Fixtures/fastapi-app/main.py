# A FastAPI app with no Procfile and no start command: the platform derives
# `uvicorn main:app --host 0.0.0.0 --port $PORT` from the `app = FastAPI()` below.
import fastapi
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
def index() -> str:
    return f"fastapi-app ok (fastapi {fastapi.__version__})"


@app.get("/health", response_class=PlainTextResponse)
def health() -> str:
    return "healthy"
