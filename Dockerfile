# The image of each Python app: storefront_service, transaction_service or payment_sandbox,
# chosen with the APP build argument (compose builds it once per app). The web app runs
# under gunicorn; the same image runs the app's workers and migrations with another
# command. Build from the repository root:
#   docker build --build-arg APP=storefront_service -t etalase-storefront:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIND=0.0.0.0:8000

WORKDIR /app

# Pinned dependencies first: this layer is cached until requirements.txt changes, and it
# comes before `ARG APP` (a build argument is part of every later RUN's cache key), so the
# three images share it: one pip install, not three.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# A fixed, non-root uid (the same in every Etalase image) so shared volumes line up.
# The volume mount points exist with that owner, so new named volumes inherit it.
RUN groupadd --system --gid 10001 etalase \
    && useradd --system --uid 10001 --gid etalase --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin etalase \
    && mkdir -p /var/lib/etalase/keys /var/lib/etalase/jwks /var/lib/etalase/sandbox \
       /var/lib/etalase/audit-log /var/lib/etalase/witness \
    && chown -R etalase:etalase /var/lib/etalase

ARG APP
ENV APP=${APP}
# Without an app, `COPY ${APP}/` would copy the whole context.
RUN case "${APP}" in \
      storefront_service|transaction_service|payment_sandbox) ;; \
      *) echo "build with --build-arg APP=storefront_service|transaction_service|payment_sandbox" >&2; exit 1 ;; \
    esac

COPY servicekit/ servicekit/
COPY ${APP}/ ${APP}/
# devstack/ provides `python -m devstack keys` for the one-shot `keys` service in compose.
COPY devstack/ devstack/

USER 10001:10001
EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn -c \"$APP/gunicorn_conf.py\" \"$APP.wsgi:app\""]
