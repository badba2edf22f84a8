"""Email templates (Postmark's Templates API): standard templates and layouts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from accounts.models import Server


class Template(models.Model):
    class Type(models.TextChoices):
        STANDARD = "Standard"
        LAYOUT = "Layout"

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    # Postmark's alias: [A-Za-z][A-Za-z0-9._-]*, unique per server when set;
    # NULL when unset (the API answers "Alias": null, and NULLs never collide).
    alias = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    template_type = models.CharField(
        max_length=10, choices=Type.choices, default=Type.STANDARD
    )
    subject = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    text_body = models.TextField(blank=True, default="")
    # Standard templates only; a layout in use cannot be deleted (1130).
    layout = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    # Bumped on every edit through the services (a revision number).
    version = models.PositiveIntegerField(default=1)
    test_render_model = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["server", "alias"],
                condition=Q(alias__isnull=False),
                name="template_alias_unique_per_server",
            ),
            models.CheckConstraint(
                condition=Q(template_type__in=["Standard", "Layout"]),
                name="template_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(template_type="Standard") | Q(layout__isnull=True),
                name="template_layout_only_on_standard",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.alias or self.pk})"

    @property
    def layout_alias(self) -> str | None:
        return self.layout.alias if self.layout_id and self.layout else None
