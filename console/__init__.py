"""The supervisor console: a web UI at /console over the gateway's Redis data."""
