"""ID-card-like images rendered with Pillow from known values (tests, the OCR benchmark, demo data).

They are plain look-alikes (white background, large DejaVu text), not copies of real cards.
"""
from __future__ import annotations

import io
import random
from datetime import date

from PIL import Image, ImageDraw, ImageFont
from stdnum import verhoeff
from stdnum.in_ import aadhaar as stdnum_aadhaar
from stdnum.in_ import pan as stdnum_pan

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FIRST = ["ASHA", "RAVI", "MEERA", "ARJUN", "KAVYA", "VIKRAM", "SUNITA", "RAHUL", "PRIYA", "ANIL"]
LAST = ["RAO", "SHARMA", "IYER", "PATEL", "REDDY", "KUMAR", "NAIR", "GUPTA", "SINGH", "MENON"]


def make_aadhaar(rng: random.Random | None = None) -> str:
    """A random 12-digit number that passes the Aadhaar checks (first digit 2-9, Verhoeff check digit)."""
    rng = rng or random.Random()
    while True:
        body = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
        number = body + verhoeff.calc_check_digit(body)
        if stdnum_aadhaar.is_valid(number):
            return number


def make_pan(rng: random.Random | None = None, *, surname: str = "R") -> str:
    """A random valid PAN of an individual (4th letter P; 5th the surname's initial)."""
    rng = rng or random.Random()
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pan = ("".join(rng.choice(letters) for _ in range(3)) + "P" + surname[:1].upper()
           + f"{rng.randint(1, 9999):04d}" + rng.choice(letters))
    assert stdnum_pan.is_valid(pan), pan
    return pan


def _font(size: int, bold: bool = False):
    return ImageFont.truetype(FONT_BOLD if bold else FONT, size)


def _card(lines: list[tuple[str, int, bool]], *, size=(1400, 880), header: str) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([(0, 0), (size[0], 110)], fill=(235, 240, 250))
    draw.text((40, 30), header, font=_font(46, True), fill="black")
    draw.rectangle([(size[0] - 300, 160), (size[0] - 60, 460)], outline=(170, 170, 170), width=3)  # photo box
    y = 160
    for text, font_size, bold in lines:
        draw.text((50, y), text, font=_font(font_size, bold), fill="black")
        y += int(font_size * 1.7)
    return image


def pan_card(*, name: str, date_of_birth: date, pan: str, father: str = "SURESH RAO") -> Image.Image:
    """A PAN-card look-alike with the holder's name, father's name, date of birth and PAN."""
    return _card([
        ("Permanent Account Number", 34, False),
        (pan, 60, True),
        ("Name", 30, False),
        (name.upper(), 44, True),
        (f"Father's Name: {father.upper()}", 32, False),
        (f"Date of Birth: {date_of_birth.strftime('%d/%m/%Y')}", 38, False),
    ], header="INCOME TAX DEPARTMENT  GOVT. OF INDIA")


def aadhaar_card(*, name: str, date_of_birth: date, aadhaar: str, gender: str = "FEMALE") -> Image.Image:
    """An Aadhaar look-alike with name, date of birth, gender and the number in groups of 4."""
    number = " ".join(aadhaar[i:i + 4] for i in range(0, 12, 4))
    return _card([
        (name.upper(), 44, True),
        (f"DOB: {date_of_birth.strftime('%d/%m/%Y')}", 40, False),
        (gender.upper(), 36, False),
        ("", 20, False),
        (number, 64, True),
    ], header="GOVERNMENT OF INDIA")


def to_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    """The image encoded as PNG, JPEG or PDF (a one-page PDF through Pillow)."""
    buffer = io.BytesIO()
    if fmt.upper() == "PDF":
        options.setdefault("resolution", 150.0)
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
