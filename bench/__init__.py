"""`make bench`: throughput and latency of the real stack against same-run ceilings."""
