"""The one interface every file transport implements (SFTP, FTP/FTPS, email, local folder).

Files are written under a temporary name and renamed when complete, so a reader never sees a
partial file under its final name. Readers list final names only (temporary suffixes are
skipped). Processed files are moved to an archive folder, unreadable ones to an error folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cartrover.adapters import AdapterError, AuthError, FieldSpec, apply_defaults

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
