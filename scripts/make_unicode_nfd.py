#!/usr/bin/env python3
"""Writes src/LlmFp4.Kit/Models/Tokenizers/UnicodeNfd.txt, the Unicode data the kit's NFD needs without ICU
(.NET in globalization-invariant mode leaves string.Normalize a no-op): the full canonical decomposition of every
code point that has one (Hangul syllables excepted, they decompose by formula) and every nonzero canonical combining
class. Source: Python's unicodedata. Run from the repository root: python3 scripts/make_unicode_nfd.py"""
import unicodedata

lines = [f"# Unicode {unicodedata.unidata_version} canonical decompositions (d CODE MAPPING...) and combining classes (c CODE CLASS),",
         "# from Python's unicodedata by scripts/make_unicode_nfd.py."]
for code in range(0x110000):
    char = chr(code)
    if 0xD800 <= code <= 0xDFFF or 0xAC00 <= code <= 0xD7A3:
        continue
    nfd = unicodedata.normalize("NFD", char)
    if nfd != char:
        lines.append("d " + " ".join(f"{ord(c):04X}" for c in char + nfd))
for code in range(0x110000):
    if 0xD800 <= code <= 0xDFFF:
        continue
    ccc = unicodedata.combining(chr(code))
    if ccc:
        lines.append(f"c {code:04X} {ccc}")
with open("src/LlmFp4.Kit/Models/Tokenizers/UnicodeNfd.txt", "w", encoding="ascii", newline="\n") as f:
    f.write("\n".join(lines) + "\n")
