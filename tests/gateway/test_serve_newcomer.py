"""``hcp serve`` as a newcomer meets it: the settings it shows are the ones it runs with,
durations read as people write them, and a taken port is one line naming the setting.

Real processes: ``scripts/hcp serve`` and ``scripts/run --check-config`` as typed, with
ports held by this test (TCP listener, UDP socket) the way another program holds them.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from datetime import timedelta

import pytest

import gateway.sms_settings  # noqa: F401  (registers the SMS settings, as hcp serve does)
import ivr.pool_config  # noqa: F401
from gateway.cli_serve import Listener, _bind_error_listener, listeners
from gateway.config import all_settings, load
from gateway.config_values import format_duration, parsers
from tests.gateway.process import ROOT
from tests.ivr_pool.harness import free_block

SCRIPTS = ROOT / "scripts"


def clean_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    env.update(HCP_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


# -- durations --------------------------------------------------------------------

@pytest.mark.parametrize("seconds, text", [
    (15 * 86400, "15d"), (86400, "24h"), (48 * 3600, "48h"), (90, "90s"), (5400, "1h30m"),
    (3600, "1h"), (60, "1m"), (150, "2m30s"), (8 * 3600, "8h"), (1.5, "1.5s"),
    (3 * 86400 + 3600, "73h"),
])
def test_durations_are_shown_as_people_write_them_and_read_back(seconds, text):
    value = timedelta(seconds=seconds)
    assert format_duration(value) == text
    assert parsers.duration(text) == value  # what --check-config shows can be pasted back


@pytest.mark.parametrize("raw, seconds", [
    ("1h30m", 5400), ("1d12h", 129600), ("2m 30s", 150), ("900", 900), (900, 900),
    ("2.5h", 9000)])
def test_compound_durations_parse(raw, seconds):
    assert parsers.duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["1h30", "h", "", "15 days", "-5m", "0"])
def test_bad_durations_are_refused(raw):
    with pytest.raises(ValueError):
        parsers.duration(raw)


def test_describe_prints_every_duration_as_written(tmp_path):
    shown = load(env={"HCP_FOLLOW_UP_WINDOW": "5400"}, cwd=tmp_path).describe()
    assert shown["intake.follow_up_window"] == "1h30m"
    assert shown["console.session_ttl"] == "8h"
    assert shown["sms.reminder_delay"] == "24h"  # a default written in seconds (86400)
    durations = [s.name for s in all_settings() if s.parse is parsers.duration]
    for name in durations:
        assert "e+" not in str(shown[name]), (name, shown[name])
        parsers.duration(shown[name])


# -- --check-config shows what the run command uses ----------------------------------

def test_check_config_says_where_values_came_from(tmp_path):
    proc = subprocess.run([str(SCRIPTS / "hcp"), "serve", "--check-config"], cwd=tmp_path,
                          env=clean_env(tmp_path, HCP_IVR_WORKERS="2"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["ivr.workers"] == 2 and shown["intake.follow_up_window"] == "15d"
    assert "ivr.workers ($HCP_IVR_WORKERS)" in proc.stderr
    assert "data_dir ($HCP_DATA_DIR)" in proc.stderr


@pytest.mark.slow  # runs scripts/install-deps (which installs nothing on a set-up machine)
def test_scripts_run_check_config_is_what_scripts_run_starts(tmp_path):
    """The README's "settings in force": scripts/run passes --check-config through, so
    the settings printed are those of the same script, directory and variables."""
    proc = subprocess.run([str(SCRIPTS / "run"), "--check-config"], cwd=tmp_path,
                          env=clean_env(tmp_path), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert shown["ivr.workers"] == 1  # the one IVR worker the README promises
    assert shown["ivr.sip_port"] == 5060 and shown["http.port"] == 8080
    assert shown["data_dir"] == str(tmp_path / "data")


# -- a taken port -------------------------------------------------------------------

def serve(tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / "hcp"), "serve"], cwd=tmp_path,
                          env=clean_env(tmp_path, **env), capture_output=True, text=True,
                          timeout=60)


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The refusal: one JSON log line (the gateway's format), its error text returned."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    entry = json.loads(lines[0])
    assert (entry["level"], entry["event"]) == ("ERROR", "gateway.port_in_use")
    return entry["error"]


@pytest.fixture
def tcp_holder():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def udp_holder():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        yield sock.getsockname()[1]


def test_taken_http_port_is_one_line_naming_the_setting(tmp_path, tcp_holder):
    line = one_line(serve(tmp_path, HCP_HTTP_PORT=str(tcp_holder)))
    assert line.startswith(f"http.port {tcp_holder} (HCP_HTTP_PORT) is already "
                           f"in use on 127.0.0.1")
    assert not (tmp_path / "data" / "redis" / "redis.pid").exists()  # nothing started


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_taken_sip_port_of_a_later_worker(tmp_path, udp_holder):
    base = udp_holder - 1
    line = one_line(serve(tmp_path, HCP_HTTP_PORT="0", HCP_IVR_WORKERS="2",
                          HCP_IVR_SIP_PORT=str(base),
                          HCP_IVR_METRICS_PORT=str(free_tcp_port())))
    assert line.startswith(f"ivr.sip_port {base} (HCP_IVR_SIP_PORT): port "
                           f"{udp_holder}/udp of IVR worker 2 is already in use")


def test_taken_ivr_metrics_port(tmp_path, tcp_holder):
    free_sip = free_block(1)  # free on UDP and TCP: a worker's SIP listens on both
    line = one_line(serve(tmp_path, HCP_HTTP_PORT="0", HCP_IVR_WORKERS="1",
                          HCP_IVR_SIP_PORT=str(free_sip),
                          HCP_IVR_METRICS_PORT=str(tcp_holder)))
    assert line.startswith(f"ivr.metrics_port {tcp_holder} "
                           f"(HCP_IVR_METRICS_PORT) is already in use")


def test_every_listening_setting_is_covered(tmp_path):
    config = load(env={"HCP_IVR_WORKERS": "2", "HCP_HTTP_PORT": "8081"}, cwd=tmp_path)
    names = {item.setting for item in listeners(config)}
    assert names == {"http.port", "ivr.sip_port", "ivr.metrics_port"}
    assert all(item.env for item in listeners(config))
    assert load(env={"HCP_HTTP_PORT": "0"}, cwd=tmp_path).http_port == 0
    assert listeners(load(env={"HCP_HTTP_PORT": "0"}, cwd=tmp_path)) == []


def test_a_bind_error_after_the_check_is_translated(tmp_path):
    """Taken in the moment between the check and aiohttp's bind: the same line."""
    config = load(env={"HCP_HTTP_PORT": "18080"}, cwd=tmp_path)
    exc = OSError(errno.EADDRINUSE, "error while attempting to bind on address "
                                    "('127.0.0.1', 18080): address already in use")
    found = _bind_error_listener(config, exc)
    assert isinstance(found, Listener) and found.setting == "http.port"
    assert found.message().startswith("http.port 18080 (HCP_HTTP_PORT) is already in use")
    assert _bind_error_listener(config, OSError(errno.EACCES, "18080")) is None
