"""The operator sees unmatched reports, with their raw text, in the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from bounces.models import UnmatchedReport
from bounces.reports import bounce_mx_receive

from .helpers import fixture_bytes

pytestmark = pytest.mark.django_db


@override_settings(BOUNCE_MX_FBL_ADDRESSES=["fbl@bounces.localhost"])
def test_an_unmatched_report_is_listed_and_readable_in_the_admin(client):
    bounce_mx_receive(
        mail_from="",
        rcpt_tos=["fbl@bounces.localhost"],
        raw=fixture_bytes("arf_yahoo.eml"),
    )
    report = UnmatchedReport.objects.get()
    admin = User.objects.create_superuser("op", "op@example.org", "pw-123456789")
    client.force_login(admin)
    listing = client.get("/admin/bounces/unmatchedreport/")
    assert listing.status_code == 200
    assert b"nina@yahoo.example" in listing.content
    detail = client.get(f"/admin/bounces/unmatchedreport/{report.id}/change/")
    assert detail.status_code == 200
    assert b"Feedback-Type: abuse" in detail.content
