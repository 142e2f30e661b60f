"""OCR of KYC documents (pure-ish: Pillow, pytesseract and poppler's ``pdftoppm``; no Flask, no database).

``read_document(data, content_type)`` turns an uploaded file into text (images through Tesseract after a
grayscale conversion and an upscale of small images; PDFs through their first page rendered by ``pdftoppm``),
``extract_fields(text)`` finds the PAN, the Aadhaar number, the name and the date of birth, and
``compare(kind, fields, typed)`` compares them with what the customer typed: match, mismatch or unreadable.
``ocr_document`` does all three and returns an :class:`OcrOutcome` that is safe to store: the Aadhaar number
is masked (XXXX XXXX 1234) in the text and in the fields. Never log the text or the typed values.
"""
from __future__ import annotations

import difflib
import io
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from PIL import Image, ImageOps
from stdnum.in_ import aadhaar as stdnum_aadhaar
from stdnum.in_ import pan as stdnum_pan

PDF_DPI = 200
PDF_TIMEOUT_S = 60
TESSERACT_TIMEOUT_S = 120
MIN_WIDTH = 1600           # smaller images are upscaled to about this width before OCR
MAX_WIDTH = 2600           # larger ones (phone photos) are scaled down to it: faster, no worse for ID cards
MAX_PIXELS = 60_000_000    # refuse to OCR anything larger (decompression bombs)

UNAVAILABLE_MESSAGE = ("The OCR engine (Tesseract) is not installed on the worker, so this document was not "
                       "read automatically. A loan officer will check it by eye.")
PDF_UNAVAILABLE_MESSAGE = ("The PDF renderer (poppler's pdftoppm) is not installed on the worker, so this PDF "
                           "was not read automatically. A loan officer will check it by eye.")

PAN_RE = re.compile(r"(?<![A-Z0-9])([A-Z]{5}[0-9]{4}[A-Z])(?![A-Z0-9])")
# 10 characters that look like a PAN once OCR's usual letter/digit confusions are undone
PAN_LOOSE_RE = re.compile(r"(?<![A-Z0-9])([A-Z0-9]{10})(?![A-Z0-9])")
PAN_ELEVEN_RE = re.compile(r"(?<![A-Z0-9])([A-Z0-9]{11})(?![A-Z0-9])")
# 12 digits, possibly in groups of 4 (spaces or hyphens); not part of a longer run of digits
AADHAAR_RE = re.compile(r"(?<!\d)(\d{4})[ \t-]?(\d{4})[ \t-]?(\d{4})(?!\d)")
DATE_RE = re.compile(r"(?<!\d)(\d{2})\s?[/.-]\s?(\d{2})\s?[/.-]\s?(\d{4})(?!\d)")
DOB_LABEL_RE = re.compile(r"\b(DOB|D\.O\.B|DATE\s+OF\s+BIRTH|BIRTH|YEAR\s+OF\s+BIRTH|JANM)", re.I)
NAME_LABEL_RE = re.compile(r"^\s*(?:NAME|NAAM)\b\s*[:;.\-]?\s*(.*)$", re.I)
NOT_A_NAME = re.compile(r"\b(INCOME|TAX|DEPARTMENT|GOVT|GOVERNMENT|INDIA|FATHER|PERMANENT|ACCOUNT|NUMBER|CARD|"
                        r"SIGNATURE|AADHAAR|UNIQUE|IDENTIFICATION|AUTHORITY|MALE|FEMALE|DOB|BIRTH|ADDRESS|"
                        r"ELECTION|COMMISSION|LICENCE|LICENSE|REGISTRATION|VEHICLE|STATEMENT|BANK)\b", re.I)

_TO_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8",
                           "G": "6", "T": "7"})
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "7": "T", "4": "A"})


class OcrUnavailable(Exception):
    """The OCR engine (or the PDF renderer) is not installed; the message says which."""


class OcrFailed(Exception):
    """The document could not be read (a broken PDF, a Tesseract error, a timeout)."""


