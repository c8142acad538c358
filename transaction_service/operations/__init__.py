"""Use cases: each one a short sequence of database transactions around calls to the other
service or the provider. They hold the saga and the side effects of every state change
(ledger entry, audit row, outbox rows), shared by the HTTP API and the workers."""
