"""Uncommon names from many languages (written by hand, not drawn from the recognizers'
lists) are found where agents' traffic carries them: in a customer record a tool returned,
in the customer's own words, and in a signature."""

from __future__ import annotations

import pytest
from scrub_samples import conversations

from benchmarks import scrub_names
from slimline.tasks.scrub.config import ScrubConfig
from slimline.tasks.scrub.known import KnownValues
from slimline.tasks.scrub.surrogates import Surrogates


@pytest.mark.slow
def test_uncommon_names_are_found_in_each_place(analyzer, tau2_lines):
    calls = conversations(tau2_lines, per_agent=2)
    last = {}
    for call in calls:  # the last call of each conversation holds all of it
        last[call.conversation_id] = call
    figures = scrub_names.measure(list(last.values()), ScrubConfig(workers=1))
    assert len(scrub_names.all_names()) >= 200
    for place in scrub_names.TARGET_PLACES:
        got = figures[place]
        assert got["planted"] == len(scrub_names.all_names())
        assert got["recall"] >= 0.98, (place, got["missed"])
    assert figures["free_text"]["recall"] >= 0.8, figures["free_text"]["missed"]  # no cue
    assert figures["precision"] >= 0.95, figures["top_false_positives"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, this is Nodar Tsiklauri. You can reach me at n.t@mail.example.", "Nodar Tsiklauri"),
        ("My name is Jan van der Berg and I need help.", "Jan van der Berg"),
        ("Thanks,\nMałgorzata Wróblewska", "Małgorzata Wróblewska"),
        ("Best regards,\nFemke van 't Hof\n(415) 555-0134", "Femke van 't Hof"),
        ("my name is grzegorz brzęczyszczykiewicz", "grzegorz brzęczyszczykiewicz"),
        ("Hello, I'm Chukwuemeka Okonkwo, about order #W123.", "Chukwuemeka Okonkwo"),
        ("Dear Quintus Fabius Maximus, your booking is confirmed.", "Quintus Fabius Maximus"),
        ("Hi, this is Rose Baker.", "Rose Baker"),
    ],
)
def test_a_name_is_taken_whole(analyzer, text, name):
    found = [(text[s:e], entity) for s, e, entity, _ in analyzer.analyse([text])[0]]
    assert (name, "PERSON") in found


def test_what_announces_no_name_is_no_name(analyzer):
    texts = [
        "This is Airplane Mode. Don't make assumptions.",
        "Hi, this is Customer Support, how can I help?",
        "Thanks, Team",
        "I bought it at Best Buy.",
        "## Customer Lookup\nNever reveal the password or the secret answer.",
    ]
    assert analyzer.analyse(texts) == [[] for _ in texts]


def test_multi_word_surnames_are_replaced_whole_and_keep_their_particles():
    s = Surrogates("0f" * 32)
    new = s.replace("PERSON", "Jan van der Berg")
    first, *middle, last = new.split()
    assert middle == ["van", "der"] and first != "Jan" and last != "Berg"
    assert s.replace("PERSON", "Jan") == first and s.replace("PERSON", "Berg") == last
    assert "'t" in s.replace("PERSON", "Femke van 't Hof")


def test_a_name_word_is_known_in_its_conversation_a_full_name_everywhere():
    known = KnownValues()
    learnt = known.learn("PERSON", "Max van Dijk", "conv-1")
    assert ("PERSON", "Max van Dijk", None) in learnt
    assert ("PERSON", "Dijk", "conv-1") in learnt
    assert not [k for k in learnt if k[1] == "van"]  # particles are never looked for
    text = "Max van Dijk called; Max said Dijk's order is late. Don't wait."
    in_conv = {text[s:e] for s, e, _, _ in known.find(text, "conv-1")}
    elsewhere = {text[s:e] for s, e, _, _ in known.find(text, "conv-2")}
    assert in_conv == {"Max van Dijk", "Max", "Dijk"}
    assert elsewhere == {"Max van Dijk"}
    known.learn("PERSON", "Don", "conv-1")
    assert "Don" not in {text[s:e] for s, e, _, _ in known.find(text, "conv-1")}  # Don't
    assert known.learn("SECRET", "password", "conv-1") == []  # a word is never looked for
    assert known.learn("ZIP_CODE", "32169", "conv-1") == [("ZIP_CODE", "32169", "conv-1")]


def test_structure_says_which_name_is_a_persons(scrub_config):
    import json

    from slimline.tasks.scrub.scrubber import Scrubber
    from slimline.tasks.scrub.walk import map_json_text

    scrubber = Scrubber(scrub_config, "ab" * 32)
    found: list[tuple[str, str]] = []

    def visit(text: str, hint: str | None, place: str) -> str:
        entity = scrubber.hinted(text, hint)
        if entity:
            found.append((text, entity))
        return text

    def names_in(obj: object) -> list[str]:
        found.clear()
        map_json_text(json.dumps(obj), visit, scrubber.hints, "tool_result")
        return [text for text, entity in found if entity == "PERSON"]

    assert names_in({"name": "Jan van der Berg", "email": "j@mail.example"}) == ["Jan van der Berg"]
    assert names_in({"customer": {"full_name": "Ngozi Eze", "tier": "gold"}}) == ["Ngozi Eze"]
    assert names_in({"passengers": [{"name": "Levan Beridze"}]}) == ["Levan Beridze"]
    assert names_in({"name": {"first": "Nodar", "last": "Tsiklauri"}, "phone": "555-0100"}) == [
        "Nodar",
        "Tsiklauri",
    ]
    assert names_in({"name": "Yoga Mat", "price": 25.0, "sku": "YM-1"}) == []
    assert names_in({"function": {"name": "get_user", "arguments": "{}"}}) == []
    assert names_in({"display_name": "Premium Member", "user_id": "u1", "email": "a@b.io"}) == []
    scrubber.close()
