"""A receiving Django site using django-anymail's Postmark tracking webhook.

Mounted without a trailing slash because our API middleware strips it.
"""

from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.urls import path

urlpatterns = [
    path("anymail/postmark/tracking", PostmarkTrackingWebhookView.as_view()),
]
