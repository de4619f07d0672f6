"""OpenAPI pieces drf-spectacular cannot infer: how API keys authenticate."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = ["basicAuth", "bearerAuth"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "basic",
                "description": "Username: the key id (ak_...). Password: the secret.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer <key id>.<secret>",
            },
        ]


def security_either(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Postprocessing hook: Basic OR Bearer (drf-spectacular lists one scheme as both)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("security"):
                operation["security"] = [{"basicAuth": []}, {"bearerAuth": []}]
    return result
