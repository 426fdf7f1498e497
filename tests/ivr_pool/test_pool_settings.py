"""The pool's settings are the gateway's: TOML ``[ivr]``, ``HCP_IVR_*``, validation,
``hcp serve --check-config`` (real config loader; the CLI as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gateway.config import ConfigError, load
from ivr.pool import component_factories, make_component
from ivr.pool_config import PoolConfig, check_config
from tests.ivr.sipp import REPO


def test_environment_names_are_kept_and_read_through_the_config(tmp_path):
    config = load(env={"HCP_IVR_WORKERS": "3", "HCP_IVR_SIP_PORT": "6000",
                       "HCP_IVR_RTP_PORT": "20000", "HCP_IVR_MAX_CALLS": "2",
                       "HCP_IVR_ALLOW": "10.0.0.0/8, 127.0.0.1/32",
                       "HCP_IVR_WORKER_ARGS": "--inband-dtmf --no-tcp"}, cwd=tmp_path)
    pool = PoolConfig.from_config(config)
    assert (pool.count, pool.sip_port, pool.rtp_port, pool.max_calls) == (3, 6000, 20000, 2)
    assert pool.allow == ("10.0.0.0/8", "127.0.0.1/32")
    assert pool.extra_args == ("--inband-dtmf", "--no-tcp")
    assert component_factories(config) == [make_component]


def test_toml_table_configures_the_pool(tmp_path):
    (tmp_path / "hcp.toml").write_text(
        '[ivr]\nworkers = 2\nsip_port = 7000\nallow = ["192.0.2.0/24"]\n'
        'worker_args = ["--inband-dtmf"]\ndrain_s = 5\n')
    config = load(env={}, cwd=tmp_path)
    pool = PoolConfig.from_config(config)
    assert [w.sip_port for w in pool.workers()] == [7000, 7001]
    assert (pool.allow, pool.extra_args, pool.drain_s) == (("192.0.2.0/24",),
                                                           ("--inband-dtmf",), 5.0)


def test_no_workers_by_default_means_no_pool(tmp_path):
    config = load(env={}, cwd=tmp_path)
    assert config["ivr.workers"] == 0
    assert component_factories(config) == []
    check_config(config)  # nothing to check


@pytest.mark.parametrize("env, setting", [
    ({"HCP_IVR_SIP_PORT": "five"}, "ivr.sip_port"),
    ({"HCP_IVR_WORKERS": "-1"}, "ivr.workers"),
    ({"HCP_IVR_ALLOW": "10.0.0.0/8,not-a-net"}, "ivr.allow"),
    ({"HCP_IVR_MAX_CALLS": "0"}, "ivr.max_calls"),
])
def test_bad_values_name_the_setting(tmp_path, env, setting):
    with pytest.raises(ConfigError) as err:
        load(env=env, cwd=tmp_path)
    assert err.value.setting == setting


def test_overlapping_pool_ports_are_a_config_error(tmp_path):
    config = load(env={"HCP_IVR_WORKERS": "6", "HCP_IVR_RTP_PORT": "4000",
                       "HCP_IVR_SIP_PORT": "5060"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="RTP ports overlap SIP"):
        check_config(config)


def test_check_config_shows_the_pool_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    env.update(PYTHONPATH=str(REPO), HCP_IVR_WORKERS="2", HCP_IVR_SIP_PORT="6200",
               HCP_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--check-config"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["ivr.workers"], shown["ivr.sip_port"]) == (2, 6200)
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--check-config"],
                         cwd=tmp_path, env={**env, "HCP_IVR_RTP_RANGE": "seven"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "ivr.rtp_range" in bad.stderr


def test_every_pool_setting_is_documented():
    from ivr.pool_config import SETTINGS

    docs = (REPO / "docs" / "configuration.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in docs and f"`{setting.env}`" in docs, setting.name
