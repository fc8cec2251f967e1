"""``make bench``: throughput, latency, scaling and job numbers on the local stack."""
