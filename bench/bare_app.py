"""The throughput ceiling for a FastAPI route: one app, one route, the same small JSON."""

from fastapi import FastAPI
from pydantic import BaseModel


class Health(BaseModel):
    status: str = "ok"
    version: str = "0.1.0"


app = FastAPI()
_HEALTH = Health()


@app.get("/health", response_model=Health)
async def health() -> Health:
    return _HEALTH
