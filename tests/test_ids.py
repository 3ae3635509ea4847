import pytest
from hypothesis import given
from hypothesis import strategies as st

from proda_ray.ids import content_hash, id_prefix, make_id


def test_ids_are_stable_and_prefixed():
    a = make_id("chunk", "doc-1", "some text")
    assert a == make_id("chunk", "doc-1", "some text")
    assert a.startswith("chunk-") and len(a) == len("chunk-") + 16
    assert id_prefix(a) == "chunk"


@given(st.text(), st.text())
def test_part_boundaries_matter(a, b):
    # ("ab", "c") and ("a", "bc") must not collide: parts are length-prefixed
    if a + b and (a, b) != (a + b, ""):
        assert content_hash(a, b) != content_hash(a + b, "") or (a, b) == (a + b, "")


def test_unknown_prefix_is_refused():
    with pytest.raises(ValueError):
        make_id("row", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        id_prefix("nope")
