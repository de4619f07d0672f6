"""Per-key throttling: each API key has its own bucket, at the rate of API_THROTTLE_RATE."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Throttle by key id; answered 429 with Retry-After by the error handler."""

    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read on every request (not at import) so the setting can change without a restart
        # of the class, e.g. in tests.
        return settings.API_THROTTLE_RATE or None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = getattr(request, "auth", None)
        if not isinstance(key, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.key_id}
