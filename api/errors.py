"""One error shape for every API error, and the request-size limit.

{"error": {"code": "...", "message": "...", "fields": {...}}, "request_id": "..."}
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cartrover.request import current_request_id


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


def _text(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_text(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_text(v)}" for k, v in detail.items())
    return str(detail)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the documented error body."""
    return {
        "error": {"code": code, "message": message, "fields": fields or {}},
        "request_id": current_request_id(),
    }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API exception in the documented error shape (headers kept: Retry-After…)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = "The request has invalid fields: see `fields`."
        response.data = error_body("invalid", message, fields)
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else "error"
    message = _text(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(exc.wait or 1))
        message = f"Too many requests for this API key: retry after {wait} s."
        response["Retry-After"] = str(wait)
    response.data = error_body(code, message)
    return response


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Answer an unknown address under /api/v1/ in the error shape, not Django's HTML page."""
    body = error_body("not_found", f"No API endpoint at {request.path}: see /api/v1/docs/.")
    return JsonResponse(body, status=404)
