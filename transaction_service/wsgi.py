"""gunicorn entry point (see transaction_service/gunicorn_conf.py for settings)."""

from transaction_service import create_app

app = create_app()
