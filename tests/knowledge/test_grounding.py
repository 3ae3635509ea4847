from hypothesis import given
from hypothesis import strategies as st

from proda_ray.knowledge.grounding import locate_quote
from proda_ray.knowledge.text import sentences

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


def test_a_table_chunk_is_rejected_for_its_role_without_a_call():
    from proda_ray.engines import GenerationResult
    from proda_ray.knowledge.config import ExtractConfig
    from proda_ray.knowledge.extract import extract_chunks_safely
    from tests.engines.test_structured import Scripted

    table_chunk = {"chunk_id": "chunk-t", "doc_id": "doc-t", "source_path": "x",
                   "text": "a | b | c\n1 | 2 | 3\n4 | 5 | 6", "section_path": []}
    eng = Scripted([GenerationResult("unused")])
    ex = extract_chunks_safely([table_chunk], eng, ExtractConfig())
    assert [r.reason for r in ex.rejected] == ["chunk_role_tables"]
    assert eng.seeds == [] and ex.counters["chunks"] == 1


def test_an_unexpected_error_costs_only_its_chunk():
    from proda_ray.knowledge.config import ExtractConfig
    from proda_ray.knowledge.extract import extract_chunks_safely
    from tests.engines.test_structured import Scripted

    class Exploding(Scripted):
        def generate(self, requests):
            raise ValueError("boom")

    chunk = {"chunk_id": "chunk-e", "doc_id": "doc-e", "source_path": "x", "section_path": [],
             "text": "Heat transfer through direct contact between particles is called "
                     "conduction. " + "Heat flows from hot objects to cold objects. " * 3}
    ex = extract_chunks_safely([chunk, {**chunk, "chunk_id": "chunk-f"}], Exploding([]),
                               ExtractConfig())
    assert [r.reason for r in ex.rejected] == ["extract_error", "extract_error"]
    assert ex.counters["chunks"] == 2
