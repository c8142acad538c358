"""Repositories: the only place with SQL. Each function runs in one transaction from
`servicekit.db.Database.transaction()` and returns plain dicts (or raises a domain error).
"""
