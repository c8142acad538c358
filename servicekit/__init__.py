"""Plumbing shared by Etalase's Flask apps.

Everything here is infrastructure: app setup, RFC 9457 problem responses, request ids,
JSON logs, Prometheus metrics, the psycopg2 pool, SQL migrations, JWT verification,
service credentials, outbound HTTP and cursor pagination. No business rule lives here,
so the showcase and the marketplace can share it without sharing any domain code.
"""
