import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banana_site.settings")
django_application = get_wsgi_application()

# After setup: bodies sent chunked are read within their limit and handed on with a length.
from generations.middleware import ChunkedBodies  # noqa: E402

application = ChunkedBodies(django_application)
