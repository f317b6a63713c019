"""Prometheus metrics of one process (each replica serves its own /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

SOCKETS = Gauge("chat_open_sockets", "Open websockets in this process", ["kind"])
MESSAGES_STORED = Counter("chat_messages_stored_total", "Messages stored by this process")
DELIVERIES = Counter("chat_deliveries_total", "Message frames written to sockets")
PUBLISHES = Counter("chat_publishes_total", "Events published to the channel layer")
GAP_REPAIRS = Counter("chat_gap_repairs_total", "Messages the hub fetched from storage to fill a gap")
FAILURES = Counter("chat_failures_total", "Failures by reason", ["reason"])
SEND_LATENCY = Histogram(
    "chat_message_send_seconds",
    "From receipt of a message frame to its storage",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
REFRESHES = Counter("chat_refreshes_total", "Refresh-token presentations by outcome", ["outcome"])
LOGINS = Counter("chat_logins_total", "Sign-in attempts by outcome", ["outcome"])
SLOW_READERS = Counter("chat_slow_readers_total", "Sockets cut off for not reading")
