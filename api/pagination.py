"""Cursor pagination: stable under inserts, as cheap on the last page as on the first."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    """Newest first; `?limit=` up to API_MAX_PAGE_SIZE, `?cursor=` from `next`."""

    ordering = "-id"
    page_size_query_param = "limit"

    def get_page_size(self, request: Any) -> int | None:
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE
        return super().get_page_size(request)

    def decode_cursor(self, request: Any) -> Any:
        # DRF answers a bad cursor with 404, which reads as "no such object": it is a bad field.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {"cursor": ["Invalid cursor: follow the `next` and `previous` links."]}
            ) from None


class OldestFirstPagination(ApiCursorPagination):
    """Oldest first: a WMS pulling new orders works through them in the order they came."""

    ordering = "id"
