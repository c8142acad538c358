"""gunicorn entry point: `gunicorn -c storefront_service/gunicorn_conf.py storefront_service.wsgi:app`."""

from storefront_service import create_app

app = create_app()
