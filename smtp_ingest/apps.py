from django.apps import AppConfig


class SmtpIngestConfig(AppConfig):
    name = "smtp_ingest"
