"""``manage.py sink``'s core over real sockets: documented test recipients."""

from __future__ import annotations

import json
import smtplib

import pytest

from messages.sink import SinkServer, SinkState

MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"


@pytest.fixture
def sink_on_disk(tmp_path):
    server = SinkServer(SinkState(directory=tmp_path)).start()
    yield server
    server.stop()


def rcpt(server: SinkServer, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.com")
        return smtp.rcpt(address)


def test_it_keeps_accepted_mail_as_a_json_listing_and_eml_files(sink_on_disk, tmp_path):
    with smtplib.SMTP("127.0.0.1", sink_on_disk.port) as smtp:
        refused = smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE)
    assert refused == {}
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    assert entry["mail_from"] == "a@example.com"
    assert entry["rcpt_tos"] == ["b@example.org"]
    assert entry["subject"] == "Hi"
    assert (tmp_path / f"{entry['id']}.eml").read_bytes().endswith(b"Hello\r\n")
    assert sink_on_disk.state.listing() == [entry]


def test_hardbounce_is_refused_with_550_5_1_1(sink_on_disk):
    code, text = rcpt(sink_on_disk, "hardbounce@example.org")
    assert code == 550 and text.startswith(b"5.1.1")


def test_softbounce_is_refused_with_452_4_2_2(sink_on_disk):
    code, text = rcpt(sink_on_disk, "softbounce@example.org")
    assert code == 452 and text.startswith(b"4.2.2")


def test_tempfail_is_refused_once_with_451_then_accepted(sink_on_disk):
    assert rcpt(sink_on_disk, "tempfail@example.org")[0] == 451
    assert rcpt(sink_on_disk, "tempfail@example.org")[0] == 250
    assert rcpt(sink_on_disk, "TempFail@other.example")[0] == 451


def test_one_session_carries_many_messages(sink_on_disk):
    with smtplib.SMTP("127.0.0.1", sink_on_disk.port) as smtp:
        for _ in range(30):  # more than aiosmtpd's default per-command limit
            assert smtp.sendmail("a@example.com", ["b@example.org"], MESSAGE) == {}
    assert sink_on_disk.state.count == 30
