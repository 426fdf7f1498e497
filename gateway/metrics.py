"""Prometheus metrics of one gateway process, in a registry of its own.

A registry per ``Metrics`` object (not the global one) so several apps can live
in one test process. ``MeteredIntake`` wraps the intake every channel shares,
so accepted/refused counts cover the IVR and SMS as well as the HTTP API.
The outbox depth is read from Redis when /metrics is scraped.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from ratings import keys

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.intake_accepted = Counter(
            "hcp_intake_accepted", "Evaluations accepted by the intake", ["channel"],
            registry=r)
        self.intake_refused = Counter(
            "hcp_intake_refused", "Evaluations refused by the intake (duplicates …)",
            ["channel", "reason"], registry=r)
        self.http_requests = Counter(
            "hcp_http_requests", "HTTP requests answered", ["route", "method", "status"],
            registry=r)
        self.http_latency = Histogram(
            "hcp_http_request_duration_seconds", "HTTP request latency",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.outbox_depth = Gauge(
            "hcp_outbox_depth", "Outbox entries not yet acknowledged by a submitter",
            registry=r)
        self.dead_letters = Gauge(
            "hcp_dead_letters", "Evaluations in the dead-letter stream", registry=r)
        self._submitters: list = []
        r.register(_SubmitterCollector(self._submitters))
        # Label children looked up once per label set, not per request (``labels``
        # validates and locks each call); the label sets are bounded (routes, methods,
        # statuses, channels, reasons).
        self._http_children: dict[tuple, tuple] = {}
        self._intake_children: dict[tuple, object] = {}

    def http_children(self, route: str, method: str, status: int) -> tuple:
        """(latency histogram, request counter) children for one label set."""
        key = (route, method, status)
        children = self._http_children.get(key)
        if children is None:
            children = (self.http_latency.labels(route=route, method=method),
                        self.http_requests.labels(route=route, method=method,
                                                  status=str(status)))
            self._http_children[key] = children
        return children

    def intake_counter(self, channel: str, reason: str | None):
        """The accepted (reason None) or refused counter child for one label set."""
        key = (channel, reason)
        child = self._intake_children.get(key)
        if child is None:
            child = self.intake_accepted.labels(channel=channel) if reason is None else \
                self.intake_refused.labels(channel=channel, reason=reason)
            self._intake_children[key] = child
        return child

    def watch_submitter(self, submitter) -> None:
        """Export ``submitter.counts`` (submitted, duplicates, dead, retries, claimed)."""
        self._submitters.append(submitter)

    async def refresh_from_redis(self, redis) -> None:
        """Outbox depth = entries not yet delivered to the group + delivered, unacked."""
        try:
            depth = await outbox_depth(redis)
            self.outbox_depth.set(depth)
            self.dead_letters.set(await redis.xlen(keys.DEAD))
        except Exception as exc:  # a scrape must still answer while Redis is away
            log.warning("metrics.redis_unavailable", extra={"error": type(exc).__name__})

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def outbox_depth(redis) -> int:
    try:
        groups = await redis.xinfo_groups(keys.OUTBOX)
    except Exception as exc:
        if "no such key" in str(exc).lower():
            return 0
        raise
    for group in groups:
        name = group.get("name")
        if name in (keys.OUTBOX_GROUP, keys.OUTBOX_GROUP.encode()):
            lag = group.get("lag")
            if lag is None:  # lag unknown (entries deleted): count the whole stream
                return int(await redis.xlen(keys.OUTBOX))
            return int(lag) + int(group.get("pending", 0))
    return int(await redis.xlen(keys.OUTBOX))  # no submitter has started yet


class _SubmitterCollector:
    """Reads the submitters' own counters at scrape time (no double bookkeeping)."""

    def __init__(self, submitters: list):
        self._submitters = submitters

    def collect(self):
        family = CounterMetricFamily(
            "hcp_submitter_outcomes", "Submitter outcomes by kind (submitted, duplicates, "
            "dead, retries, claimed)", labels=["outcome"])
        totals: dict[str, int] = {}
        for submitter in self._submitters:
            for outcome, n in getattr(submitter, "counts", {}).items():
                totals[outcome] = totals.get(outcome, 0) + n
        for outcome, n in sorted(totals.items()):
            family.add_metric([outcome], n)
        yield family

    def describe(self):
        return []


class MeteredIntake:
    """The intake, counted. Same ``accept``/``status`` as the wrapped one."""

    def __init__(self, intake, metrics: Metrics):
        self._intake = intake
        self._metrics = metrics

    async def accept(self, ev):
        result = await self._intake.accept(ev)
        reason = None if result.accepted else \
            str(getattr(result, "reason", None) or "refused")
        self._metrics.intake_counter(ev.channel.value, reason).inc()
        return result

    async def status(self, evaluation_id):
        return await self._intake.status(evaluation_id)

    def __getattr__(self, name):
        return getattr(self._intake, name)
