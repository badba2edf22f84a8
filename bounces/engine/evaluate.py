"""Accuracy of the engine on the labelled corpus (``tests/fixtures/bounces/
corpus/*/expected.json``; format in the corpus README). Used by
``bench/bounces.py`` and the corpus test. Reads files; no ORM.

Measures, over every labelled file:

- *recipient found*: among bounces with expected recipients, every expected
  recipient is among the engine's failed recipients;
- *suppress agrees*: the engine's suppress decision for the first recipient
  equals the label (a non-bounce counts as "no suppress" on both sides);
- *type agrees*: the Postmark type equals the label ("not a bounce" counts as
  a type of its own);
- *crashes*: files on which ``analyse`` raised.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import analyse

CORPUS = (
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bounces" / "corpus"
)
NOT_A_BOUNCE = "(not a bounce)"


@dataclass
class Outcome:
    source: str
    name: str
    mta: str
    expected: dict
    got: dict
    recipient_ok: bool | None  # None: no expected recipients to find
    suppress_ok: bool
    type_ok: bool
    crashed: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _pct(self, values: list[bool]) -> float:
        return round(100.0 * sum(values) / len(values), 1) if values else 0.0

    @property
    def files(self) -> int:
        return len(self.outcomes)

    @property
    def mtas(self) -> int:
        return len({o.mta for o in self.outcomes})

    @property
    def recipient_found(self) -> float:
        return self._pct(
            [o.recipient_ok for o in self.outcomes if o.recipient_ok is not None]
        )

    @property
    def suppress_agrees(self) -> float:
        return self._pct([o.suppress_ok for o in self.outcomes])

    @property
    def type_agrees(self) -> float:
        return self._pct([o.type_ok for o in self.outcomes])

    @property
    def crashes(self) -> int:
        return sum(1 for o in self.outcomes if o.crashed)

    def breakdown(self, key: str) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = defaultdict(
            lambda: {
                "files": 0,
                "recipient_miss": 0,
                "suppress_miss": 0,
                "type_miss": 0,
            }
        )
        for o in self.outcomes:
            row = table[getattr(o, key)]
            row["files"] += 1
            row["recipient_miss"] += o.recipient_ok is False
            row["suppress_miss"] += not o.suppress_ok
            row["type_miss"] += not o.type_ok
        return dict(sorted(table.items()))

    def summary(self) -> dict[str, object]:
        return {
            "files": self.files,
            "distinct_mtas": self.mtas,
            "recipient_found_pct": self.recipient_found,
            "suppress_agrees_pct": self.suppress_agrees,
            "type_agrees_pct": self.type_agrees,
            "crashes": self.crashes,
        }


def evaluate(root: Path = CORPUS) -> Report:
    report = Report()
    for manifest in sorted(root.glob("*/expected.json")):
        data = json.loads(manifest.read_text())
        source = manifest.parent.name
        for name, expected in sorted(data.get("files", {}).items()):
            path = manifest.parent / name
            report.outcomes.append(_one(source, name, path, expected))
    return report


def _one(source: str, name: str, path: Path, expected: dict) -> Outcome:
    mta = str(expected.get("mta") or "?")
    crashed = ""
    try:
        got = analyse(path.read_bytes()).as_json()
    except Exception as exc:  # noqa: BLE001 - counted, the point of the measure
        crashed = f"{type(exc).__name__}: {exc}"
        got = {"Bounce": False}
    want_bounce = bool(expected.get("bounce"))
    got_bounce = bool(got.get("Bounce"))
    want_type = expected.get("type") if want_bounce else NOT_A_BOUNCE
    got_type = got.get("Type") if got_bounce else NOT_A_BOUNCE
    want_suppress = bool(expected.get("suppress")) if want_bounce else False
    got_suppress = bool(got.get("Suppress")) if got_bounce else False
    recipient_ok = None
    wanted = (
        [r.lower() for r in expected.get("recipients") or []] if want_bounce else []
    )
    if wanted:
        found = (
            {r.lower() for r in got.get("Recipients") or []} if got_bounce else set()
        )
        recipient_ok = all(r in found for r in wanted)
    return Outcome(
        source=source,
        name=name,
        mta=mta,
        expected=expected,
        got=got,
        recipient_ok=recipient_ok,
        suppress_ok=want_suppress == got_suppress,
        type_ok=want_type == got_type,
        crashed=crashed,
    )
