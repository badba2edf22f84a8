from django.contrib import admin

from .models import Template


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "alias", "template_type", "server", "updated_at")
    list_filter = ("template_type",)
    search_fields = ("name", "alias")
    raw_id_fields = ("server", "layout")
