"""OCR time per KYC document on this machine: render N ID-card-like images (half PAN cards, half Aadhaar
cards, PNG) from known values, OCR each with ``portal.onboarding.ocr.ocr_document`` and print the median.

    .venv/bin/python -m scripts.bench_ocr [--count 20] [--pdf]

Needs Tesseract (and poppler's pdftoppm for --pdf); no database, no app.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date

from portal.onboarding import ocr, sample_cards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="documents to OCR (default 20)")
    parser.add_argument("--pdf", action="store_true", help="save the cards as one-page PDFs (pdftoppm path)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    fmt, content_type = ("PDF", "application/pdf") if args.pdf else ("PNG", "image/png")
    timings: dict[str, list[float]] = {"pan_card": [], "aadhaar": []}
    matched = 0
    for index in range(args.count):
        first, last = rng.choice(sample_cards.FIRST), rng.choice(sample_cards.LAST)
        dob = date(rng.randint(1960, 2004), rng.randint(1, 12), rng.randint(1, 28))
        pan, aadhaar = sample_cards.make_pan(rng, surname=last), sample_cards.make_aadhaar(rng)
        typed = ocr.TypedValues(name=f"{first} {last}", date_of_birth=dob, pan=pan, aadhaar=aadhaar)
        if index % 2 == 0:
            kind, image = "pan_card", sample_cards.pan_card(name=f"{first} {last}", date_of_birth=dob, pan=pan)
        else:
            kind, image = "aadhaar", sample_cards.aadhaar_card(name=f"{first} {last}", date_of_birth=dob,
                                                               aadhaar=aadhaar)
        data = sample_cards.to_bytes(image, fmt)
        started = time.perf_counter()
        outcome = ocr.ocr_document(data, content_type, kind, typed)
        elapsed = (time.perf_counter() - started) * 1000
        if outcome.status != "done":
            print(f"OCR is {outcome.status}: {outcome.message}")
            return 1
        matched += outcome.match_result == "match"
        timings[kind].append(elapsed)
        print(f"{index + 1:3d} {kind:9s} {fmt} {elapsed:7.0f} ms  {outcome.match_result}")

    every = timings["pan_card"] + timings["aadhaar"]
    print(f"\n{len(every)} documents ({fmt}), {matched} matched")
    for kind, values in timings.items():
        if values:
            print(f"  {kind:9s} median {statistics.median(values):6.0f} ms  (n={len(values)})")
    print(f"median OCR time per document: {statistics.median(every):.0f} ms "
          f"(min {min(every):.0f}, max {max(every):.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