@dataclass(frozen=True)
class TypedValues:
    """What the customer typed. ``aadhaar`` is the whole number: keep it in memory only, never store or log."""

    name: str | None = None
    date_of_birth: date | None = None
    pan: str | None = None
    aadhaar: str | None = field(default=None, repr=False)


@dataclass
class OcrOutcome:
    """The result of reading one document, safe to store (Aadhaar masked)."""

    status: str                      # done | unavailable | failed
    text: str | None = None          # the OCR text, Aadhaar numbers masked
    fields: dict = field(default_factory=dict)
    match_result: str | None = None  # match | mismatch | unreadable | None (nothing to compare)
    ms: int = 0
    message: str | None = None


# ---- masking ----------------------------------------------------------------------------------------------
def mask_aadhaar(number: str) -> str:
    """'2345 6789 0124' -> 'XXXX XXXX 0124'."""
    digits = re.sub(r"\D", "", number)
    return f"XXXX XXXX {digits[-4:]}"


def mask_aadhaar_numbers(text: str | None) -> str | None:
    """Every run of 12 digits (in groups of 4 or not) in ``text`` masked to XXXX XXXX 1234, valid or not."""
    if not text:
        return text
    return AADHAAR_RE.sub(lambda m: f"XXXX XXXX {m.group(3)}", text)


