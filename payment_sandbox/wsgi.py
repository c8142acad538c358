"""gunicorn entry point: `gunicorn -c payment_sandbox/gunicorn_conf.py payment_sandbox.wsgi:app`."""

from payment_sandbox import create_app

app = create_app()
