"""Exchange files through a folder on this machine (a mounted share, or the sandbox and tests).

Folders are subfolders of one root folder. The path helpers here (`checked_folder`,
`checked_name`, `free_names`) are shared with the other transports, so every kind refuses the
same names and picks the same suffix for a file moved next to one of the same name.
"""

from __future__ import annotations

import logging
import os
import posixpath
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from cartrover.adapters import AdapterError, FieldSpec
from wms.files.transports.base import TEMP_SUFFIXES, FileVanished, TargetExists, Transport

logger = logging.getLogger("wms.files.transports")

# A move tries the name itself and then this many suffixed names before giving up.
MAX_NAME_SUFFIX = 999


def checked_folder(folder: str, where: str) -> tuple[str, ...]:
    """Return the parts of a folder path relative to the root; refuse any way out of it.

    "" is the root itself, "in" and "merchant-a/in" are subfolders. Absolute paths, ".." parts,
    backslashes and NUL characters raise a permanent AdapterError naming the folder.
    """
    if not isinstance(folder, str):
        raise AdapterError(f"{where}: the folder must be text, not {folder!r}", permanent=True)
    problem = None
    if "\x00" in folder:
        problem = "it contains a NUL character"
    elif "\\" in folder:
        problem = "it contains a backslash; separate folders with /"
    elif folder.startswith("/") or (len(folder) > 1 and folder[1] == ":"):
        problem = "it is an absolute path; give a folder relative to the root folder"
    parts = tuple(part for part in folder.split("/") if part not in ("", "."))
    if problem is None and ".." in parts:
        problem = "it climbs out of the root folder with '..'"
    if problem is not None:
        raise AdapterError(f"{where}: refused the folder {folder!r}: {problem}", permanent=True)
    return parts


