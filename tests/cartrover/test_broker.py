"""The embedded broker: a worker reading while messages are written never takes half a one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kombu import Connection

from cartrover.broker import Transport

MESSAGES = 200
BODY = "x" * 300_000  # large enough that writing one takes a while


def folders(tmp_path: Path) -> dict[str, str]:
    queue, processed = tmp_path / "queue", tmp_path / "processed"
    queue.mkdir()
    processed.mkdir()
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
    }


def test_a_reader_racing_the_writer_gets_every_message_whole(tmp_path):
    options = folders(tmp_path)
    with (
        Connection(transport=Transport, transport_options=options) as writing,
        Connection(transport=Transport, transport_options=options) as reading,
    ):
        inbox = reading.SimpleQueue("work")
        outbox = writing.SimpleQueue("work")
        written = threading.Event()

        def write() -> None:
            for number in range(MESSAGES):
                outbox.put({"number": number, "body": BODY})
            written.set()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        received: list[int] = []
        deadline = time.monotonic() + 120
        while len(received) < MESSAGES and time.monotonic() < deadline:
            try:
                message = inbox.get(block=False)
            except inbox.Empty:
                continue  # the writer is still at work: read the folder again at once
            assert message.payload["body"] == BODY
            received.append(message.payload["number"])
            message.ack()
        writer.join(10)
        inbox.close()
        outbox.close()

    assert written.is_set()
    assert sorted(received) == list(range(MESSAGES))
