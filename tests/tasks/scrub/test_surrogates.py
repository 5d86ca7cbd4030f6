"""Replacements: the same value gets the same surrogate, of the same kind and shape."""

import ipaddress
import re

import pytest

from slimline.tasks.scrub.surrogates import Surrogates, luhn_ok

KEY = "0f" * 32


@pytest.fixture
def s() -> Surrogates:
    return Surrogates(KEY)


def test_same_value_same_surrogate_and_the_key_matters(s):
    assert s.replace("EMAIL_ADDRESS", "mia@example.com") == Surrogates(KEY).replace(
        "EMAIL_ADDRESS", "mia@example.com"
    )
    other = Surrogates("1a" * 32).replace("EMAIL_ADDRESS", "mia@example.com")
    assert other != s.replace("EMAIL_ADDRESS", "mia@example.com")


def test_name_parts_agree_with_full_names_ids_and_emails(s):
    full = s.replace("PERSON", "Mia Garcia")
    first, last = full.split()
    assert full != "Mia Garcia" and first != "Mia" and last != "Garcia"
    assert s.replace("PERSON", "Mia") == first
    assert s.replace("PERSON", "Garcia") == last
    assert s.replace("PERSON", "MIA GARCIA") == full.upper()
    user_id = s.replace("USER_ID", "mia_garcia_4516")
    assert re.fullmatch(rf"{first.lower()}_{last.lower()}_\d{{4}}", user_id)
    assert user_id != f"{first.lower()}_{last.lower()}_4516"
    email = s.replace("EMAIL_ADDRESS", "mia.garcia7676@example.com")
    assert re.fullmatch(rf"{first.lower()}\.{last.lower()}\d{{4}}@example\.com", email)


def test_kinds_and_shapes_are_kept(s):
    card = s.replace("CREDIT_CARD", "4111 1111 1111 1111")
    assert re.fullmatch(r"41\d\d \d{4} \d{4} \d{4}", card) and luhn_ok(card)
    assert luhn_ok(s.replace("CREDIT_CARD", "378282246310005"))
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", s.replace("PHONE_NUMBER", "(555) 123-2002"))
    # the same number in another format gets the same digits
    assert re.sub(r"\D", "", s.replace("PHONE_NUMBER", "555-123-2002")) == re.sub(
        r"\D", "", s.replace("PHONE_NUMBER", "(555) 123-2002")
    )
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", s.replace("US_SSN", "123-45-6789"))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", s.replace("DATE_OF_BIRTH", "1988-06-13"))
    assert re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4}", s.replace("DATE_OF_BIRTH", "June 13, 1988"))
    assert ipaddress.ip_address(s.replace("IP_ADDRESS", "192.168.1.20")).is_private
    assert ipaddress.ip_address(s.replace("IP_ADDRESS", "2001:db8::1")).version == 6
    assert s.replace("API_KEY", "sk-proj-" + "a1" * 20).startswith("sk-proj-")
    assert s.replace("API_KEY", "AKIAIOSFODNN7EXAMPLE").startswith("AKIA")
    street = s.replace("STREET_ADDRESS", "922 Pine Lane, Suite 395")
    assert re.fullmatch(r"\d{3} [A-Z][a-z]+ Lane, Suite \d{3}", street)
    assert street.startswith(s.replace("STREET_ADDRESS", "922 Pine Lane"))
    zip_code = s.replace("ZIP_CODE", "32169")
    assert re.fullmatch(r"\d{5}", zip_code) and zip_code != "32169"


def test_iban_surrogate_passes_its_checksum(s):
    new = s.replace("IBAN_CODE", "DE89 3704 0044 0532 0130 00").replace(" ", "")
    numeric = "".join(str(int(c, 36)) for c in new[4:] + new[:4])
    assert new.startswith("DE") and int(numeric) % 97 == 1


def test_placeholders_are_numbered_per_value_and_redact_removes():
    p = Surrogates(KEY, "placeholder")
    assert p.replace("EMAIL_ADDRESS", "a@example.com") == "<EMAIL_1>"
    assert p.replace("EMAIL_ADDRESS", "b@example.com") == "<EMAIL_2>"
    assert p.replace("EMAIL_ADDRESS", "A@example.com") == "<EMAIL_1>"
    assert p.replace("PERSON", "Mia Garcia") == "<NAME_1> <NAME_2>"
    assert p.replace("PERSON", "Garcia") == "<NAME_2>"
    # numbering goes on from what an earlier run stored
    again = Surrogates(KEY, "placeholder", dict(p.placeholders))
    assert again.replace("EMAIL_ADDRESS", "c@example.com") == "<EMAIL_3>"
    assert Surrogates(KEY, "redact").replace("PERSON", "Mia") == ""
