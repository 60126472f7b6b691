"""Outbound delivery: SMTP transports with TLS modes and pooled connections, the retry policy
and the worker that drains the durable queue."""
