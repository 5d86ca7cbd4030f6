"""Uncommon names from many languages, planted where agents' traffic carries them, to
measure how many scrub finds (issue 15).

The names were written by hand for this set (not drawn from names-dataset or Faker, the
lists the recognizers use), so the recall is not the recognizers' own lists read back:
Georgian, Igbo, Yoruba, Polish, Japanese, Latin, English surnames that are also words,
multi-word Dutch surnames, Hungarian, Icelandic, Vietnamese, Turkish, Arabic, Greek.

Places (`PLACES`):
- `tool_result`: the value of a name key inside a customer record a tool returned
  (`name`, `full_name`, `holder` ... beside `email` and `phone`, or under `customer`);
- `user_intro`: the customer's own words ("Hi, this is X. You can reach me at ...");
- `signature`: a sign-off at the end of the customer's message ("Thanks,\\nX");
- `free_text`: mentioned with no cue ("I spoke with X yesterday"): reported, not a target.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from benchmarks import scrub_quality
from slimline.record import CallRecord, Message

NAMES: dict[str, list[str]] = {
    "georgian": [
        "Nodar Tsiklauri", "Tamar Beridze", "Levan Kvaratskhelia", "Nino Gelashvili",
        "Giorgi Javakhishvili", "Ketevan Lomidze", "Zurab Abashidze", "Eka Mgaloblishvili",
        "Irakli Chkheidze", "Mariam Kobakhidze", "Davit Tsereteli", "Natia Japaridze",
        "Vakhtang Gogoladze", "Salome Gvenetadze", "Revaz Chanturia", "Tinatin Kipiani",
        "Shota Dvalishvili", "Lela Tsiskaridze", "Otar Margvelashvili", "Manana Okropiridze",
    ],
    "igbo": [
        "Chukwuemeka Okonkwo", "Ngozi Eze", "Obinna Nwosu", "Adaeze Okafor",
        "Chiamaka Nwachukwu", "Ikenna Obi", "Nnamdi Okoro", "Chinonso Ugwu", "Ifeoma Nnaji",
        "Uchenna Onyeka", "Chidinma Okeke", "Ebuka Anyanwu", "Amarachi Iheanacho",
        "Kelechi Nwankwo", "Obiageli Ezenwa", "Somtochukwu Chukwu", "Nkechi Onuoha",
        "Tochukwu Udeh", "Ogechi Nwafor", "Chinedu Ekwueme",
    ],
    "yoruba": [
        "Oluwaseun Adeyemi", "Folake Ogunleye", "Babatunde Adebayo", "Temitope Olawale",
        "Yetunde Akinola", "Adewale Ogunbiyi", "Funmilayo Adesina", "Olumide Bakare",
        "Titilayo Oyelaran", "Ayodele Fashola", "Oluwakemi Adeleke", "Kehinde Olatunji",
        "Abimbola Oyenuga", "Damilola Adekunle", "Olusegun Ogundipe", "Bukola Akindele",
        "Tunde Oyebanji", "Omolara Adeniran", "Adebola Ajayi", "Iyabo Ogunsanya",
    ],
    "polish": [
        "Grzegorz Brzęczyszczykiewicz", "Małgorzata Wróblewska", "Przemysław Szczepański",
        "Agnieszka Kołodziej", "Łukasz Żółkiewski", "Katarzyna Wąsowska",
        "Wojciech Chmielewski", "Bożena Grzybowska", "Szczepan Kaźmierczak",
        "Jadwiga Przybylska", "Zbigniew Ślusarczyk", "Dorota Michalczyk", "Krzysztof Pietrzyk",
        "Halina Dąbrowska", "Mieczysław Kwiatkowski", "Urszula Jabłońska", "Tadeusz Głowacki",
        "Elżbieta Szymańska", "Bartłomiej Wieczorek", "Grażyna Maciejewska",
    ],
    "japanese": [
        "Haruto Takahashi", "Yui Matsumoto", "Sōta Kobayashi", "Hinata Yamaguchi",
        "Ren Watanabe", "Aoi Nakamura", "Yuto Inoue", "Mei Kimura", "Riku Hayashi",
        "Sakura Shimizu", "Kaito Yamazaki", "Hina Mori", "Daiki Ikeda", "Mio Hashimoto",
        "Takumi Ishikawa", "Akari Ogawa", "Kenta Fujita", "Nanami Okada", "Shōhei Gotō",
        "Emi Hasegawa",
    ],
    "latin": [
        "Quintus Fabius Maximus", "Aulus Cornelius Celsus", "Gaius Valerius Flaccus",
        "Decimus Laelius Balbus", "Tiberius Sempronius Longus", "Lucius Aemilius Paullus",
        "Marcus Porcius Licinus", "Publius Ovidius Naso", "Servius Sulpicius Rufus",
        "Gnaeus Pompeius Strabo", "Titus Livius Patavinus", "Appius Claudius Pulcher",
        "Sextus Propertius", "Manius Curius Dentatus", "Spurius Postumius Albinus",
        "Numerius Fabius Pictor", "Caeso Quinctius", "Vibius Pansa Caetronianus",
        "Lucilla Aurelia", "Cornelia Scipionis",
    ],
    "english_word_surnames": [
        "Rose Baker", "Tom Fox", "Jane Hill", "Peter Church", "Sam Bird", "Grace Stone",
        "Lily Wood", "Oliver Marsh", "Amy Brook", "Harry Castle", "Emma Field", "Noah Mills",
        "Ruth Fisher", "Ben Carpenter", "Alice Cook", "Mark Bishop", "Ellen Shepherd",
        "Paul Hunter", "Clare Sharp", "Dean Moody",
    ],
    "dutch_multiword": [
        "Jan van der Berg", "Pieter de Vries", "Anouk van den Heuvel", "Sander ter Horst",
        "Femke van 't Hof", "Bram op den Akker", "Lieke van der Linden", "Joost van Dijk",
        "Maartje de Jong", "Thijs van Leeuwen", "Sanne van der Meer", "Daan de Boer",
        "Eline van den Bosch", "Ruben ter Steege", "Iris van Beek", "Koen de Graaf",
        "Marloes van der Wal", "Wouter van den Broek", "Ilse de Haan", "Gijs van Wijk",
    ],
    "hungarian": [
        "Zsófia Szűcs", "Levente Gyöngyösi", "Réka Pálfi", "Bence Hegedűs", "Csilla Vörös",
        "Gergely Bakó", "Enikő Tóth", "Ákos Fekete", "Tünde Mészáros", "Zoltán Kovács",
    ],
    "icelandic": [
        "Guðrún Sigurðardóttir", "Þórður Hallgrímsson", "Sigríður Jónsdóttir",
        "Ragnar Þorvaldsson", "Hrafnhildur Ólafsdóttir", "Björn Gunnarsson",
        "Ásdís Einarsdóttir", "Einar Kristjánsson", "Ingibjörg Pálsdóttir", "Snorri Magnússon",
    ],
    "vietnamese": [
        "Nguyen Van Minh", "Tran Thi Hoa", "Le Quang Huy", "Pham Thu Trang", "Hoang Duc Anh",
        "Vu Ngoc Mai", "Dang Minh Khoa", "Bui Thanh Tam", "Do Hai Yen", "Ngo Bao Tran",
    ],
    "turkish": [
        "Çağlar Tekin", "Gülşen Yıldırım", "Şükrü Öztürk", "İlkay Demirtaş", "Ebru Karakaş",
        "Oğuzhan Aydın", "Zeynep Çelik", "Barış Koç", "Nurcan Erdoğan", "Mert Şahin",
    ],
    "arabic": [
        "Ahmed bin Salem", "Youssef El Amrani", "Layla Haddad", "Khalid al Mansouri",
        "Noura Al-Sabah", "Tariq Bensaid", "Samira Belkacem", "Hamza Ouazzani",
        "Rania Khoury", "Karim Abou Chedid",
    ],
    "greek": [
        "Konstantinos Papadopoulos", "Eleni Karagianni", "Dimitrios Alexopoulos",
        "Vasiliki Georgiou", "Panagiotis Oikonomou", "Athanasia Mavridou",
        "Stavros Kalogeropoulos", "Chrysoula Zervou", "Evangelos Tsakalos", "Theodora Kyriakou",
    ],
}  # fmt: skip

PLACES = ("tool_result", "user_intro", "signature", "free_text")
TARGET_PLACES = ("tool_result", "user_intro", "signature")
_PARTICLES = {"van", "der", "den", "de", "ter", "t", "op", "bin", "al", "el"}

INTROS = [
    "Hi, this is {v}. You can reach me at {email}.",
    "Hello, this is {v} calling about my order.",
    "Hi! My name is {v} and I need to change my booking.",
    "My name is {v}.",
    "Good morning, this is {v}. I have a question about my bill.",
    "hi this is {v}, my number is {phone}",
]
SIGNATURES = [
    "Could you please check the status of my refund?\n\nThanks,\n{v}",
    "I still have not received the replacement.\n\nBest regards,\n{v}\n{phone}",
    "Please cancel the second line. Kind regards, {v}",
    "That works for me.\n\nCheers,\n{v}",
    "See the attached invoice.\n-- {v}",
    "Thank you for your help.\n\nSincerely,\n{v}",
]
FREE_TEXT = [
    "I spoke with {v} yesterday about this.",
    "{v} will travel with me.",
    "The order is for {v}, my colleague.",
    "Can you send a copy to {v} as well?",
]


@dataclass(frozen=True)
class PlantedName:
    """One name planted in record `record`, message `message`, at `place`."""

    record: int
    message: int
    place: str
    language: str
    value: str
    others: tuple[str, ...] = ()  # the email and phone planted beside it


def all_names() -> list[tuple[str, str]]:
    """(language, name) for every name of the set."""
    return [(lang, name) for lang, names in NAMES.items() for name in names]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]+", ".", folded.lower()).strip(".")


def _contact(name: str, rng: random.Random) -> tuple[str, str]:
    email = f"{_ascii(name)}{rng.randint(1, 99)}@{rng.choice(['gmail.com', 'mail.example'])}"
    phone = f"({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}"
    return email, phone


def _customer_record(name: str, rng: random.Random) -> tuple[str, str, str]:
    """(email, phone, a tool result describing the customer) for `name`."""
    email, phone = _contact(name, rng)
    cid = f"C-{rng.randint(10000, 99999)}"
    shapes: list[Any] = [
        {"customer_id": cid, "name": name, "email": email, "phone": phone, "tier": "gold"},
        {"customer": {"id": cid, "full_name": name, "email": email}, "open_tickets": 2},
        {"account": {"holder": name, "contact": {"email": email, "phone": phone}}},
        {"passengers": [{"name": name, "dob": "1990-04-12"}], "reservation_id": "RX81KQ"},
        {"user_id": cid, "display_name": name, "phone_number": phone, "status": "active"},
    ]
    return email, phone, json.dumps(rng.choice(shapes))


def plant_names(
    records: list[CallRecord], place: str, seed: int = 3
) -> tuple[list[CallRecord], list[PlantedName]]:
    """Copies of `records` with every name of the set planted at `place`, one per new
    message, spread over the records."""
    rng = random.Random(f"{seed}-{place}")
    out = [r.model_copy(deep=True) for r in records]
    planted: list[PlantedName] = []
    for n, (language, name) in enumerate(all_names()):
        i = n % len(out)
        rec = out[i]
        email, phone = _contact(name, rng)
        if place == "tool_result":
            email, phone, content = _customer_record(name, rng)
            msg = Message(role="tool", content=content, tool_call_id="c1")
        else:
            templates = {"user_intro": INTROS, "signature": SIGNATURES, "free_text": FREE_TEXT}
            text = rng.choice(templates[place]).format(v=name, email=email, phone=phone)
            msg = Message(role="user", content=text)
        rec.messages.append(msg)
        planted.append(PlantedName(i, len(rec.messages) - 1, place, language, name, (email, phone)))
    return out, planted


def name_words(name: str) -> list[str]:
    """The words of a name that must not survive (particles like "van" aside)."""
    return [w for w in re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", name) if w not in _PARTICLES]


def survivors(p: PlantedName, scrubbed: list[CallRecord]) -> list[str]:
    """The words of the planted name still in its message after scrubbing."""
    text = scrubbed[p.record].messages[p.message].text()
    return [
        w
        for w in name_words(p.value)
        if re.search(rf"(?<![^\W\d_]){re.escape(w)}(?![^\W\d_])", text)
        or json.dumps(w)[1:-1] in text
    ]


def name_recall(planted: list[PlantedName], scrubbed: list[CallRecord]) -> dict[str, Any]:
    """Per place and per language: (names wholly gone, names planted), and the misses."""
    by_lang: dict[str, list[int]] = {}
    gone = 0
    missed = []
    for p in planted:
        left = survivors(p, scrubbed)
        by_lang.setdefault(p.language, [0, 0])
        by_lang[p.language][1] += 1
        if left:
            missed.append(f"{p.value!r} ({'/'.join(left)} left)")
        else:
            gone += 1
            by_lang[p.language][0] += 1
    return {
        "recall": round(gone / max(1, len(planted)), 4),
        "found": gone,
        "planted": len(planted),
        "by_language": {k: f"{v[0]}/{v[1]}" for k, v in by_lang.items()},
        "missed": missed,
    }


def measure(records: list[CallRecord], config: Any, key: str = "ab" * 32) -> dict[str, Any]:
    """Plant the whole set at each place in copies of `records`, scrub each place's copies
    with its own Scrubber (so one place's finds do not help another's), and return the
    recall per place and the precision of every replaced span over all of them."""
    from slimline.tasks.scrub.scrubber import Scrubber

    out: dict[str, Any] = {}
    spans: dict[str, Any] = {}
    truth: set[str] = set()
    for place in PLACES:
        planted_calls, planted = plant_names(records, place)
        scrubber = Scrubber(config, key)
        scrubber.spans.update(spans)  # the real calls' strings: analysed once
        try:
            scrubber.learn(planted_calls)
            scrubbed = [scrubber.scrub(r) for r in planted_calls]
        finally:
            scrubber.close()
        spans.update(scrubber.spans)
        out[place] = name_recall(planted, scrubbed)
        truth |= {p.value for p in planted} | {w for p in planted for w in p.value.split()}
        truth |= {o for p in planted for o in p.others}
        truth |= scrub_quality.pii_named_by_keys(scrubber, planted_calls)
    score = scrub_quality.precision(spans, truth)
    out["precision"] = round(score.value, 4)
    out["spans_true"], out["spans_false"] = score.true, score.false
    out["top_false_positives"] = [
        f"{entity}: {text!r} x{n}" for (entity, text), n in score.false_by_text.most_common(8)
    ]
    return out
