"""Prometheus metrics of an IVR worker (one registry per process).

Label ``worker`` is the worker's SIP port, so N workers on one host can be
scraped into one view.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IvrMetrics:
    def __init__(self, worker: str, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.worker = worker
        self.active = Gauge("hcp_ivr_active_calls", "Calls in progress", ["worker"],
                            registry=self.registry).labels(worker)
        self.calls = Counter("hcp_ivr_calls", "Finished calls by outcome",
                             ["worker", "outcome"], registry=self.registry)
        self.refused = Counter("hcp_ivr_refused_calls", "INVITEs refused, by SIP status",
                               ["worker", "status"], registry=self.registry)
        self.digits = Counter("hcp_ivr_digits", "Key presses by DTMF method",
                              ["worker", "method"], registry=self.registry)
        self.duplicate_signals = Counter(
            "hcp_ivr_duplicate_dtmf", "DTMF observations merged into an earlier press",
            ["worker"], registry=self.registry).labels(worker)
        self.keypress_latency = Histogram(
            "hcp_ivr_keypress_to_prompt_seconds",
            "From the key press that completed an answer to the next prompt starting",
            ["worker"], registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)).labels(worker)

    def outcome(self, outcome: str) -> None:
        self.calls.labels(self.worker, outcome).inc()

    def digit(self, method: str) -> None:
        self.digits.labels(self.worker, method).inc()

    def refusal(self, status: int) -> None:
        self.refused.labels(self.worker, str(status)).inc()
