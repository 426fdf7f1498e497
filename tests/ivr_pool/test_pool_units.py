"""Pool config, restart backoff, the rendered Kamailio config (checked by kamailio -c),
and a worker that cannot start (its SIP port taken) failing the pool's start."""

from __future__ import annotations

import socket

import pytest

from ivr.kamailio import FrontSettings, KamailioProcess, dispatcher_list, write_front
from ivr.pool import IvrPool, restart_delay
from ivr.pool_config import PoolConfig, PoolConfigError, pool_enabled
from tests.ivr_pool.harness import pool_config


def test_embedded_default_is_one_worker_on_5060():
    [worker] = PoolConfig().workers()
    assert (worker.sip_port, worker.name) == (5060, "5060")


def test_workers_get_disjoint_ports():
    workers = PoolConfig(count=3, sip_port=5060, rtp_port=10000, rtp_range=40,
                         metrics_port=9160).workers()
    assert [(w.sip_port, w.rtp_port, w.metrics_port) for w in workers] == [
        (5060, 10000, 9160), (5061, 10040, 9161), (5062, 10080, 9162)]


@pytest.mark.parametrize("values, message", [
    (dict(count=6, sip_port=5060, rtp_port=4000, rtp_range=200), "RTP ports overlap SIP"),
    (dict(count=2, sip_port=9160, metrics_port=9161), "SIP ports overlap metrics"),
    (dict(count=0), "at least one worker"),
    (dict(rtp_range=7), "rtp_range"),
    (dict(count=10, sip_port=65530), "outside"),
])
def test_overlapping_or_impossible_ports_are_refused(values, message):
    with pytest.raises(PoolConfigError, match=message):
        PoolConfig(**values)


def test_config_from_environment():
    env = {"HCP_IVR_WORKERS": "3", "HCP_IVR_SIP_PORT": "6000", "HCP_IVR_RTP_PORT": "20000",
           "HCP_IVR_ALLOW": "10.0.0.0/8, 127.0.0.1/32", "HCP_IVR_WORKER_ARGS": "--inband-dtmf"}
    config = PoolConfig.from_env(env)
    assert (config.count, config.sip_port, config.rtp_port) == (3, 6000, 20000)
    assert config.allow == ("10.0.0.0/8", "127.0.0.1/32")
    assert config.extra_args == ("--inband-dtmf",)
    assert pool_enabled(env) and not pool_enabled({}) and not pool_enabled(
        {"HCP_IVR_WORKERS": "0"})
    with pytest.raises(PoolConfigError, match="HCP_IVR_SIP_PORT"):
        PoolConfig.from_env({"HCP_IVR_SIP_PORT": "five"})


def test_restart_backoff_doubles_and_is_capped():
    config = PoolConfig(restart_backoff_s=0.5, restart_backoff_max_s=4)
    assert [restart_delay(config, n) for n in range(6)] == [0, 0.5, 1, 2, 4, 4]


def test_worker_command_carries_its_ports_and_the_acl(tmp_path):
    config = PoolConfig(count=2, allow=("10.1.0.0/16",), max_calls=3)
    pool = IvrPool(config, "redis://127.0.0.1:1/0", tmp_path)
    args = pool.command(config.workers()[1])
    for flag, value in (("--sip-port", "5061"), ("--rtp-port", "10200"),
                        ("--metrics-port", "9161"), ("--allow", "10.1.0.0/16"),
                        ("--max-calls", "3")):
        assert args[args.index(flag) + 1] == value


def test_dispatcher_list_names_every_worker_with_its_limit():
    text = dispatcher_list(PoolConfig(count=2, sip_port=7000, max_calls=9))
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["1 sip:127.0.0.1:7000 0 2 duid=w7000;maxload=4",
                     "1 sip:127.0.0.1:7001 0 1 duid=w7001;maxload=4"]


def test_rendered_kamailio_config_passes_kamailio_check(tmp_path):
    cfg, dispatcher = write_front(PoolConfig(count=3), tmp_path,
                                  FrontSettings(listen="127.0.0.1:5999", algorithm=8))
    text = cfg.read_text()
    assert "@@" not in text and str(dispatcher) in text and 'ds_select_dst("1", "8")' in text
    KamailioProcess(cfg, tmp_path / "run", tmp_path / "k.log", "127.0.0.1:5999").check()


async def test_a_worker_that_cannot_bind_fails_the_pool_start(redis_url, tmp_path):
    config = pool_config(2)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", config.sip_port + 1))
    try:
        pool = IvrPool(config, redis_url, tmp_path / "data", log_dir=tmp_path / "logs",
                       ready_timeout_s=60)
        with pytest.raises(RuntimeError, match=f"worker {config.sip_port + 1}"):
            await pool.start()
        assert pool.pids() == {}  # the healthy one was stopped again
    finally:
        taken.close()


def test_hcp_ivr_kamailio_config_writes_both_files(tmp_path, monkeypatch):
    from gateway.cli import main

    monkeypatch.setenv("HCP_IVR_WORKERS", "3")
    monkeypatch.setenv("HCP_IVR_SIP_PORT", "6100")
    assert main(["ivr", "kamailio-config", "--out", str(tmp_path / "k"),
                 "--listen", "127.0.0.1:6099"]) == 0
    listed = (tmp_path / "k" / "dispatcher.list").read_text()
    assert [line.split()[1] for line in listed.splitlines() if line[:1] == "1"] == [
        "sip:127.0.0.1:6100", "sip:127.0.0.1:6101", "sip:127.0.0.1:6102"]
    assert "listen=udp:127.0.0.1:6099" in (tmp_path / "k" / "kamailio.cfg").read_text()
    monkeypatch.setenv("HCP_IVR_RTP_PORT", "6000")  # RTP range over the SIP ports
    assert main(["ivr", "kamailio-config", "--out", str(tmp_path / "bad")]) == 2
