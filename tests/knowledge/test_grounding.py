from hypothesis import given
from hypothesis import strategies as st

from proda_ray.knowledge.grounding import locate_quote, phrases, sentences

TEXT = ("Heat flows  from hot objects to cold ones.\nThe “metal rod” warms — slowly! "
        "Conduction needs contact between particles.")


def test_locate_exact_normalized_and_missing():
    assert locate_quote("Conduction needs contact between particles.", TEXT)[2] == "exact"
    a, b, how = locate_quote('heat flows from HOT objects to cold ones.', TEXT)
    assert how == "normalized" and TEXT[a:b] == "Heat flows  from hot objects to cold ones."
    a, b, how = locate_quote('The "metal rod" warms - slowly!', TEXT)
    assert TEXT[a:b] == "The “metal rod” warms — slowly!"
    assert locate_quote("Heat flows from cold objects to hot ones.", TEXT) is None
    assert locate_quote("short", TEXT) is None


@given(st.lists(st.text(alphabet="abcdefgh .!?\n", min_size=1, max_size=40), max_size=12))
def test_sentence_spans_are_verbatim(parts):
    text = " ".join(parts)
    for s in sentences(text):
        assert text[s.start : s.end] == s.text
        assert locate_quote(s.text, text) is not None


def test_phrases_are_verbatim_substrings():
    sent = "The enzyme rubisco attaches carbon dioxide from the air to a five-carbon sugar."
    ps = phrases(sent)
    assert "carbon dioxide" in ps and "five-carbon sugar" in ps
    assert all(p in sent for p in ps)
    assert "the" not in [p.lower() for p in ps]
