"""EmailTransport against the sandbox SMTP sink and IMAP server: each attachment read once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from cartrover.adapters import AdapterError, AuthError, TransientError
from cartrover.http import BlockedDestination
from sandbox.mail_server import ImapEmulator, SmtpSink
from wms.files.transports import email as email_transport
from wms.files.transports.base import FileVanished
from wms.files.transports.email import EmailTransport, safe_filename

IMAP_USER = "orders@hub.example"
IMAP_PASSWORD = "imap-Secret-5521"
SMTP_USER = "hub"
SMTP_PASSWORD = "smtp-Secret-9043"
CSV = b"order_no,tracking\r\nSHOP-2042,1Z999\r\n"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def imap() -> Iterator[ImapEmulator]:
    server = ImapEmulator(IMAP_USER, IMAP_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(username=SMTP_USER, password=SMTP_PASSWORD)
    sink.start()
    yield sink
    sink.stop()


def make_transport(
    *,
    imap: ImapEmulator | None = None,
    smtp: SmtpSink | None = None,
    imap_password: str = IMAP_PASSWORD,
    smtp_password: str = SMTP_PASSWORD,
    **settings: object,
) -> EmailTransport:
    values: dict[str, object] = {"timeout": 10}
    if smtp is not None:
        values |= {
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "smtp_username": SMTP_USER,
            "from_address": "hub@merchant.example",
            "to_addresses": "orders@3pl.example",
        }
    if imap is not None:
        values |= {
            "imap_host": imap.host,
            "imap_port": imap.port,
            "imap_security": "none",
            "imap_username": IMAP_USER,
        }
    return EmailTransport(
        credentials={"smtp_password": smtp_password, "imap_password": imap_password},
        settings=values | settings,
        connection_key="email:test",
    )


def mail(
    *attachments: tuple[str, bytes],
    sender: str = "wms@3pl.example",
    subject: str = "Shipments",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = IMAP_USER
    message["Subject"] = subject
    message.set_content("Files attached.")
    for filename, data in attachments:
        message.add_attachment(data, maintype="text", subtype="csv", filename=filename)
    return message


def test_put_sends_the_file_as_an_attachment(smtp):
    with make_transport(smtp=smtp) as transport:
        message_id = transport.put("in", "ord_1.csv", CSV)

    [received] = smtp.received
    message = received.message
    [attachment] = list(message.iter_attachments())
    assert received.rcpt_tos == ("orders@3pl.example",)
    assert received.mail_from == "hub@merchant.example"
    assert message["Subject"] == "in: ord_1.csv"
    assert message["Message-ID"].strip() == message_id
    assert attachment.get_filename() == "ord_1.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == CSV


def test_folder_chooses_recipients_and_subject(smtp):
    transport = make_transport(
        smtp=smtp,
        folder_recipients="in = a@3pl.example, b@3pl.example\nreturns = r@3pl.example",
        subject_template="[3PL {folder}] {name}",
    )

    transport.put("in", "ord_2.csv", CSV)
    transport.put("out", "inv_1.csv", CSV)

    first, second = smtp.received
    assert first.rcpt_tos == ("a@3pl.example", "b@3pl.example")
    assert first.message["Subject"] == "[3PL in] ord_2.csv"
    assert second.rcpt_tos == ("orders@3pl.example",)
    assert second.message["Subject"] == "[3PL out] inv_1.csv"


def test_wrong_smtp_password_raises_auth_error_without_the_password(smtp, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-smtp-Pass-1"
    transport = make_transport(smtp=smtp, smtp_password=wrong)

    with pytest.raises(AuthError) as caught:
        transport.put("in", "ord_3.csv", CSV)

    assert smtp.received == []
    for text in (caught.value.message, repr(transport), caplog.text):
        assert wrong not in text
        assert SMTP_PASSWORD not in text


def test_smtp_temporary_refusal_is_transient(smtp):
    smtp.fail_next()

    with pytest.raises(TransientError):
        make_transport(smtp=smtp).put("in", "ord_4.csv", CSV)

    assert smtp.received == []


def test_list_get_move_reads_each_attachment_once(imap):
    first = imap.deliver(mail(("shp_1.csv", CSV)))
    second = imap.deliver(mail(("shp_2.csv", b"other")))

    with make_transport(imap=imap) as transport:
        names = transport.list("out")
        contents = [transport.get("out", name) for name in names]
        moved = [transport.move("out", name, "archive") for name in names]
        again = transport.list("out")

    with make_transport(imap=imap) as transport:
        in_a_new_session = transport.list("out")

    assert names == [f"{first}-shp_1.csv", f"{second}-shp_2.csv"]
    assert contents == [CSV, b"other"]
    assert moved == [f"archive/{first}-shp_1.csv", f"archive/{second}-shp_2.csv"]
    assert again == []
    assert in_a_new_session == []
    assert imap.messages("INBOX") == []
    archived = imap.messages("archive")
    assert len(archived) == 2
    assert all("\\Seen" in m.flags for m in archived)


def test_listing_and_reading_do_not_mark_messages_seen(imap):
    imap.deliver(mail(("shp_3.csv", CSV)))

    with make_transport(imap=imap) as transport:
        [name] = transport.list("out")
        transport.get("out", name)

    [message] = imap.messages("INBOX")
    assert "\\Seen" not in message.flags


def test_seen_messages_and_messages_without_attachments_are_not_listed(imap):
    imap.deliver(mail(("old.csv", CSV)), flags=("\\Seen",))
    imap.deliver(mail())
    new = imap.deliver(mail(("new.csv", CSV)))

    with make_transport(imap=imap) as transport:
        names = transport.list("out")

    assert names == [f"{new}-new.csv"]


def test_message_with_two_attachments_moves_when_both_are_processed(imap):
    uid = imap.deliver(mail(("a.csv", b"A"), ("b.csv", b"B")))

    with make_transport(imap=imap) as transport:
        names = transport.list("out")
        first_move = transport.move("out", names[0], "archive")
        left_after_first = transport.list("out")
    with make_transport(imap=imap) as transport:
        left_in_new_session = transport.list("out")
        second_move = transport.move("out", left_in_new_session[0], "archive")
        left_after_second = transport.list("out")

    assert names == [f"{uid}-a.csv", f"{uid}-b.csv"]
    assert first_move == f"INBOX/{uid}-a.csv"
    assert left_after_first == [f"{uid}-b.csv"]
    assert left_in_new_session == [f"{uid}-b.csv"]
    assert second_move == f"archive/{uid}-b.csv"
    assert left_after_second == []
    assert len(imap.messages("archive")) == 1


def test_move_without_imap_move_copies_and_expunges(request):
    server = ImapEmulator(IMAP_USER, IMAP_PASSWORD, supports_move=False)
    server.start()
    request.addfinalizer(server.stop)
    uid = server.deliver(mail(("shp_4.csv", CSV)))

    with make_transport(imap=server) as transport:
        [name] = transport.list("out")
        moved = transport.move("out", name, "errors")
        again = transport.list("out")

    assert moved == f"errors/{uid}-shp_4.csv"
    assert again == []
    assert "UID MOVE" not in server.commands
    assert "UID COPY" in server.commands
    assert server.messages("INBOX") == []
    assert len(server.messages("errors")) == 1


def test_sender_allow_list_filters_other_senders(imap):
    imap.deliver(mail(("spoof.csv", CSV), sender="mallory@evil.example"))
    by_address = imap.deliver(mail(("a.csv", CSV), sender="Ops <ops@partner.example>"))
    by_domain = imap.deliver(mail(("b.csv", CSV), sender="wms@3pl.example"))
    imap.deliver(mail(("c.csv", CSV), sender="wms@sub.3pl.example"))

    transport = make_transport(imap=imap, allowed_senders="ops@partner.example\n@3pl.example")
    with transport:
        names = transport.list("out")

    assert names == [f"{by_address}-a.csv", f"{by_domain}-b.csv"]


def test_subject_prefix_filters_other_mail(imap):
    imap.deliver(mail(("x.csv", CSV), subject="Newsletter"))
    wanted = imap.deliver(mail(("y.csv", CSV), subject="SHIPCONFIRM 2026-11-26"))

    with make_transport(imap=imap, subject_prefix="shipconfirm") as transport:
        names = transport.list("out")

    assert names == [f"{wanted}-y.csv"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/shp.csv", "shp.csv"),
        ("..", "attachment-1"),
        (".hidden.csv", "hidden.csv"),
        ("ship ment;rm -rf.csv", "ship ment_rm -rf.csv"),
    ],
)
def test_safe_filename_strips_folders_and_odd_characters(raw, expected):
    assert safe_filename(raw, "attachment-1") == expected


def test_traversal_in_attachment_names_is_sanitized(imap):
    uid = imap.deliver(mail(("../../etc/cron.d/evil.csv", CSV)))

    with make_transport(imap=imap) as transport:
        [name] = transport.list("out")
        content = transport.get("out", name)

    assert name == f"{uid}-evil.csv"
    assert "/" not in name
    assert content == CSV


def test_message_taken_by_another_consumer_raises_file_vanished(imap):
    imap.deliver(mail(("shp_5.csv", CSV)))

    with make_transport(imap=imap) as transport:
        [name] = transport.list("out")
        with make_transport(imap=imap) as other:
            other.move("out", name, "archive")
        with pytest.raises(FileVanished):
            transport.get("out", name)
        with pytest.raises(FileVanished):
            transport.move("out", name, "archive")


def test_wrong_imap_password_raises_auth_error_without_the_password(imap, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-imap-Pass-2"
    transport = make_transport(imap=imap, imap_password=wrong)

    with pytest.raises(AuthError) as caught:
        transport.open()

    for text in (caught.value.message, repr(transport), caplog.text, repr(caught.value)):
        assert wrong not in text
        assert IMAP_PASSWORD not in text


def test_secrets_stay_out_of_logs_and_reprs_on_success(imap, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    imap.deliver(mail(("shp_6.csv", CSV)))

    with make_transport(imap=imap, smtp=smtp) as transport:
        transport.put("in", "ord_5.csv", CSV)
        for name in transport.list("out"):
            transport.move("out", name, "archive")
        shown = repr(transport)

    for secret in (IMAP_PASSWORD, SMTP_PASSWORD):
        assert secret not in caplog.text
        assert secret not in shown


def test_round_trip_from_smtp_to_imap():
    imap = ImapEmulator(IMAP_USER, IMAP_PASSWORD)
    smtp = SmtpSink(username=SMTP_USER, password=SMTP_PASSWORD, deliver_to=imap)
    with imap, smtp:
        sender = make_transport(smtp=smtp)
        sender.put("out", "shp_7.csv", CSV)
        with make_transport(imap=imap, allowed_senders="@merchant.example") as reader:
            [name] = reader.list("out")
            content = reader.get("out", name)
            reader.move("out", name, "archive")
            again = reader.list("out")

    assert name.endswith("-shp_7.csv")
    assert content == CSV
    assert again == []


def test_unreachable_imap_server_is_transient(imap):
    transport = make_transport(imap=imap)
    imap.stop()

    with pytest.raises(TransientError):
        transport.open()


def test_private_address_is_refused_unless_allowed(imap, smtp, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = False
    transport = make_transport(imap=imap, smtp=smtp)

    with pytest.raises(BlockedDestination):
        transport.open()
    with pytest.raises(BlockedDestination):
        transport.put("in", "ord_6.csv", CSV)

    assert smtp.received == []
    assert imap.commands == []


def test_missing_recipient_is_a_permanent_error(smtp):
    transport = make_transport(smtp=smtp, to_addresses="")

    with pytest.raises(AdapterError) as caught:
        transport.put("in", "ord_7.csv", CSV)

    assert caught.value.permanent
    assert "recipient" in caught.value.message


def test_sending_without_the_login_the_server_requires_is_refused(smtp):
    transport = make_transport(smtp=smtp, smtp_username="")

    with pytest.raises(AdapterError) as caught:
        transport.put("in", "ord_8.csv", CSV)

    assert caught.value.permanent
    assert "530" in caught.value.message
    assert smtp.received == []


def test_file_names_with_paths_or_line_breaks_are_refused(smtp):
    transport = make_transport(smtp=smtp)

    for name in ["../ord.csv", "ord.csv\r\nBcc: x@evil.example"]:
        with pytest.raises(AdapterError) as caught:
            transport.put("in", name, CSV)
        assert caught.value.permanent

    assert smtp.received == []


def test_test_checks_both_servers(imap, smtp):
    imap.deliver(mail(("shp_8.csv", CSV)))

    with make_transport(imap=imap, smtp=smtp) as transport:
        summary = transport.test()

    assert "SMTP" in summary
    assert "INBOX has 1 unread message(s)" in summary


def test_unread_mail_from_others_does_not_hide_accepted_mail(imap, monkeypatch):
    monkeypatch.setattr(email_transport, "HEADER_BATCH", 2)
    monkeypatch.setattr(email_transport, "MAX_MESSAGES_PER_LIST", 2)
    for number in range(5):
        imap.deliver(mail((f"spam_{number}.csv", CSV), sender="spam@elsewhere.example"))
    wanted = [imap.deliver(mail((f"shp_{n}.csv", CSV))) for n in range(3)]
    transport = make_transport(imap=imap, allowed_senders="@3pl.example")

    with transport:
        first = transport.list("out")
        for name in first:
            transport.move("out", name, "archive")
        second = transport.list("out")

    assert first == [f"{wanted[0]}-shp_0.csv", f"{wanted[1]}-shp_1.csv"]
    assert second == [f"{wanted[2]}-shp_2.csv"]
