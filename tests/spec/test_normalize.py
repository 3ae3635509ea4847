from proda_ray.spec.config import NormalizeConfig
from proda_ray.spec.language import guess_language
from proda_ray.spec.normalize import normalize_text


def test_normalization_rules():
    cfg = NormalizeConfig()
    raw = ("Cafe\u0301\r\nline\ttwo  with   spaces \u200b\x07\r\n\r\n\r\n\r\nPage 12\n"
           "    indented  code\n")
    out = normalize_text(raw, cfg)
    assert out == "Café\nline two with spaces\n\n    indented code"


def test_running_headers_only_in_paged_formats():
    cfg = NormalizeConfig(max_line_repeats=2)
    pages = [f"Chapter 3 | Motion\nBody text of page {i}.\n- item {i}\n- item" for i in range(4)]
    text = "\n".join(pages)
    paged = normalize_text(text, cfg, paged=True)
    assert "Chapter 3" not in paged  # a running header, repeated on every page
    assert paged.count("Body text of page") == 4
    assert paged.count("- item\n") + paged.endswith("- item") == 4  # list markers are structure
    assert normalize_text(text, cfg).count("Chapter 3 | Motion") == 4  # not paged: kept


def test_language_guess():
    assert guess_language("The cell is the basic unit of life and it is found in all organisms "
                          "that are living on the earth.") == "en"
    assert guess_language("Die Zelle ist die kleinste Einheit des Lebens und sie ist in allen "
                          "Lebewesen zu finden, die auf der Erde leben.") == "de"
    assert guess_language("Клетка — это основная единица жизни всех живых организмов.") == "ru"
    assert guess_language("1 2 3 4 5") == "und"
