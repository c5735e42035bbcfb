"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from eventsourcing.persistence import OperationalError as StoreUnavailable
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg import DataError as InvalidValue
from psycopg import OperationalError as DatabaseUnavailable
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from api.responses import OrjsonResponse
from domain.errors import DomainError
from domain.events import catalog
from infra.logging import get_logger

log = get_logger("api.errors")
RETRY_AFTER_SECONDS = "2"


def error_response(
    status: int, code: str, message: str, field: str | None = None, **extra
) -> OrjsonResponse:
    body = {"error": {"code": code, "message": message, "field": field, **extra}}
    return OrjsonResponse(body, status_code=status)


HTTP_ERROR_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
LOCATION_KINDS = frozenset({"body", "query", "path", "header"})


# Pydantic's error types for a body that is not a JSON object at all (none, an array, text).
NOT_AN_OBJECT = frozenset({"missing", "model_attributes_type", "model_type", "dict_type"})
# An item of a tagged union (an event) whose tag is unknown or missing.
DISCRIMINATOR_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _field_path(location: tuple) -> str:
    """("body", "events", 0, "session.closed", "payload", "reason") -> events.0.payload.reason

    The event type in the location is the union's discriminator tag, not a field. A problem
    with the whole of a part of the request (the body) is named by that part: "body".
    """
    tags = catalog()
    path = ".".join(str(p) for p in location if p not in LOCATION_KINDS and p not in tags)
    return path or ".".join(map(str, location))


def _problem(error: dict) -> dict[str, str]:
    """One validation error as the API reports it: the field, and why in words."""
    location = tuple(error["loc"])
    if error["type"] == "json_invalid":
        # FastAPI puts the character where decoding failed in the location, like a field.
        reason = error.get("ctx", {}).get("error", "not JSON")
        return {"field": "body", "message": f"invalid JSON at character {location[-1]}: {reason}"}
    if location == ("body",) and error["type"] in NOT_AN_OBJECT:
        return {"field": "body", "message": "a JSON object body is required"}
    if error["type"] in DISCRIMINATOR_ERRORS:
        # Pydantic names the item; the field at fault is its discriminator (``type``).
        location = (*location, error["ctx"]["discriminator"].strip("'"))
    return {"field": _field_path(location), "message": error["msg"]}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError):
        problems = [_problem(e) for e in error.errors()]
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        message = first["message"]
        if first["field"] not in (None, "body"):
            message = f"{first['field']}: {message}"
        return error_response(422, "validation_error", message, first["field"], problems=problems)

    @app.exception_handler(DomainError)
    async def _refused(_request: Request, error: DomainError):
        # Optional on an error class: ``headers`` (WWW-Authenticate, Retry-After) and
        # ``details`` (extra members of the error object, e.g. a read model's lag).
        response = error_response(
            error.http_status,
            error.code,
            error.message,
            error.field,
            **getattr(error, "details", {}),
        )
        response.headers.update(getattr(error, "headers", {}))
        if error.http_status == 503:  # every refusal to retry says when (drill 4 found one)
            response.headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, error: HTTPException):
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        response = error_response(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})
        return response

    async def _unavailable(_request: Request, error: Exception):
        log.warning("database unavailable", error=str(error))
        response = error_response(503, "unavailable", "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.exception_handler(InvalidValue)
    async def _invalid_value(_request: Request, error: InvalidValue):
        # A value PostgreSQL cannot hold (a NUL byte in a text filter, a number out of
        # range) came from the request: a 422, not a 500.
        return error_response(422, "validation_error", f"a value the database refuses: {error}")

    for unavailable in (StoreUnavailable, DatabaseUnavailable, PoolTimeout):
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception):
        log.exception("unexpected error", error=repr(error))
        return error_response(500, "internal_error", "an unexpected error occurred")
