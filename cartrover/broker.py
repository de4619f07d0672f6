"""The embedded broker: kombu's file-system transport, with message files written atomically.

kombu's own file-system channel opens a message file under its final name and then writes it,
so a worker reading the folder at that moment can take a file that is still empty and stop
with a JSON error. Here a message is written under a name no reader takes (`.part`), then
renamed to its final name in one step: a reader sees a whole message or none.

`filesystem://` in CELERY_BROKER_URL uses this transport (the alias is replaced on import).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu import transport
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # The parent names the message `payload`, its own base `message`: one of them must differ.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put a message on `queue`: written aside, then renamed into the folder whole."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # readers take only names ending in ".<queue>.msg"
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


transport.TRANSPORT_ALIASES["filesystem"] = "cartrover.broker:Transport"
