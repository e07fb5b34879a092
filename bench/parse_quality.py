"""Score `farmhelp parse` on labelled JSONL files and measure its speed.

    uv run python bench/parse_quality.py [FILE ...] [--seconds 3]

Without FILE it scores the development set: shared/data/farmer_questions_dev.jsonl
(204 lines: real questions, evaluation only, and authored ones) together with
bench/data/farmer_messages_authored.jsonl (450 lines written for this project).

Accuracy comes from running the real `farmhelp parse` command once over the file.
Speed is messages per second of the parser on one core, in-process, after start-up
(the command's start-up, loading OpenCC and compiling the lexicons, is printed apart).
A crop is right when it is one of the listed answers, or null when the list is empty.

Symptom signs: lines labelled with `signs` (the canonical signs of
handlers/lexicon/symptoms.toml and signs.toml) are scored by how many labelled signs
the parser finds (recall: the target is 90 %) and how many it finds that were not
labelled (precision). The shared file's labels live apart from its text, in
bench/data/farmer_questions_dev_signs.jsonl (line number, a hash of the text, signs),
and are used only while the hash still matches the line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIGN_LABELS = {
    "farmer_questions_dev.jsonl": ROOT / "bench" / "data" / "farmer_questions_dev_signs.jsonl"
}
DEFAULT_FILES = [
    ROOT.parent / "shared" / "data" / "farmer_questions_dev.jsonl",
    ROOT / "bench" / "data" / "farmer_messages_authored.jsonl",
]
sys.path.insert(0, str(ROOT))

from handlers.understanding import CATEGORIES, Parser  # noqa: E402


def run_cli(texts: list[str]) -> tuple[list[dict[str, object]], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "parse"],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    elapsed = time.perf_counter() - started
    return [json.loads(line) for line in result.stdout.splitlines()], elapsed


def read_rows(file: Path) -> list[dict[str, Any]]:
    """The labelled lines of a file, with their sign labels joined where kept apart."""
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line]
    labels = SIGN_LABELS.get(file.name)
    if labels is not None and labels.exists():
        for label in map(json.loads, labels.read_text(encoding="utf-8").splitlines()):
            row = rows[label["line"] - 1] if label["line"] <= len(rows) else None
            digest = hashlib.sha1(row["text"].encode()).hexdigest()[:12] if row else None
            if digest == label["text_sha1"]:
                row["signs"] = label["signs"]  # type: ignore[index]
    return rows


def score_signs(
    rows: list[dict[str, Any]], predictions: list[dict[str, Any]], *, show: bool
) -> str:
    """Recall and precision of the symptom signs, over the lines labelled with them."""
    wanted = found = extra = labelled_lines = whole = 0
    misses: Counter[str] = Counter()
    for row, predicted in zip(rows, predictions, strict=True):
        if "signs" not in row:
            continue
        labelled_lines += 1
        truth, got = set(row["signs"]), set(predicted["symptoms"])
        wanted += len(truth)
        found += len(truth & got)
        extra += len(got - truth)
        whole += truth == got
        misses.update(truth - got)
        if show and truth - got:
            print(f"  {row['text']}\n    signs want {sorted(truth)} got {sorted(got)}")
    if not labelled_lines:
        return "symptom signs: no line is labelled with signs"
    recall = found / wanted if wanted else 1.0
    precision = found / (found + extra) if found + extra else 1.0
    missed = ", ".join(f"{sign} {n}" for sign, n in misses.most_common(8)) or "none"
    return (
        f"symptom signs:     {recall:6.1%} of labelled signs found ({found}/{wanted}; target 90%),"
        f" precision {precision:.1%}, {whole}/{labelled_lines} lines exactly right\n"
        f"  most missed: {missed}"
    )


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    options.add_argument("--seconds", type=float, default=3.0, help="how long to time the parser")
    options.add_argument("--show-errors", action="store_true", help="print every miss")
    args = options.parse_args()
    missing = [str(f) for f in args.files if not f.exists()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = [row for file in args.files for row in read_rows(file)]
    texts = [row["text"].replace("\n", " ") for row in rows]

    predictions, cli_seconds = run_cli(texts)
    assert len(predictions) == len(rows), "farmhelp parse printed a different number of lines"
    crop_ok = category_ok = urgency_ok = 0
    confusion: Counter[tuple[str, str]] = Counter()
    for row, predicted in zip(rows, predictions, strict=True):
        answers = row["crop"]
        crop_right = predicted["crop"] in answers if answers else predicted["crop"] is None
        crop_ok += crop_right
        category_ok += predicted["category"] == row["category"]
        urgency_ok += predicted["urgency"] == row["urgency"]
        confusion[(row["category"], str(predicted["category"]))] += 1
        if args.show_errors and (
            not crop_right
            or predicted["category"] != row["category"]
            or predicted["urgency"] != row["urgency"]
        ):
            print(
                f"  {row['text']}\n    want {answers[:1] or None} {row['category']} "
                f"{row['urgency']}\n    got  {predicted['crop']} {predicted['category']} "
                f"{predicted['urgency']}"
            )

    sign_report = score_signs(rows, predictions, show=args.show_errors)

    parser = Parser()
    parsed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for text in texts:
            parser.parse(text)
        parsed += len(texts)
    rate = parsed / (time.perf_counter() - started)

    total = len(rows)
    shown = ", ".join(f"{f.name}" for f in args.files)
    print(f"files: {shown} ({total} messages)")
    per_category = Counter(row["category"] for row in rows)
    print("labelled per category: " + ", ".join(f"{c} {per_category[c]}" for c in CATEGORIES))
    print(f"crop accuracy:     {crop_ok / total:6.1%}  ({crop_ok}/{total})")
    print(f"category accuracy: {category_ok / total:6.1%}  ({category_ok}/{total})")
    print(f"urgency accuracy:  {urgency_ok / total:6.1%}  ({urgency_ok}/{total})")
    print(sign_report)
    print("\ncategory confusion (rows: labelled, columns: predicted)")
    short = [c[:8] for c in CATEGORIES]
    print(f"{'':>17}" + "".join(f"{name:>9}" for name in short))
    for truth in CATEGORIES:
        cells = "".join(f"{confusion[(truth, guess)]:>9}" for guess in CATEGORIES)
        print(f"{truth:>17}{cells}")
    print(f"\nspeed: {rate:,.0f} messages/s on one core (in-process, {parsed} parsed)")
    print(f"`farmhelp parse` over the file: {cli_seconds:.2f} s wall, start-up included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
