"""File transports by kind, and the fields a connection that lets people choose one declares.

`TRANSPORTS` is the explicit registry (kind -> class). An adapter that exchanges files keeps
the chosen kind in its `transport` setting and the chosen transport's settings beside it;
`transport_settings_fields` and `transport_credential_fields` give the union of every kind's
fields (none required: which ones matter depends on the kind), and `transport_for` builds the
transport from such settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cartrover.adapters import AdapterError, FieldSpec
from wms.files.transports.base import Transport
from wms.files.transports.email import EmailTransport
from wms.files.transports.ftp import FtpTransport
from wms.files.transports.local import LocalFolderTransport
from wms.files.transports.sftp import SftpTransport

TRANSPORTS: dict[str, type[Transport]] = {
    "local": LocalFolderTransport,
    "sftp": SftpTransport,
    "ftp": FtpTransport,
    "email": EmailTransport,
}


def transport_choice_field(default: str = "sftp") -> FieldSpec:
    """Return the `transport` choice field: which kind of transport carries the files."""
    return FieldSpec(
        "transport",
        "Transport",
        type="choice",
        required=True,
        default=default,
        choices=tuple((kind, cls.label) for kind, cls in TRANSPORTS.items()),
        help="How files travel; fill in the fields marked with this transport.",
    )


def _union(which: str) -> list[FieldSpec]:
    """Return every transport's fields once, none required, each saying which kinds use it.

    A name several kinds share with different defaults (the port) gets no default here, so
    each transport falls back on its own.
    """
    found: dict[str, FieldSpec] = {}
    used_by: dict[str, list[str]] = {}
    for cls in TRANSPORTS.values():
        for spec in getattr(cls, which):
            if spec.name not in found:
                found[spec.name] = spec
                used_by[spec.name] = [cls.label]
                continue
            used_by[spec.name].append(cls.label)
            if found[spec.name].default != spec.default:
                found[spec.name] = replace(found[spec.name], default=None)
    out = []
    for name, spec in found.items():
        kinds = ", ".join(used_by[name])
        text = f"({kinds}) {spec.help}".strip()
        out.append(replace(spec, required=False, help=text))
    return out


def transport_settings_fields() -> list[FieldSpec]:
    """Return the settings fields of every transport kind, once each."""
    return _union("settings_fields")


def transport_credential_fields() -> list[FieldSpec]:
    """Return the secret fields of every transport kind, once each."""
    return _union("credential_fields")


def transport_for(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], connection_key: str
) -> Transport:
    """Return the transport `settings["transport"]` names, bound to these settings."""
    kind = str(settings.get("transport") or "")
    cls = TRANSPORTS.get(kind)
    if cls is None:
        choices = ", ".join(TRANSPORTS)
        raise AdapterError(
            f"{connection_key}: unknown file transport {kind!r}: choose one of {choices}.",
            permanent=True,
        )
    # Only this kind's own fields, and blanks left out so the transport's defaults apply.
    own = {f.name for f in cls.settings_fields}
    own_secrets = {f.name for f in cls.credential_fields}
    values = {k: v for k, v in settings.items() if k in own and v is not None and v != ""}
    secrets = {k: v for k, v in credentials.items() if k in own_secrets and v not in (None, "")}
    return cls(credentials=secrets, settings=values, connection_key=connection_key)


__all__ = [
    "TRANSPORTS",
    "Transport",
    "transport_choice_field",
    "transport_credential_fields",
    "transport_for",
    "transport_settings_fields",
]