# ---- reading ----------------------------------------------------------------------------------------------
def render_pdf_first_page(data: bytes, *, dpi: int = PDF_DPI, timeout: float = PDF_TIMEOUT_S) -> Image.Image:
    """The first page of a PDF as an image, rendered by ``pdftoppm -r <dpi> -f 1 -l 1 -png``."""
    with tempfile.TemporaryDirectory(prefix="kyc-pdf-") as tmp:
        source = Path(tmp) / "document.pdf"
        source.write_bytes(data)
        try:
            result = subprocess.run(
                ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-png", str(source), str(Path(tmp) / "page")],
                capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise OcrUnavailable(PDF_UNAVAILABLE_MESSAGE) from None
        except subprocess.TimeoutExpired:
            raise OcrFailed(f"Rendering the PDF took longer than {timeout:g} seconds.") from None
        pages = sorted(Path(tmp).glob("page*.png"))
        if result.returncode != 0 or not pages:
            raise OcrFailed("The PDF could not be rendered (it may be damaged or password-protected).")
        with Image.open(pages[0]) as page:
            page.load()
            return page.copy()


def open_image(data: bytes, content_type: str) -> Image.Image:
    """The document as a Pillow image (a PDF's first page rendered)."""
    if content_type == "application/pdf":
        return render_pdf_first_page(data)
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise OcrFailed("The image is too large to read.")
        image.load()
    except OcrFailed:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken file
        raise OcrFailed(f"The image could not be decoded ({type(exc).__name__}).") from None
    return image


def prepare(image: Image.Image) -> Image.Image:
    """Grayscale, EXIF-rotated, upscaled when small (Tesseract reads ~30 px high letters best) and scaled
    down when very wide."""
    image = ImageOps.exif_transpose(image)
    image = image.convert("L")
    target = MIN_WIDTH if image.width < MIN_WIDTH else MAX_WIDTH if image.width > MAX_WIDTH else None
    if target:
        height = max(1, round(image.height * target / image.width))
        image = image.resize((target, height), Image.Resampling.LANCZOS)
    return image


def read_text(image: Image.Image) -> str:
    """Tesseract's text for ``image``; OcrUnavailable when Tesseract is not installed."""
    import pytesseract

    try:
        return pytesseract.image_to_string(image, lang="eng", config="--psm 3", timeout=TESSERACT_TIMEOUT_S)
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailable(UNAVAILABLE_MESSAGE) from None
    except RuntimeError as exc:  # pytesseract raises RuntimeError on its timeout
        raise OcrFailed(f"Tesseract did not finish: {exc}") from None
    except pytesseract.TesseractError as exc:
        raise OcrFailed(f"Tesseract could not read the document (status {exc.status}).") from None


# ---- extraction -------------------------------------------------------------------------------------------
def _pan_from(raw: str) -> str | None:
    """``raw`` (10 characters) as a valid PAN once OCR's letter/digit confusions are undone, else None."""
    fixed = raw[:5].translate(_TO_LETTER) + raw[5:9].translate(_TO_DIGIT) + raw[9].translate(_TO_LETTER)
    return fixed if stdnum_pan.is_valid(fixed) else None


def find_pan(text: str, prefer: str | None = None) -> str | None:
    """The first valid PAN in ``text`` (python-stdnum), undoing OCR's O/0, I/1, S/5 confusions if needed.

    Tesseract sometimes doubles a character ("UUWPKO0623M"): an 11-character token is repaired by dropping one
    character when that gives a single valid PAN, or gives ``prefer`` (the PAN the customer typed)."""
    upper = text.upper()
    for match in PAN_RE.finditer(upper):
        if stdnum_pan.is_valid(match.group(1)):
            return match.group(1)
    for match in PAN_LOOSE_RE.finditer(upper):
        raw = match.group(1)
        if re.search(r"\d", raw) and re.search(r"[A-Z]", raw) and (pan := _pan_from(raw)):
            return pan
    prefer = (prefer or "").strip().upper() or None
    for match in PAN_ELEVEN_RE.finditer(upper):
        raw = match.group(1)
        candidates = {pan for i in range(len(raw)) if (pan := _pan_from(raw[:i] + raw[i + 1:]))}
        if prefer in candidates:
            return prefer
        if len(candidates) == 1:
            return candidates.pop()
    return None


def find_aadhaar(text: str) -> str | None:
    """The first 12-digit number in ``text`` that passes the Aadhaar (Verhoeff) check, as 12 digits."""
    for match in AADHAAR_RE.finditer(text):
        number = "".join(match.groups())
        if stdnum_aadhaar.is_valid(number):
            return number
    return None


def _valid_date(day: str, month: str, year: str) -> date | None:
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return value if 1900 <= value.year <= 2100 else None


def find_date_of_birth(text: str) -> date | None:
    """A date dd/mm/yyyy on a line labelled DOB / Date of Birth (else the first plausible date)."""
    lines = text.splitlines()
    first = None
    for index, line in enumerate(lines):
        for match in DATE_RE.finditer(line):
            value = _valid_date(*match.groups())
            if value is None:
                continue
            labelled = DOB_LABEL_RE.search(line) or (index > 0 and DOB_LABEL_RE.search(lines[index - 1]))
            if labelled:
                return value
            first = first or value
    return first


def _clean_name(value: str) -> str | None:
    value = re.sub(r"[^A-Za-z .']", " ", value)
    value = re.sub(r"\s+", " ", value).strip(" .'")
    words = [w for w in value.split(" ") if len(w) > 1 or w.isalpha()]
    if not words or len("".join(words)) < 3 or NOT_A_NAME.search(value):
        return None
    return " ".join(words).upper()


def find_name(text: str) -> str | None:
    """The holder's name: the text after a 'Name' label (same line or the next), else the line above the DOB."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        match = NAME_LABEL_RE.match(line)
        if not match:
            continue
        candidate = _clean_name(match.group(1)) if match.group(1) else None
        if candidate is None and index + 1 < len(lines):
            candidate = _clean_name(lines[index + 1])
        if candidate:
            return candidate
    for index, line in enumerate(lines):
        if DOB_LABEL_RE.search(line) and DATE_RE.search(line) and index > 0:
            candidate = _clean_name(lines[index - 1])
            if candidate:
                return candidate
    return None


def extract_fields(text: str, typed: TypedValues | None = None) -> dict:
    """``{"pan", "aadhaar" (whole: internal only), "name", "date_of_birth" (date)}``, None where absent.
    ``typed`` only settles an ambiguous repair of a misread PAN (see ``find_pan``)."""
    return {"pan": find_pan(text, prefer=typed.pan if typed else None), "aadhaar": find_aadhaar(text),
            "name": find_name(text), "date_of_birth": find_date_of_birth(text)}


# ---- comparison -------------------------------------------------------------------------------------------
def _name_tokens(name: str) -> list[str]:
    return [t for t in re.sub(r"[^A-Z ]", " ", name.upper()).split() if t]


def names_match(typed: str, read: str) -> bool:
    """Lenient: every typed word appears in what was read (or the reverse), allowing one OCR slip per word."""
    a, b = _name_tokens(typed), _name_tokens(read)
    if not a or not b:
        return False

    def covered(words, pool) -> bool:
        return all(any(w == p or difflib.SequenceMatcher(None, w, p).ratio() >= 0.8 for p in pool) for w in words)

    return covered(a, b) or covered(b, a)


def _check(typed, read, equal) -> str | None:
    if typed in (None, ""):
        return None                     # nothing typed: nothing to compare
    if read in (None, ""):
        return "unreadable"
    return "match" if equal(typed, read) else "mismatch"


PRIMARY = {"pan_card": "pan", "aadhaar": "aadhaar"}


def compare(kind: str, fields: dict, typed: TypedValues) -> tuple[str | None, dict]:
    """Compare what OCR read with what the customer typed.

    Returns ``(match_result, checks)``: ``checks`` maps pan / aadhaar / name / date_of_birth to match |
    mismatch | unreadable (only for values the customer typed and, for the ID number, the card's own number).
    The result is mismatch when any check mismatches; unreadable when the card's own number (PAN on a PAN
    card, Aadhaar on an Aadhaar card) could not be read; else match; None when nothing could be compared.
    """
    checks: dict[str, str] = {}
    primary = PRIMARY.get(kind)
    pan = _check(typed.pan, fields.get("pan"), lambda a, b: a.strip().upper() == b)
    if pan and (primary == "pan" or fields.get("pan")):
        checks["pan"] = pan
    aadhaar = _check(typed.aadhaar and re.sub(r"\D", "", typed.aadhaar), fields.get("aadhaar"), str.__eq__)
    if aadhaar and (primary == "aadhaar" or fields.get("aadhaar")):
        checks["aadhaar"] = aadhaar
    name = _check(typed.name, fields.get("name"), names_match)
    if name and name != "unreadable":
        checks["name"] = name
    dob = _check(typed.date_of_birth, fields.get("date_of_birth"), lambda a, b: a == b)
    if dob and dob != "unreadable":
        checks["date_of_birth"] = dob
    if "mismatch" in checks.values():
        return "mismatch", checks
    if primary and checks.get(primary) in (None, "unreadable"):
        if checks.get(primary) == "unreadable" or fields.get(primary) is None:
            return "unreadable", checks
    if "match" in checks.values():
        return "match", checks
    return None, checks


def storable_fields(fields: dict, checks: dict) -> dict:
    """The fields as stored in ``ocr_fields``: JSON-safe, Aadhaar masked, DOB as dd/mm/yyyy."""
    dob = fields.get("date_of_birth")
    return {
        "pan": fields.get("pan"),
        "aadhaar_masked": mask_aadhaar(fields["aadhaar"]) if fields.get("aadhaar") else None,
        "name": fields.get("name"),
        "date_of_birth": dob.strftime("%d/%m/%Y") if dob else None,
        "checks": checks,
    }


def ocr_document(data: bytes, content_type: str, kind: str, typed: TypedValues) -> OcrOutcome:
    """Read, extract and compare one document. Never raises for an unreadable document or a missing engine:
    the outcome's status is done, unavailable or failed (with ``message``)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        text = read_text(prepare(open_image(data, content_type)))
    except OcrUnavailable as exc:
        return OcrOutcome(status="unavailable", fields={"message": str(exc)}, ms=elapsed(), message=str(exc))
    except OcrFailed as exc:
        return OcrOutcome(status="failed", fields={"message": str(exc)}, ms=elapsed(), message=str(exc))
    fields = extract_fields(text, typed)
    if not text.strip():
        match_result, checks = "unreadable", {}
    else:
        match_result, checks = compare(kind, fields, typed)
    stored = storable_fields(fields, checks)
    return OcrOutcome(status="done", text=mask_aadhaar_numbers(text.strip()), fields=stored,
                      match_result=match_result, ms=elapsed())


def parse_stored_date(value: str | None) -> date | None:
    """A dd/mm/yyyy string from ``ocr_fields`` back to a date (None when absent or malformed)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None
