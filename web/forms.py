"""Forms of the web UI. Filter forms read the query string (GET) so every search
is a shareable URL; their field names match the API's query parameters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Membership
from bounces.models import BounceType
from bounces.selectors import BounceFilters
from messages.selectors import MessageFilters

MAX_LIST_BOXES = 1000
METADATA_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


def _day_start(value) -> datetime | None:
    return datetime.combine(value, time.min, tzinfo=UTC) if value else None


def _day_end(value) -> datetime | None:
    return datetime.combine(value, time.max, tzinfo=UTC) if value else None


class DateInput(forms.DateInput):
    input_type = "date"


class ActivityFilterForm(forms.Form):
    recipient = forms.CharField(required=False, max_length=320)
    fromemail = forms.CharField(label="From", required=False, max_length=320)
    subject = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=1000)
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            ("queued", "Queued"),
            ("sent", "Sent"),
            ("failed", "Failed"),
        ],
    )
    messagestream = forms.ChoiceField(label="Stream", required=False, choices=[])
    fromdate = forms.DateField(label="From date", required=False, widget=DateInput)
    todate = forms.DateField(label="To date", required=False, widget=DateInput)
    metadata = forms.CharField(
        label="Metadata",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "key=value"}),
    )

    def __init__(self, *args, streams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["messagestream"].choices = [("", "All streams")] + [
            (s.stream_id, s.name) for s in streams
        ]

    @property
    def has_secondary_filters(self) -> bool:
        """Whether a filter behind "More filters" is in use (or wrong), so the
        page opens that section."""
        names = ("status", "messagestream", "fromdate", "todate", "metadata")
        return any(self.data.get(n) for n in names) or any(
            k.startswith("metadata_") for k in self.data
        )

    def clean_metadata(self) -> dict[str, str]:
        """``key=value`` from the form, plus the API's ``metadata_<key>=value``
        query parameters. Keys are restricted to a safe alphabet: they become
        JSON lookups."""
        pairs: dict[str, str] = {}
        text = self.cleaned_data.get("metadata", "").strip()
        if text:
            key, sep, value = text.partition("=")
            if not sep:
                raise forms.ValidationError("Write the filter as key=value.")
            pairs[key.strip()] = value.strip()
        for name, value in self.data.items():
            if name.startswith("metadata_") and value:
                pairs[name.removeprefix("metadata_")] = value
        for key in pairs:
            if not METADATA_KEY.fullmatch(key) or "__" in key:
                raise forms.ValidationError(f"Unsupported metadata key '{key}'.")
        return pairs

    def filters(self) -> MessageFilters:
        # A malformed filter (say, a bad date) is dropped; the valid ones apply.
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return MessageFilters(
            recipient=data.get("recipient", ""),
            fromemail=data.get("fromemail", ""),
            tag=data.get("tag", ""),
            status=data.get("status", ""),
            subject=data.get("subject", ""),
            messagestream=data.get("messagestream", ""),
            fromdate=_day_start(data.get("fromdate")),
            todate=_day_end(data.get("todate")),
            metadata=data.get("metadata") or {},
        )


class BounceFilterForm(forms.Form):
    type = forms.ChoiceField(
        required=False, choices=[("", "All types"), *BounceType.choices]
    )
    emailFilter = forms.CharField(
        label="Email", required=False, max_length=320
    )  # the API's name
    tag = forms.CharField(required=False, max_length=1000)
    messagestream = forms.ChoiceField(label="Stream", required=False, choices=[])
    inactive = forms.ChoiceField(
        label="State",
        required=False,
        choices=[
            ("", "Active and inactive"),
            ("true", "Inactive"),
            ("false", "Active"),
        ],
    )
    fromdate = forms.DateField(label="From date", required=False, widget=DateInput)
    todate = forms.DateField(label="To date", required=False, widget=DateInput)

    def __init__(self, *args, streams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["messagestream"].choices = [("", "All streams")] + [
            (s.stream_id, s.name) for s in streams
        ]

    @property
    def has_secondary_filters(self) -> bool:
        return any(self.data.get(n) for n in ("tag", "fromdate", "todate"))

    def filters(self) -> BounceFilters:
        # A malformed filter (say, a bad date) is dropped; the valid ones apply.
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return BounceFilters(
            type=data.get("type", ""),
            email_filter=data.get("emailFilter", ""),
            tag=data.get("tag", ""),
            message_stream=data.get("messagestream", ""),
            inactive={"true": True, "false": False}.get(data.get("inactive", "")),
            fromdate=_day_start(data.get("fromdate")),
            todate=_day_end(data.get("todate")),
        )


class SuppressionAddForm(forms.Form):
    emails = forms.CharField(
        label="Addresses to suppress",
        help_text="One per line, or separated by commas.",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=200_000,
    )

    def addresses(self) -> list[str]:
        raw = self.cleaned_data["emails"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()][
            :MAX_LIST_BOXES
        ]


class TokenCreateForm(forms.Form):
    name = forms.CharField(label="Token name", required=False, max_length=100)


class WebhooksForm(forms.Form):
    bounce_hook_url = forms.URLField(
        label="Bounce webhook", required=False, max_length=2000, assume_scheme="https"
    )
    delivery_hook_url = forms.URLField(
        label="Delivery webhook", required=False, max_length=2000, assume_scheme="https"
    )
    open_hook_url = forms.URLField(
        label="Open webhook", required=False, max_length=2000, assume_scheme="https"
    )
    click_hook_url = forms.URLField(
        label="Click webhook", required=False, max_length=2000, assume_scheme="https"
    )
    inbound_hook_url = forms.URLField(
        label="Inbound webhook", required=False, max_length=2000, assume_scheme="https"
    )


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        label="Keep message content for (days)",
        min_value=7,
        max_value=365,
        help_text="Between 7 and 365 days, like Postmark.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=320)
    role = forms.ChoiceField(choices=Membership.Role.choices)


class AcceptInviteForm(forms.Form):
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Repeat password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") != data.get("password2"):
            raise forms.ValidationError("The two passwords differ.")
        return data