def checked_name(name: str, where: str) -> str:
    """Return `name` if it is one plain file name; refuse paths, "..", NUL and empty names."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "a file name is required"
    elif "\x00" in name:
        problem = "it contains a NUL character"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator; give a file name only"
    elif name in (".", ".."):
        problem = "it is not a file name"
    if problem is not None:
        raise AdapterError(f"{where}: refused the file name {name!r}: {problem}", permanent=True)
    return name


def is_temporary(name: str) -> bool:
    """Return True for names of files still being written (readers skip them)."""
    return name.lower().endswith(TEMP_SUFFIXES)


def free_names(name: str) -> Iterator[str]:
    """Yield `name`, then `stem_1.ext`, `stem_2.ext`… up to MAX_NAME_SUFFIX: names to try."""
    yield name
    stem, ext = posixpath.splitext(name)
    for number in range(1, MAX_NAME_SUFFIX + 1):
        yield f"{stem}_{number}{ext}"


class LocalFolderTransport(Transport):
    """Files in subfolders of a root folder on this machine."""

    kind = "local"
    label = "Local folder"
    settings_fields = [
        FieldSpec(
            "root",
            "Root folder",
            required=True,
            help="An existing folder on the hub's server; in/, out/, archive/… are inside it.",
        ),
    ]

    def _root(self) -> Path:
        root = str(self.settings.get("root") or "")
        if not root or "\x00" in root:
            raise AdapterError(
                f"{self.connection_key}: no root folder is set: enter the folder to use",
                permanent=True,
            )
        path = Path(root)
        if not path.is_dir():
            raise AdapterError(
                f"{self.connection_key}: the root folder {root} does not exist or is not a "
                "folder: create it or correct the setting",
                permanent=True,
            )
        resolved = path.resolve()
        allowed = [Path(r).resolve() for r in settings.LOCAL_FOLDER_ROOTS]
        # Whoever may set up a cart or the WMS must not make the hub read or write any
        # folder of its server: only those the operator listed.
        if not any(resolved == a or a in resolved.parents for a in allowed):
            raise AdapterError(
                f"{self.connection_key}: the root folder {root} is not inside a folder the "
                "hub may use (LOCAL_FOLDER_ROOTS): choose one inside "
                f"{', '.join(str(a) for a in allowed) or 'a listed folder'}",
                permanent=True,
            )
        return resolved

    def _folder(self, folder: str) -> Path:
        """Return the existing folder `folder` under the root, refusing anything outside it."""
        root = self._root()
        path = root.joinpath(*checked_folder(folder, self.connection_key))
        # A symbolic link inside the root must not lead out of it either.
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            raise AdapterError(
                f"{self.connection_key}: refused the folder {folder!r}: it leads outside the "
                "root folder",
                permanent=True,
            )
        if not resolved.is_dir():
            raise AdapterError(
                f"{self.connection_key}: the folder {folder!r} does not exist in {root}: "
                "create it or correct the folder setting",
                permanent=True,
            )
        return resolved

    def test(self) -> str:
        root = self._root()
        folders = sorted(
            entry.name for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)
        )
        if not folders:
            return f"The root folder {root} exists and has no subfolders."
        found = ", ".join(f"{name}/ ({len(self.list(name))} files)" for name in folders)
        return f"The root folder {root} holds {found}."

    def put(self, folder: str, name: str, data: bytes) -> str:
        directory = self._folder(folder)
        checked_name(name, self.connection_key)
        if is_temporary(name):
            raise AdapterError(
                f"{self.connection_key}: refused to write {name!r}: readers skip names ending "
                f"in {', '.join(TEMP_SUFFIXES)}",
                permanent=True,
            )
        target = directory / name
        if target.exists():
            raise TargetExists(
                f"{self.connection_key}: {folder}/{name} already exists and was not overwritten; "
                "it may be this file, sent by an earlier attempt. Check the folder before "
                "sending it again."
            )
        # The temporary file is in the same folder, so the rename stays on one filesystem and
        # is atomic; its .tmp suffix keeps readers away from it.
        fd, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, target)
        except OSError as exc:
            Path(temp_name).unlink(missing_ok=True)
            raise AdapterError(
                f"{self.connection_key}: could not write {folder}/{name}: {exc.strerror or exc}",
                permanent=False,
            ) from None
        logger.info("local put %s/%s (%d bytes) [%s]", folder, name, len(data), self)
        return str(target)

    def list(self, folder: str) -> list[str]:
        directory = self._folder(folder)
        found = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if is_temporary(entry.name):
                    continue
                try:
                    # Regular files only: no folders, and no links that could lead elsewhere.
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    mtime = entry.stat(follow_symlinks=False).st_mtime_ns
                except FileNotFoundError:
                    continue  # taken by another reader while we looked
                found.append((mtime, entry.name))
        return [name for _, name in sorted(found)]

    def get(self, folder: str, name: str) -> bytes:
        path = self._folder(folder) / checked_name(name, self.connection_key)
        try:
            if path.is_symlink():
                raise AdapterError(
                    f"{self.connection_key}: refused to read {folder}/{name}: it is a link",
                    permanent=True,
                )
            return path.read_bytes()
        except FileNotFoundError:
            raise FileVanished(
                f"{self.connection_key}: {folder}/{name} was gone when we came to read it"
            ) from None
        except OSError as exc:
            raise AdapterError(
                f"{self.connection_key}: could not read {folder}/{name}: {exc.strerror or exc}",
                permanent=False,
            ) from None

    def move(self, folder: str, name: str, to_folder: str) -> str:
        source = self._folder(folder) / checked_name(name, self.connection_key)
        destination = self._folder(to_folder)
        for candidate in free_names(name):
            target = destination / candidate
            try:
                # A hard link fails if the target exists, so nothing is ever overwritten.
                os.link(source, target, follow_symlinks=False)
            except FileExistsError:
                continue
            except FileNotFoundError:
                raise FileVanished(
                    f"{self.connection_key}: {folder}/{name} was gone when we came to move it"
                ) from None
            except OSError:
                # No hard links on this filesystem: check, then rename (not atomic, but only
                # the hub moves files between these folders).
                if target.exists():
                    continue
                return self._rename(source, target, folder, name)
            source.unlink(missing_ok=True)
            logger.info("local move %s/%s -> %s [%s]", folder, name, target, self)
            return str(target)
        raise AdapterError(
            f"{self.connection_key}: could not move {folder}/{name} to {to_folder}: "
            f"{MAX_NAME_SUFFIX} files of that name are already there",
            permanent=True,
        )

    def _rename(self, source: Path, target: Path, folder: str, name: str) -> str:
        try:
            os.rename(source, target)
        except FileNotFoundError:
            raise FileVanished(
                f"{self.connection_key}: {folder}/{name} was gone when we came to move it"
            ) from None
        except OSError as exc:
            raise AdapterError(
                f"{self.connection_key}: could not move {folder}/{name}: {exc.strerror or exc}",
                permanent=False,
            ) from None
        logger.info("local move %s/%s -> %s [%s]", folder, name, target, self)
        return str(target)
