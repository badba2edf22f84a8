import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")
application = get_wsgi_application()

# Open pixel and click redirect answered before Django's middleware (hot paths).
from tracking.wsgi import TrackingFastPath  # noqa: E402 (needs Django set up)

application = TrackingFastPath(application)
