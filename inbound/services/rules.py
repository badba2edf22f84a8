"""Inbound rule triggers: blocked sender addresses and domains."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Server
from postmark_clone.errors import ApplicationError

from ..models import InboundRule

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def inbound_rule_create(*, server: Server, rule: Any) -> InboundRule:
    """Block mail from an address (``spam@example.com``) or a whole domain
    (``example.com``). 809 no rule given, 813 neither an address nor a domain,
    810 already exists."""
    if rule is None or rule == "":
        raise ApplicationError(
            809, "Please provide a Rule (an email address or domain)."
        )
    if not isinstance(rule, str):
        raise ApplicationError(813, "The Rule must be an email address or a domain.")
    value = rule.strip().lower()
    local, at, domain = value.rpartition("@")
    valid = (
        bool(_LOCAL.match(local)) and bool(_DOMAIN.match(domain))
        if at
        else bool(_DOMAIN.match(value))
    )
    if not valid:
        raise ApplicationError(813, f"'{rule}' is not a valid email address or domain.")
    try:
        with transaction.atomic():
            return InboundRule.objects.create(server=server, rule=value)
    except IntegrityError as exc:
        raise ApplicationError(810, f"The rule '{value}' already exists.") from exc


def inbound_rule_delete(*, server: Server, rule_id: Any) -> int:
    """Delete one of the server's rules; 812 when it does not exist (or is
    another tenant's). Returns the deleted id."""
    try:
        value = int(rule_id)
    except (TypeError, ValueError):
        value = -1
    deleted, _ = InboundRule.objects.filter(server=server, id=value).delete()
    if not deleted:
        raise ApplicationError(812, "This inbound rule was not found.")
    return value
