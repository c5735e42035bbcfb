"""Refusals as the API answers them: every 503 says when to retry."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.commands import AppendContention
from api.errors import install_error_handlers


def test_a_503_refusal_always_carries_retry_after():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/append")
    def append():
        raise AppendContention("session s: too many concurrent writers, retry")

    answer = TestClient(app).post("/append")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "append_contention"
