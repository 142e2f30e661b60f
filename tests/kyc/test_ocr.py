"""The OCR module on ID-card-like images rendered with Pillow from known values (no app, no database)."""
from __future__ import annotations

import random
from datetime import date

import pytest
from stdnum.in_ import aadhaar as stdnum_aadhaar
from stdnum.in_ import pan as stdnum_pan

from portal.onboarding import ocr, sample_cards
from tests.kyc.conftest import AADHAAR, DOB, OTHER_AADHAAR, PAN, aadhaar_png, pan_png

TYPED = ocr.TypedValues(name="Asha Rao", date_of_birth=DOB, pan=PAN, aadhaar=AADHAAR)


def test_the_known_values_are_valid():
    assert stdnum_pan.is_valid(PAN)
    assert stdnum_aadhaar.is_valid(AADHAAR) and stdnum_aadhaar.is_valid(OTHER_AADHAAR)
    assert AADHAAR != OTHER_AADHAAR


@pytest.mark.parametrize("fmt,content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                              ("PDF", "application/pdf")])
def test_a_pan_card_is_read_and_matches(fmt, content_type):
    outcome = ocr.ocr_document(pan_png(fmt=fmt), content_type, "pan_card", TYPED)
    assert outcome.status == "done", outcome.message
    assert outcome.fields["pan"] == PAN
    assert outcome.fields["name"] == "ASHA RAO"
    assert outcome.fields["date_of_birth"] == "17/05/1990"
    assert outcome.fields["checks"] == {"pan": "match", "name": "match", "date_of_birth": "match"}
    assert outcome.match_result == "match"
    assert outcome.ms > 0


def test_an_aadhaar_card_is_read_masked_and_matches():
    outcome = ocr.ocr_document(aadhaar_png(), "image/png", "aadhaar", TYPED)
    assert outcome.status == "done" and outcome.match_result == "match"
    assert outcome.fields["aadhaar_masked"] == f"XXXX XXXX {AADHAAR[-4:]}"
    assert outcome.fields["checks"]["aadhaar"] == "match"
    grouped = " ".join(AADHAAR[i:i + 4] for i in range(0, 12, 4))
    for shown in (AADHAAR, grouped, AADHAAR[:8]):
        assert shown not in outcome.text and shown not in repr(outcome.fields)
    assert f"XXXX XXXX {AADHAAR[-4:]}" in outcome.text


def test_a_different_typed_pan_is_a_mismatch():
    typed = ocr.TypedValues(name="Asha Rao", date_of_birth=DOB, pan="ABCPE9999F", aadhaar=AADHAAR)
    outcome = ocr.ocr_document(pan_png(), "image/png", "pan_card", typed)
    assert outcome.match_result == "mismatch"
    assert outcome.fields["checks"]["pan"] == "mismatch"


def test_a_different_aadhaar_is_a_mismatch():
    typed = ocr.TypedValues(name="Asha Rao", date_of_birth=DOB, pan=PAN, aadhaar=OTHER_AADHAAR)
    outcome = ocr.ocr_document(aadhaar_png(), "image/png", "aadhaar", typed)
    assert outcome.match_result == "mismatch" and outcome.fields["checks"]["aadhaar"] == "mismatch"


def test_a_large_phone_photo_is_scaled_down_and_still_read():
    from PIL import Image

    card = sample_cards.pan_card(name="Asha Rao", date_of_birth=DOB, pan=PAN)
    big = card.resize((4200, round(card.height * 3)), Image.Resampling.LANCZOS)
    assert ocr.prepare(big).width == ocr.MAX_WIDTH
    outcome = ocr.ocr_document(sample_cards.to_bytes(big, "JPEG", quality=85), "image/jpeg", "pan_card", TYPED)
    assert outcome.match_result == "match"


def test_a_blank_page_is_unreadable():
    from PIL import Image

    blank = sample_cards.to_bytes(Image.new("RGB", (800, 500), "white"))
    outcome = ocr.ocr_document(blank, "image/png", "pan_card", TYPED)
    assert outcome.status == "done" and outcome.match_result == "unreadable"


def test_missing_tesseract_gives_unavailable_not_a_crash(monkeypatch):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    outcome = ocr.ocr_document(pan_png(), "image/png", "pan_card", TYPED)
    assert outcome.status == "unavailable"
    assert "Tesseract" in outcome.message and outcome.fields["message"] == outcome.message
    assert outcome.match_result is None and outcome.text is None


def test_missing_pdftoppm_gives_unavailable(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    outcome = ocr.ocr_document(pan_png(fmt="PDF"), "application/pdf", "pan_card", TYPED)
    assert outcome.status == "unavailable" and "pdftoppm" in outcome.message


def test_a_broken_pdf_fails_with_a_message():
    outcome = ocr.ocr_document(b"%PDF-1.4\nthis is not a pdf\n%%EOF", "application/pdf", "bank_statement", TYPED)
    assert outcome.status == "failed" and "PDF" in outcome.message


@pytest.mark.parametrize("text,pan", [
    ("PAN ABCPE1234F", "ABCPE1234F"),
    ("Permanent Account Number\nABCPE12B4F", "ABCPE1284F"),   # OCR read 8 as B in a digit position
    ("ABCPE1234F is not ABCXE1234F", "ABCPE1234F"),
    ("ABCXE1234F", None),                                      # 4th letter X is not a PAN holder type
])
def test_find_pan(text, pan):
    assert ocr.find_pan(text) == pan


def test_find_pan_repairs_a_doubled_character():
    assert ocr.find_pan("Permanent Account Number\nUUWPKO0623M", prefer="UUWPK0623M") == "UUWPK0623M"
    assert ocr.find_pan("CUIPI8S167L") is None                                       # several candidates...
    assert ocr.find_pan("CUIPI8S167L", prefer="CUIPI8167L") == "CUIPI8167L"          # ...the typed one wins
    assert ocr.find_pan("CUIPI8S167L", prefer="ABCPE1234F") is None


def test_find_aadhaar_checks_the_verhoeff_digit():
    wrong = AADHAAR[:11] + str((int(AADHAAR[11]) + 1) % 10)
    assert ocr.find_aadhaar(f"number {AADHAAR[:4]} {AADHAAR[4:8]} {AADHAAR[8:]}") == AADHAAR
    assert ocr.find_aadhaar(f"number {wrong}") is None
    assert ocr.find_aadhaar(f"account 9{AADHAAR}") is None     # part of a longer number


def test_masking_covers_every_twelve_digit_run():
    text = f"A {AADHAAR} B {AADHAAR[:4]}-{AADHAAR[4:8]}-{AADHAAR[8:]} C 1234 5678 9012"
    masked = ocr.mask_aadhaar_numbers(text)
    assert AADHAAR not in masked and AADHAAR[:8] not in masked.replace(" ", "").replace("-", "")
    assert masked.count("XXXX XXXX") == 3 and "XXXX XXXX 9012" in masked


def test_find_date_of_birth_prefers_the_labelled_date():
    text = "Issued 01/02/2020\nDate of Birth: 17/05/1990"
    assert ocr.find_date_of_birth(text) == date(1990, 5, 17)
    assert ocr.find_date_of_birth("31/02/1990") is None


def test_names_match_is_lenient_to_one_slip():
    assert ocr.names_match("Asha Rao", "ASHA RAO")
    assert ocr.names_match("Asha Rao", "ASHA RA0")
    assert not ocr.names_match("Asha Rao", "MEERA IYER")


def test_random_cards_round_trip():
    rng = random.Random(5)
    for _ in range(3):
        aadhaar = sample_cards.make_aadhaar(rng)
        pan = sample_cards.make_pan(rng, surname="Iyer")
        typed = ocr.TypedValues(name="Meera Iyer", date_of_birth=date(1985, 12, 3), pan=pan, aadhaar=aadhaar)
        pan_card = sample_cards.pan_card(name="Meera Iyer", date_of_birth=date(1985, 12, 3), pan=pan)
        card = sample_cards.aadhaar_card(name="Meera Iyer", date_of_birth=date(1985, 12, 3), aadhaar=aadhaar)
        assert ocr.ocr_document(sample_cards.to_bytes(pan_card), "image/png", "pan_card", typed).match_result \
            == "match"
        assert ocr.ocr_document(sample_cards.to_bytes(card, "JPEG"), "image/jpeg", "aadhaar", typed).match_result \
            == "match"
