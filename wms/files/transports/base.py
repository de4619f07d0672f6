"""The one interface every file transport implements (SFTP, FTP/FTPS, email, local folder).

Files are written under a temporary name and renamed when complete, so a reader never sees a
partial file under its final name. Readers list final names only (temporary suffixes are
skipped). Processed files are moved to an archive folder, unreadable ones to an error folder.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any, ClassVar

from cartrover.adapters import (
    AdapterError,
    AuthError,
    FieldSpec,
    TransientError,
    apply_defaults,
)
from cartrover.http import BlockedDestination, checked_addresses

logger = logging.getLogger("wms.files.transports")

TEMP_SUFFIXES = (".filepart", ".tmp", ".part", ".incomplete")


class HostKeyMismatch(AuthError):
    """The server presented a host key other than the one pinned at setup: refuse to talk."""


class Transport:
    """Move whole files to and from one place."""

    kind: ClassVar[str]
    label: ClassVar[str]
    credential_fields: ClassVar[list[FieldSpec]] = []
    settings_fields: ClassVar[list[FieldSpec]] = []

    def __init__(
        self, *, credentials: Mapping[str, Any], settings: Mapping[str, Any], connection_key: str
    ) -> None:
        self.credentials = apply_defaults(self.credential_fields, credentials)
        self.settings = apply_defaults(self.settings_fields, settings)
        self.connection_key = connection_key

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection_key}>"

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect (and authenticate); raise AuthError, HostKeyMismatch or TransientError."""

    def close(self) -> None:
        """Disconnect; never raises."""

    def test(self) -> str:
        """Connect, look at the configured folders, and say what was found."""
        raise NotImplementedError

    def put(self, folder: str, name: str, data: bytes) -> str:
        """Write `data` as `folder/name`: under a temporary name first, renamed when complete.

        Return the final path. An interrupted upload leaves no file under the final name.
        """
        raise NotImplementedError

    def list(self, folder: str) -> list[str]:
        """Return the names of complete files in `folder`, oldest first (temp names skipped)."""
        raise NotImplementedError

    def get(self, folder: str, name: str) -> bytes:
        """Return a file's content; a file that vanished since `list` raises FileVanished."""
        raise NotImplementedError

    def move(self, folder: str, name: str, to_folder: str) -> str:
        """Move a processed file to another folder (archive/, errors/); return its new path.

        A file of that name already there is not overwritten: the moved file gets a suffix.
        """
        raise NotImplementedError


class FileVanished(AdapterError):
    """A listed file was gone when we came to read it (another consumer took it)."""

    permanent = False


class TargetExists(AdapterError):
    """A file of the uploaded name is already in the folder: it was left as it is.

    It may be this very file, sent by an attempt whose answer was lost; check before sending
    again.
    """

    permanent = True


def open_checked_socket(host: str, port: int, where: str, timeout: float) -> socket.socket:
    """Connect to an address of `host` that passed the destination checks, never resolving again.

    Every transport opens its sockets here, so a file server on a private or loopback address is
    refused like an HTTP one (unless ALLOW_PRIVATE_NETWORK_TARGETS or HTTP_ALLOWED_NETWORKS allow).
    """
    try:
        infos = checked_addresses(host, port)
    except BlockedDestination as exc:
        logger.warning("Refused %s:%s: %s", host, port, exc.message)
        raise BlockedDestination(f"{where}: {exc.message}") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise TransientError(f"{where}: could not resolve {host} ({exc})") from None
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    reason = "timed out" if isinstance(error, TimeoutError) else (error and error.strerror) or error
    raise TransientError(f"{where}: could not connect ({reason}); is the server up?")
