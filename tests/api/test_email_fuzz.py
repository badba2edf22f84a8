"""Random JSON thrown at ``POST /email`` and ``/email/batch``: never a 5xx, always
a JSON error body, and whatever is answered ErrorCode 0 is stored exactly once."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages.models import Message
from tests.factories import make_tenant

FIELDS = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Tag",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "Headers",
    "Metadata",
    "Attachments",
    "TrackOpens",
    "TrackLinks",
    "MessageStream",
]

text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(FIELDS + ["Name", "Value", "Content"]) | text,
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
addressish = (
    st.sampled_from(
        [
            "a@example.org",
            "Bob <bob@example.org>",
            "x@localhost",
            "",
            "<>",
            '"q, r" <q@example.org>',
            "a@b.c, d@e.f",
        ]
    )
    | text
)
attachment = st.fixed_dictionaries(
    {},
    optional={
        "Name": text | json_values,
        "Content": st.sampled_from(["aGk=", "", "!!", "aGk"]) | json_values,
        "ContentType": text | json_values,
        "ContentID": st.sampled_from(["cid:a", "", None, "<a>"]) | json_values,
    },
)
header = st.fixed_dictionaries(
    {}, optional={"Name": text | json_values, "Value": text | json_values}
)
field_values = {
    "From": addressish | json_values,
    "To": addressish | json_values,
    "Cc": addressish | json_values,
    "Bcc": addressish | json_values,
    "ReplyTo": addressish | json_values,
    "Headers": st.lists(header, max_size=3) | json_values,
    "Attachments": st.lists(attachment, max_size=3) | json_values,
    "Metadata": st.dictionaries(text, text | json_values, max_size=4) | json_values,
    "TrackLinks": st.sampled_from(["None", "HtmlOnly", "htmlandtext", "x"])
    | json_values,
}
message = st.fixed_dictionaries(
    {},
    optional={name: field_values.get(name, json_values) for name in FIELDS},
).flatmap(
    lambda known: st.dictionaries(text, json_values, max_size=3).map(
        lambda extra: {**extra, **known}
    )
)
override = st.sampled_from(FIELDS).flatmap(
    lambda name: st.tuples(st.just(name), field_values.get(name, text | json_values))
) | st.tuples(text, json_values)
# Mostly a valid message with a few fields replaced, so that random values reach
# the deep checks (MIME composition, the database) and not just the first one.
mutated = st.lists(override, max_size=4).map(
    lambda pairs: {
        "From": "SENDER",
        "To": "alice@example.org",
        "Subject": "Hi",
        "TextBody": "Hello",
        **dict(pairs),
    }
)
documents = st.one_of(mutated, mutated, mutated, message, json_values)


@pytest.fixture(scope="module")
def fuzz_tenant(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            tenant = make_tenant("fuzz")
        yield tenant
        tenant.account.delete()


@pytest.mark.django_db
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # reproducible in CI; the examples change with the test
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents)
def test_random_json_never_yields_a_5xx(api, fuzz_tenant, document):
    if isinstance(document, dict) and document.get("From") in (None, "SENDER"):
        document = {**document, "From": f"Fuzz <{fuzz_tenant.sender}>"}
    before = Message.objects.filter(server=fuzz_tenant.server).count()
    for path in ("/email", "/email/batch"):
        body = [document] if path == "/email/batch" else document
        response = api.generic(
            "POST",
            path,
            json.dumps(body),
            content_type="application/json",
            HTTP_ACCEPT="application/json",
            **fuzz_tenant.server_headers,
        )
        assert response.status_code < 500, response.content
        assert response["Content-Type"].startswith("application/json")
        result = response.json()
        items = result if isinstance(result, list) else [result]
        for item in items:
            assert isinstance(item["ErrorCode"], int)
            assert isinstance(item["Message"], str) and item["Message"]
            # Accepted means stored, exactly once; refused means nothing stored.
            if response.status_code == 200 and item["ErrorCode"] == 0:
                assert Message.objects.filter(message_id=item["MessageID"]).count() == 1
        stored = Message.objects.filter(server=fuzz_tenant.server).count()
        accepted = sum(
            1
            for item in items
            if response.status_code == 200 and item["ErrorCode"] == 0
        )
        assert stored == before + accepted, (stored, before, accepted)
        before = stored
