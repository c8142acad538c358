"""Operational tools run against a real stack: compliance report (DESIGN.md §9), chaos
(fault injection) and the shared helpers they and `bench/` use."""
