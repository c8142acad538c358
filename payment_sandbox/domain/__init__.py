"""Pure provider rules: signatures, status codes, state transitions, refunds, retries.

No Flask, no SQL: everything here is a function of its arguments so the unit tests can
pin the protocol down exactly.
"""
