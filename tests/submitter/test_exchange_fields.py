"""Issue 10 point 9: evalDetail carries the exchange's reason codes through one
configurable, validated table; pf is the code of the channel that collected the
rating (no silent default for the API); areaCode from configuration (6 digits).

Unit checks of the table and the settings, then the real intake, submitter, Redis and
the loopback exchange over HTTP with the options ``hcp serve`` builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load
from gateway.serve import record_options
from ratings import keys
from ratings.grades import Grade
from ratings.intake import Intake
from ratings.model import Channel
from ratings.reason_codes import DEFAULT_TABLE, ReasonTableError, load_table
from ratings.records import RecordOptions, UnknownChannelCode, fan_out
from tests.submitter.conftest import Running, fast_submitter, make_ev, outbox_empty, wait_for


def table(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "codes.toml"
    path.write_text("[reasons]\n" + body, encoding="utf-8")
    return path


FULL = ('efficiency = "A1"\nattitude = "A2"\nunresolved = "A3"\nprocess = "A4"\n'
        'other = "A9"\n')


def test_the_shipped_default_maps_every_reason():
    codes = load_table()
    assert DEFAULT_TABLE.is_file() and codes["unresolved"] == "03"
    ev = make_ev("P1", grade=Grade.DISSATISFIED, reasons=("unresolved", "attitude"))
    assert fan_out(ev)[0].payload["evalDetail"] == "03,02"


@pytest.mark.parametrize("body,entry,words", [
    (FULL + 'slow = "A5"\n', "slow", "unknown reason id"),
    (FULL.replace('"A9"', '"A1"'), "other", "duplicate code 'A1'"),
    (FULL.replace('other = "A9"\n', ""), "other", "reason without a code"),
    (FULL.replace('"A2"', '""'), "attitude", "code ''"),
])
def test_a_bad_table_is_refused_naming_the_entry(tmp_path, body, entry, words):
    with pytest.raises(ReasonTableError) as refused:
        load_table(table(tmp_path, body))
    assert refused.value.entry == entry and words in str(refused.value)
    with pytest.raises(ConfigError) as config:  # hcp serve --check-config refuses it too
        load(env={"HCP_CORE_REASON_CODES": str(table(tmp_path, body))}, cwd=tmp_path)
    assert config.value.setting == "core.reason_codes" and entry in str(config.value)


@pytest.mark.parametrize("raw", ["4401", "44010A", "4401000"])
def test_area_code_is_six_digits(tmp_path, raw):
    with pytest.raises(ConfigError) as refused:
        load(env={"HCP_CORE_AREA_CODE": raw}, cwd=tmp_path)
    assert refused.value.setting == "core.area_code"


def test_pf_is_the_collecting_channel_and_never_guessed_for_the_api(tmp_path):
    options = record_options(load(env={}, cwd=tmp_path))
    assert fan_out(make_ev("P1"), options)[0].payload["pf"] == 6
    assert fan_out(make_ev("P1", channel=Channel.SMS), options)[0].payload["pf"] == 7
    with pytest.raises(UnknownChannelCode):  # the API is no channel: no silent 6
        fan_out(make_ev("P1", channel=Channel.API), options)
    told = make_ev("P1", channel=Channel.API, context={"pf": "7"})  # the caller says SMS
    assert fan_out(told, options)[0].payload["pf"] == 7
    set_ = record_options(load(env={"HCP_CORE_PF_API": "9"}, cwd=tmp_path))
    assert fan_out(make_ev("P1", channel=Channel.API), set_)[0].payload["pf"] == 9
    assert RecordOptions().pf_codes == {"hotline": 6, "sms": 7}


async def test_records_at_the_exchange_carry_the_configured_codes(aredis, store, http_store,
                                                                 tmp_path):
    config = load(env={"HCP_CORE_REASON_CODES": str(table(tmp_path, FULL)),
                       "HCP_CORE_AREA_CODE": "440100"}, cwd=tmp_path)
    http_store.record_options = record_options(config)
    intake = Intake(aredis, phone_secret=b"s")
    bad = make_ev("GD-9", grade=Grade.VERY_DISSATISFIED, reasons=("unresolved", "other"))
    api = make_ev("GD-10", channel=Channel.API)  # nobody said which channel
    for ev in (bad, api):
        assert (await intake.accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    [record] = [r for r in store.records.values() if r["projectNo"] == "GD-9"]
    assert record["evalDetail"] == "A3,A9" and record["areaCode"] == "440100"
    assert record["pf"] == 6
    assert not [r for r in store.records.values() if r["projectNo"] == "GD-10"]
    dead = {f[b"id"].decode(): f[b"reason"].decode() for _, f in await aredis.xrange(keys.DEAD)}
    assert "no pf for channel api" in dead[api.id]  # kept, with the reason, not guessed
