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


def declared_field(spec: Any, *, keep_secret: bool = False) -> forms.Field:
    """Return the form field for a kind's declared FieldSpec.

    Secret fields never show their value; left blank on an edit, the stored value is kept.
    """
    common: dict[str, Any] = {
        "label": spec.label,
        "help_text": spec.help,
        "required": spec.required and not keep_secret,
    }
    if spec.secret or spec.type == "password":
        if keep_secret:
            common["help_text"] = (spec.help + " " if spec.help else "") + "Leave blank to keep."
        return forms.CharField(widget=forms.PasswordInput(render_value=False), **common)
    if spec.type == "int":
        return forms.IntegerField(initial=spec.default, **common)
    if spec.type == "bool":
        common["required"] = False
        return forms.BooleanField(initial=bool(spec.default), **common)
    if spec.type == "choice":
        return forms.ChoiceField(choices=spec.choices, initial=spec.default, **common)
    if spec.type == "multichoice":
        return forms.MultipleChoiceField(
            choices=spec.choices,
            initial=spec.default,
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if spec.type == "url":
        return forms.URLField(initial=spec.default, assume_scheme="https", **common)
    if spec.type == "textarea":
        return forms.CharField(
            widget=forms.Textarea(attrs={"rows": 3}), initial=spec.default, **common
        )
    return forms.CharField(initial=spec.default, **common)


def credentials_merged(
    specs: Any, cleaned: dict[str, Any], prefix: str, stored: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the stored credentials updated from a form's `prefix`-named fields.

    A secret left blank keeps the stored value: secret fields never show what they hold.
    """
    credentials = dict(stored or {})
    for spec in specs:
        value = cleaned.get(f"{prefix}{spec.name}")
        if spec.secret and not value:
            continue
        credentials[spec.name] = value
    return credentials
