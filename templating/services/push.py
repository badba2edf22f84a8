"""Copying aliased templates between two of an account's servers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import Account, Server
from postmark_clone.errors import ApplicationError

from ..models import Template


@dataclass
class PushItem:
    action: str
    template_id: int | None
    alias: str
    name: str
    template_type: str


def templates_push(
    *,
    account: Account,
    source_server_id: Any,
    destination_server_id: Any,
    perform_changes: bool,
) -> list[PushItem]:
    """Copy every aliased template of one of the account's servers to another
    (create, or edit the one with the same alias; layouts first so standard
    templates can point at them). With ``perform_changes`` false, only report.
    Both servers must belong to ``account`` (601 otherwise)."""
    servers = {}
    for label, server_id in (
        ("SourceServerID", source_server_id),
        ("DestinationServerID", destination_server_id),
    ):
        if isinstance(server_id, bool) or not isinstance(server_id, int | str):
            raise ApplicationError(601, f"The '{label}' is not a valid server id.")
        server = (
            Server.objects.filter(account=account, pk=int(server_id)).first()
            if str(server_id).isdigit()
            else None
        )
        if server is None:
            raise ApplicationError(601, f"The server in '{label}' was not found.")
        servers[label] = server
    source, dest = servers["SourceServerID"], servers["DestinationServerID"]
    rows = list(
        Template.objects.filter(server=source, alias__isnull=False)
        .select_related("layout")
        .order_by("id")
    )
    # Layouts first: a standard template's LayoutTemplate must exist on arrival.
    rows.sort(key=lambda t: t.template_type != Template.Type.LAYOUT)
    existing = {t.alias: t for t in Template.objects.filter(server=dest)}
    plan: list[tuple[Template, Template | None]] = []
    for row in rows:
        target = existing.get(row.alias)
        if target is not None and target.template_type != row.template_type:
            raise ApplicationError(
                1125,
                f"The template '{row.alias}' is a {row.template_type} template on the "
                f"source server but a {target.template_type} template on the "
                "destination.",
            )
        plan.append((row, target))
    if not plan:
        raise ApplicationError(1124, "There are no aliased templates to push.")
    items = []
    with transaction.atomic():
        for row, target in plan:
            template_id = target.pk if target is not None else None
            if perform_changes:
                layout = None
                if row.layout_id:
                    layout = Template.objects.filter(
                        server=dest, alias=row.layout.alias
                    ).first()
                if target is None:
                    target = Template(server=dest, alias=row.alias)
                else:
                    target.version = target.version + 1
                target.name = row.name
                target.template_type = row.template_type
                target.subject = row.subject
                target.html_body = row.html_body
                target.text_body = row.text_body
                target.layout = layout
                target.save()
                template_id = target.pk
            items.append(
                PushItem(
                    action="Edit" if row.alias in existing else "Create",
                    template_id=template_id,
                    alias=row.alias,
                    name=row.name,
                    template_type=row.template_type,
                )
            )
    return items
