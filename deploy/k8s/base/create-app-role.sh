#!/bin/sh
# The service's own database and its ordinary owner role, never a superuser (the app must
# not read server files with pg_read_file() or run programs with COPY ... PROGRAM).
# Run by the postgres image once, on an empty data directory (docker-entrypoint-initdb.d),
# as the bootstrap superuser; used by compose.yaml and deploy/k8s.
#   APP_DB_USER, APP_DB_PASSWORD, APP_DB_NAME: the role, its password, its database.
set -eu
: "${APP_DB_USER:?}" "${APP_DB_PASSWORD:?}" "${APP_DB_NAME:?}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v role="$APP_DB_USER" -v password="$APP_DB_PASSWORD" -v db="$APP_DB_NAME" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE CONNECT, TEMPORARY ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
SQL
