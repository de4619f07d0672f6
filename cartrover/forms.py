"""Form pieces shared by the admin and the web UI."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cartrover.crypto import MASK


class SecretsDisplayWidget(forms.Widget):
    """Show which secrets are set, never their values."""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        keys = sorted(value or {})
        if not keys:
            return format_html("<span>{}</span>", "(none set)")
        return format_html(
            "<ul class='secrets'>{}</ul>",
            format_html_join("", "<li><code>{}</code>: {}</li>", ((k, MASK) for k in keys)),
        )


class SecretsDisplayField(forms.Field):
    """A read-only form field for an encrypted field: keeps the stored value, shows it masked."""

    widget = SecretsDisplayWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs["disabled"] = True
        kwargs.setdefault("help_text", "Secrets are write-only; change them in the hub's screens.")
        super().__init__(**kwargs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False
