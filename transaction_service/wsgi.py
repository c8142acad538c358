"""gunicorn entry point: `gunicorn -c transaction_service/gunicorn_conf.py transaction_service.wsgi:app`."""

from transaction_service import create_app

app = create_app()
