"""Broken scenario input gives one clean line per problem, exit code 2, and writes nothing.

Every file in ``tests/bad_scenarios/`` is listed in ``CORPUS`` with the key path (or, for
files that are not YAML at all, the place) and the words its error must contain.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.schema import ScenarioError, bundled_scenarios, load_scenario

CORPUS_DIR = Path(__file__).resolve().parent / "bad_scenarios"

# file -> substrings that must appear in stderr (the key path first, then what was expected)
CORPUS: dict[str, list[str]] = {
    # not a scenario at all
    "empty.yaml": ["the file is empty", "name and duration_s"],
    "only_comments.yaml": ["the file is empty"],
    "not_yaml.yaml": ["line 3, column 7", "not valid YAML"],
    "plain_text.yaml": ["(top level)", "got 'This is a note", "expected a YAML mapping"],
    "top_level_list.yaml": ["(top level)", "expected a YAML mapping"],
    "non_utf8.yaml": ["not UTF-8 text", "byte 0xe9 at offset 9"],
    "bad_date.yaml": ["month must be in 1..12", "quote it"],
    # YAML that would build objects, or that YAML silently accepts
    "python_object_tag.yaml": ["line 2", "python/object/apply:os.system", "is not allowed"],
    "custom_tag.yaml": ["line 3", "YAML tag '!include' is not allowed"],
    "duplicate_key.yaml": ["line 4", "duplicate key 'duration_s'"],
    # unknown and missing keys
    "unknown_top_key.yaml": ["durations: unknown key", "did you mean duration_s?"],
    "unknown_agent_param.yaml": ["agents.retail.levrage_mix: unknown key",
                                 "did you mean leverage_mix?"],
    "unknown_agent_type.yaml": ["agents.dolphin: unknown key", "market_maker, arbitrageur"],
    "missing_required.yaml": ["name: missing", "duration_s: missing"],
    # wrong types
    "wrong_type_duration.yaml": ["duration_s: got 'six hours'", "valid number"],
    "wrong_type_fractional_count.yaml": ["agents.retail.count: got 100.5", "valid integer"],
    "wrong_type_bool_count.yaml": ["agents.whale.count: got True", "booleans in YAML"],
    "wrong_type_quoted_number.yaml": ["agents.noise.count: got '20'", "without quotes"],
    "wrong_type_agents_list.yaml": ["agents: got ['retail', 'whale']", "mapping"],
    "events_not_a_list.yaml": ["events: got {", "expected a list of events"],
    "bad_trigger.yaml": ["exchange.liquidation_trigger: got 'index'", "'mark' or 'last'"],
    "bad_tier_preset.yaml": ["exchange.tiers: got 'okx_btcusdt'", "binance_btcusdt"],
    "bad_name.yaml": ["name: got 'my scenario!'", "pattern"],
    # negative and out-of-range sizes
    "negative_wallet.yaml": ["agents.retail.wallet: got -5000", "greater than 0"],
    "negative_duration.yaml": ["duration_s: got -60", "greater than 0"],
    "negative_tick_size.yaml": ["exchange.tick_size: got -0.1", "greater than 0"],
    "step_longer_than_run.yaml": ["step_s: got 120.0", "at most duration_s (60)"],
    # leverage and weights
    "leverage_above_tier.yaml": ["agents.whale.leverage: got 150.0", "max leverage (125)"],
    "leverage_mix_above_custom_tiers.yaml": ["agents.retail.leverage_mix: got {10.0: 0.5, 100",
                                             "leverage 100 is above", "max leverage (50)"],
    "weights_not_one.yaml": ["agents.retail.leverage_mix: got {5: 0.5, 10: 0.6}",
                             "weights must sum to 1, they sum to 1.1"],
    # huge numbers
    "huge_float_overflow.yaml": ["agents.retail.hold_time_s: got inf", "finite number"],
    "huge_int_count.yaml": ["agents.retail.count: got 1000000000000000000000000000000",
                            "less than or equal to 10000000"],
    "huge_int_unbounded.yaml": ["agents.retail.reentry_budget", "at most 1e+15"],
    "huge_duration.yaml": ["duration_s: got 1000000000000.0", "less than or equal to 2592000"],
    "nan_volatility.yaml": ["index.volatility_per_year: got nan", "finite number"],
    # events
    "event_after_end.yaml": ["events[0].at_s: got 7200.0", "within the run"],
    "event_unknown_kind.yaml": ["events[0].kind: got 'earthquake'", "index_jump, whale_active"],
    "event_window_reversed.yaml": ["events[0].to_s: got 300.0", "after from_s (600)"],
    "event_whale_without_whale.yaml": ["events[0].kind: got 'whale_active'",
                                       "agents.whale.count >= 1"],
    "whale_pushes_missing_index.yaml": ["agents.whale.push_venue: got 'index'",
                                        "needs index.model: spot"],
}


@pytest.fixture
def validate(tmp_path, monkeypatch):
    """Return a runner of ``liqsim validate`` in an empty directory: (result, files left)."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def run(*args: str):
        result = CliRunner().invoke(main, ["validate", *args])
        return result, os.listdir(workdir)

    return run


