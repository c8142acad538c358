"""gunicorn settings for the hello ceiling: exactly the services' (servicekit) settings."""

from servicekit.gunicorn_defaults import settings

globals().update(settings(default_port=8009))
