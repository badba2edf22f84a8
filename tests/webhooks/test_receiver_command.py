from __future__ import annotations

import time

from webhooks import signature
from webhooks.management.commands.webhook_receiver import describe_request


def test_the_dev_receiver_reports_whether_the_signature_verifies():
    body = b'{"RecordType": "Bounce", "ID": 1}'
    header = signature.sign(secret="k", body=body, timestamp=int(time.time()))
    headers = {signature.HEADER: header, "X-PM-Webhook-Trace-Id": "abc"}
    good = describe_request(headers=headers, body=body, secret="k")
    assert good["RecordType"] == "Bounce"
    assert good["SignatureValid"] is True
    assert good["TraceId"] == "abc"
    assert (
        describe_request(headers=headers, body=body, secret="x")["SignatureValid"]
        is False
    )
    assert (
        describe_request(headers=headers, body=body, secret="")["SignatureValid"]
        is None
    )
