"""A small, dependency-free language guess: script ranges first, then stopword frequency.

Good enough to tag documents and to filter a corpus down to the languages a user keeps; it is
not a general language identifier (it knows 7 Latin-script languages and 9 scripts).
"""

from __future__ import annotations

import re
from collections import Counter

from proda_ray.spec.charclass import codepoints, is_alpha

_STOPWORDS = {
    "en": "the of and to in is that for it as with was on are be by this which or from an at",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als",
    "fr": "le la les de des et en un une du est que pour dans qui sur par pas au avec",
    "es": "el la de que y en los del se las por un para con una su al lo como más",
    "it": "il di che la e per un in del della una sono non le si da con gli al",
    "pt": "de que e o a do da em um para com não uma os no se na por mais as",
    "nl": "de het een van en in is dat op te zijn met voor niet aan er die als",
}
_STOP = {lang: set(words.split()) for lang, words in _STOPWORDS.items()}
_SCRIPTS = [
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
]
_WORD = re.compile(r"[^\W\d_]+")


def guess_language(text: str, sample_chars: int = 8000) -> str:
    """ISO 639-1 code, or ``und`` when the text has too little language in it."""
    sample = text[:sample_chars]
    letters = int(is_alpha()[codepoints(sample)].sum())
    if letters < 20:
        return "und"
    for lang, rx in _SCRIPTS:
        if len(rx.findall(sample)) > 0.3 * letters:
            # Japanese text mixes kana with kanji; kana alone decides it
            return lang
    words = [w.lower() for w in _WORD.findall(sample)]
    if len(words) < 5:
        return "und"
    counts = Counter(words)
    scores = {lang: sum(counts[w] for w in stop) / len(words) for lang, stop in _STOP.items()}
    lang, best = max(scores.items(), key=lambda kv: kv[1])
    return lang if best >= 0.08 else "und"
