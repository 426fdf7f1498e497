"""Config: defaults < TOML file < HCP_* environment; errors name the setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.config import SETTINGS, ConfigError, load
from gateway.secrets_store import api_token_path, with_secrets

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
EXAMPLE = Path(__file__).resolve().parents[2] / "hcp.example.toml"


def test_embedded_defaults(tmp_path):
    config = load(env={}, cwd=tmp_path)
    assert config.data_dir == tmp_path / "data"
    assert (config.http_host, config.http_port) == ("127.0.0.1", 8080)
    assert config.redis_url is None and config.core_url is None
    assert config.intake_follow_up_window == timedelta(days=15)
    assert config.source_file is None


def test_file_then_environment(tmp_path):
    (tmp_path / "hcp.toml").write_text(
        'data_dir = "/srv/hcp"\n[http]\nport = 9001\nhost = "0.0.0.0"\n'
        '[intake]\nfollow_up_window = "48h"\n')
    config = load(env={"HCP_HTTP_PORT": "9002"}, cwd=tmp_path)
    assert config.source_file == tmp_path / "hcp.toml"
    assert config.data_dir == Path("/srv/hcp")
    assert config.http_host == "0.0.0.0"
    assert config.http_port == 9002  # the variable beats the file
    assert config.intake_follow_up_window == timedelta(hours=48)


def test_environment_values_are_parsed(tmp_path):
    config = load(env={
        "HCP_REDIS_URL": "redis://127.0.0.1:6390/0",
        "HCP_CORE_URL": "http://127.0.0.1:9/v1/evaluations",
        "HCP_CORE_HMAC_SECRET": "s" * 20,
        "HCP_HTTP_TOKENS": "a" * 20 + ", " + "b" * 20,
        "HCP_PHONE_SECRET": "p" * 20,
        "HCP_FOLLOW_UP_WINDOW": "900",
        "HCP_LOG_LEVEL": "debug",
        "HCP_CORE_INCLUDE_MOBILE": "yes",
        "HCP_DATA_DIR": "rel",
    }, cwd=tmp_path)
    assert config.redis_url == "redis://127.0.0.1:6390/0"
    assert config.http_tokens == ("a" * 20, "b" * 20)
    assert config.intake_follow_up_window == timedelta(seconds=900)
    assert config.log_level == "DEBUG"
    assert config.core_include_mobile is True
    assert config.data_dir == tmp_path / "rel"
    shown = config.describe()
    assert shown["core.hmac_secret"] == "<set>" and "s" * 20 not in str(shown)


@pytest.mark.parametrize("env, setting", [
    ({"HCP_HTTP_PORT": "eighty"}, "http.port"),
    ({"HCP_HTTP_PORT": "70000"}, "http.port"),
    ({"HCP_REDIS_URL": "localhost:6379"}, "redis.url"),
    ({"HCP_CORE_URL": "ftp://x"}, "core.url"),
    # evaluator data never in clear text over a network (seed art. 4)
    ({"HCP_CORE_URL": "http://store.example.gov.cn/api"}, "core.url"),
    ({"HCP_CORE_URL": "http://10.0.0.5:8000/"}, "core.url"),
    ({"HCP_CORE_URL": "http://127.0.0.1.example.com/"}, "core.url"),
    ({"HCP_CORE_URL": "http://127.0.0.1:9/"}, "core.hmac_secret"),
    ({"HCP_FOLLOW_UP_WINDOW": "two weeks"}, "intake.follow_up_window"),
    ({"HCP_PHONE_SECRET": "short"}, "intake.phone_secret"),
    ({"HCP_HTTP_TOKENS": "tiny"}, "http.tokens"),
    ({"HCP_LOG_LEVEL": "loud"}, "log.level"),
    ({"HCP_HTTP_MAX_BODY_BYTES": "0"}, "http.max_body_bytes"),
    ({"HCP_SUBMIT_CONCURRENCY": "-1"}, "submitter.concurrency"),
    ({"HCP_CORE_INCLUDE_MOBILE": "maybe"}, "core.include_mobile"),
])
def test_bad_environment_value_names_the_setting(tmp_path, env, setting):
    with pytest.raises(ConfigError) as err:
        load(env=env, cwd=tmp_path)
    assert err.value.setting == setting
    assert setting in str(err.value)


def test_bad_file_value_names_setting_and_file(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text("[http]\nport = \"abc\"\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={}, cwd=tmp_path)
    assert err.value.setting == "http.port" and str(path) in str(err.value)


def test_unknown_key_in_file_is_refused(tmp_path):
    (tmp_path / "hcp.toml").write_text("[http]\nprot = 1\n")
    with pytest.raises(ConfigError) as err:
        load(env={}, cwd=tmp_path)
    assert err.value.setting == "http.prot"


def test_broken_toml_and_missing_file(tmp_path):
    (tmp_path / "bad.toml").write_text("[http\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load("bad.toml", env={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        load("absent.toml", env={}, cwd=tmp_path)


def test_generated_secrets_are_stable_across_starts(tmp_path):
    config = load(env={"HCP_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    first = with_secrets(config)
    again = with_secrets(config)
    assert first.intake_phone_secret and len(first.http_tokens) == 1
    assert again.intake_phone_secret == first.intake_phone_secret
    assert again.http_tokens == first.http_tokens
    token_file = api_token_path(config.data_dir)
    assert token_file.read_text().strip() == first.http_tokens[0]
    assert token_file.stat().st_mode & 0o077 == 0  # only the owner may read it


def test_configured_secrets_are_not_replaced(tmp_path):
    config = load(env={"HCP_DATA_DIR": str(tmp_path), "HCP_PHONE_SECRET": "x" * 32,
                       "HCP_HTTP_TOKENS": "t" * 32}, cwd=tmp_path)
    filled = with_secrets(config)
    assert filled.intake_phone_secret == "x" * 32 and filled.http_tokens == ("t" * 32,)
    assert not (tmp_path / "secrets" / "phone_secret").exists()


def test_every_setting_is_documented_and_in_the_example():
    docs = DOCS.read_text()
    example = EXAMPLE.read_text()
    for s in SETTINGS:
        assert f"`{s.name}`" in docs, s.name
        assert f"`{s.env}`" in docs, s.env
        assert s.name.rsplit(".", 1)[-1] in example, s.name


def test_example_file_loads(tmp_path):
    config = load(EXAMPLE, env={}, cwd=tmp_path)
    assert config.source_file == EXAMPLE


def test_other_parts_register_their_own_settings(tmp_path, monkeypatch):
    from gateway import config as config_module
    from gateway.config import Setting, parsers, register_settings

    monkeypatch.setattr(config_module, "_EXTRA_SETTINGS", [])
    sip_port = Setting("sip.port", "HCP_SIP_PORT", parsers.port, 5060, "SIP listen port.")
    register_settings(sip_port, Setting("sip.password", "HCP_SIP_PASSWORD", parsers.secret,
                                        None, "SIP password.", secret=True))
    register_settings(sip_port)  # a module imported twice: no error
    with pytest.raises(ValueError):
        register_settings(Setting("sip.other", "HCP_HTTP_PORT", parsers.port, 1, "clash"))

    assert load(env={}, cwd=tmp_path)["sip.port"] == 5060
    (tmp_path / "hcp.toml").write_text('[sip]\nport = 5070\npassword = "x"\n')
    with pytest.raises(ConfigError) as err:
        load(env={}, cwd=tmp_path)
    assert err.value.setting == "sip.password"
    config = load(env={"HCP_SIP_PORT": "5080", "HCP_SIP_PASSWORD": "p" * 16}, cwd=tmp_path)
    assert config["sip.port"] == 5080 and config["http.port"] == 8080
    assert config.describe()["sip.password"] == "<set>"
    with pytest.raises(ConfigError) as err:
        load(env={"HCP_SIP_PORT": "x"}, cwd=tmp_path)
    assert err.value.setting == "sip.port"
    assert with_secrets(config)["sip.port"] == 5080  # survives the secrets step


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_renamed_setting_is_refused_with_its_new_name(tmp_path, where):
    import gateway.sms_settings  # noqa: F401  (registers the SMS settings)

    if where == "env":
        env, path = {"HCP_SMS_QUIET_START": "21:00"}, None
    else:
        env, path = {}, tmp_path / "hcp.toml"
        path.write_text('[sms]\nquiet_end = "08:00"\n')
    with pytest.raises(ConfigError, match=r"renamed: use sms.send_window "
                                          r"\(\$HCP_SMS_SEND_WINDOW\)"):
        load(path, env=env, cwd=tmp_path)


@pytest.mark.parametrize("url", ["https://store.example.gov.cn/api", "http://127.0.0.1:9/",
                                 "http://127.9.9.9/x", "http://[::1]:8000/", "http://localhost/"])
def test_a_core_url_over_https_or_to_this_machine_is_taken(url):
    config = load(env={"HCP_CORE_URL": url, "HCP_CORE_HMAC_SECRET": "s" * 16})
    assert config.core_url == url