def assert_clean_failure(result, left: list[str]) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.strip()
    assert left == []


def test_corpus_is_large_and_every_file_is_checked():
    files = sorted(p.name for p in CORPUS_DIR.iterdir())
    assert files == sorted(CORPUS)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_file_fails_cleanly_naming_the_file_and_the_key(name, validate):
    path = CORPUS_DIR / name
    result, left = validate(str(path))
    assert_clean_failure(result, left)
    for line in result.stderr.splitlines():
        assert line.startswith(f"{path}: "), line
    for expected in CORPUS[name]:
        assert expected in result.stderr, (expected, result.stderr)


def test_python_tag_is_never_executed(validate):
    result, left = validate(str(CORPUS_DIR / "python_object_tag.yaml"))
    assert_clean_failure(result, left)
    assert "hacked.txt" not in left


def test_weights_problem_reads_as_documented():
    with pytest.raises(ScenarioError) as info:
        load_scenario(CORPUS_DIR / "weights_not_one.yaml")
    assert info.value.problems == [
        f"{CORPUS_DIR / 'weights_not_one.yaml'}: agents.retail.leverage_mix: got "
        "{5: 0.5, 10: 0.6}: leverage_mix weights must sum to 1, they sum to 1.1"]


def test_long_values_are_truncated_in_messages(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(f"name: long\nduration_s: '{'x' * 500}'\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (line,) = info.value.problems
    got = line.split("got ", 1)[1].split(": Input")[0]
    assert "..." in got and len(got) <= 60


def test_unknown_bundled_name_lists_the_bundled_ones(validate):
    result, left = validate("whale_hunnt")
    assert_clean_failure(result, left)
    assert "whale_hunnt: unknown scenario name" in result.stderr
    for name in bundled_scenarios():
        assert name in result.stderr


def test_missing_file_is_reported(tmp_path, validate):
    path = tmp_path / "nowhere.yaml"
    result, left = validate(str(path))
    assert_clean_failure(result, left)
    assert f"{path}: no such file" in result.stderr


def test_directory_is_reported(tmp_path, validate):
    result, left = validate(str(tmp_path))
    assert_clean_failure(result, left)
    assert f"{tmp_path}: is a directory" in result.stderr


def test_oversized_file_is_refused(tmp_path, validate):
    path = tmp_path / "big.yaml"
    path.write_text("name: big\nduration_s: 60\n" + "# padding\n" * 200_000, encoding="utf-8")
    result, left = validate(str(path))
    assert_clean_failure(result, left)
    assert "a scenario file is at most" in result.stderr


@pytest.mark.parametrize("override, expected", [
    ("agents.retail.count", "--set 'agents.retail.count': expected key.path=value"),
    ("=5", "--set '=5': expected key.path=value"),
    ("agents..count=5", "--set 'agents..count=5': expected key.path=value"),
    ("seed=[1, 2", "--set seed: line 1, column 6: not valid YAML"),
    ("agents.retail.count.x=1", "--set agents.retail.count.x: agents.retail.count is 2000, "
                                "not a mapping"),
    ("events.3.at_s=5", "--set events.3.at_s: events has no list item 3"),
])
def test_bad_override_syntax_is_reported(override, expected, validate):
    result, left = validate("calm", "--set", override)
    assert_clean_failure(result, left)
    assert f"calm.yaml: {expected}" in result.stderr


def test_bad_override_value_names_the_key_and_the_override(validate):
    result, left = validate("calm", "--set", "agents.retail.count=-1",
                            "--set", "exchange.liquidation_trigger=index")
    assert_clean_failure(result, left)
    lines = result.stderr.splitlines()
    assert lines == [
        "calm.yaml: exchange.liquidation_trigger: got 'index': Input should be 'mark' or "
        "'last' (set by --set)",
        "calm.yaml: agents.retail.count: got -1: Input should be greater than or equal to 0 "
        "(set by --set)",
    ]


def test_override_tags_are_refused_too(validate):
    result, left = validate("calm", "--set", "seed=!!python/object/apply:os.getpid []")
    assert_clean_failure(result, left)
    assert "is not allowed" in result.stderr


def test_deeply_nested_yaml_fails_cleanly(tmp_path, validate):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nduration_s: 60\nevents: " + "[" * 5000 + "]" * 5000 + "\n",
                    encoding="utf-8")
    result, left = validate(str(path))
    assert_clean_failure(result, left)
    assert f"{path}: not valid YAML: nested too deeply" in result.stderr
