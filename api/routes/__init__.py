"""HTTP routes, one router per area; ``api.app`` includes them all."""

from api.schemas import ErrorResponse

ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        401: "Missing or invalid API key",
        403: "The key's role does not allow this",
        404: "Unknown resource (or another workspace's)",
        409: "Refused by a session rule, or a version conflict",
        422: "Invalid body or parameter (the field and the reason)",
        503: "Database unavailable or read model behind; retry after Retry-After seconds",
    }.items()
}
