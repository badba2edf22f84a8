from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "messages"
    # django.contrib.messages already owns the label "messages"; this label is
    # fixed from the first migration and must never change.
    label = "mail"
    verbose_name = "Mail"
