"""gunicorn entry point (see storefront_service/gunicorn_conf.py for settings)."""

from storefront_service import create_app

app = create_app()
