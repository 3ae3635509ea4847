"""Chunk roles: what a chunk of a textbook is, from its structure and text features.

Only ``expository`` chunks (running explanatory prose) are mined for chains and statements;
``glossary`` chunks give concepts from their ``term: meaning`` lines; every other role
(``exercises``, ``references``, ``captions``, ``tables``, ``front_matter``, ``fragment``) is
a counted rejection with that role as its reason and stays in the ``chunks`` table for other
uses. The decision reads the chunk's section headings and the share of its characters in each
kind of line (``text.blocks``), and names the feature that decided it.
"""

from __future__ import annotations

import re
from collections import Counter

from proda_ray.knowledge.text import blocks, sentences

ROLES = ("expository", "glossary", "exercises", "references", "captions", "tables",
         "front_matter", "fragment")

_EXERCISE_HEAD = re.compile(
    r"\b(review questions?|critical thinking|multiple choice|fill in the blank|short answer|"
    r"true/false|exercises?|problems|check your (?:understanding|learning)|test prep|"
    r"practice|self-check|conceptual questions|homework|personal application questions|"
    r"chapter review|section quiz|try it|end of (?:chapter|section) exercises)\b", re.I)
_GLOSSARY_HEAD = re.compile(r"\b(glossary|key terms)\b", re.I)
_REFERENCE_HEAD = re.compile(r"\b(references|further reading|bibliography|additional "
                             r"resources|works cited|suggested reading|links to learning)\b",
                             re.I)
_FRONT_HEAD = re.compile(r"\b(learning objectives|learning outcomes|chapter outline|"
                         r"key equations|summary of key)\b", re.I)


def chunk_role(text: str, headings: list[str] | None = None) -> tuple[str, str]:
    """(role, why) of one chunk."""
    heads = " / ".join(h for h in (headings or []) if h)
    last = (headings or [""])[-1] if headings else ""
    bl = blocks(text)
    chars = Counter()
    for b in bl:
        chars[b.kind] += len(b.text)
    total = sum(v for k, v in chars.items() if k != "heading") or 1
    share = {k: v / total for k, v in chars.items()}
    prose = share.get("paragraph", 0) + share.get("list_item", 0) + share.get("numbered", 0)
    sents = sentences(text)
    qa = share.get("question", 0) + share.get("solution", 0)
    n_gloss = sum(b.kind == "glossary" for b in bl)
    gloss_heading = any(b.kind == "heading" and _GLOSSARY_HEAD.search(b.text) for b in bl)
    if _GLOSSARY_HEAD.search(last) or share.get("glossary", 0) >= 0.5 or (
            n_gloss >= 3 and (gloss_heading or share.get("glossary", 0) >= 0.3)):
        return "glossary", f"glossary lines {share.get('glossary', 0):.0%}" + (
            f"; heading {last!r}" if _GLOSSARY_HEAD.search(last) else "")
    if _EXERCISE_HEAD.search(last) or qa >= 0.3 or (
            share.get("question", 0) >= 0.15 and share.get("numbered", 0) >= 0.15):
        return "exercises", (f"heading {last!r}" if _EXERCISE_HEAD.search(last)
                             else f"questions/solutions {qa:.0%} of the text")
    if _REFERENCE_HEAD.search(last) or share.get("link", 0) >= 0.3:
        return "references", (f"heading {last!r}" if _REFERENCE_HEAD.search(last)
                              else f"links {share.get('link', 0):.0%}")
    if share.get("caption", 0) >= 0.5:
        return "captions", f"figure/table captions {share.get('caption', 0):.0%}"
    tabular = share.get("table", 0) + share.get("equation", 0)
    if tabular >= 0.5:
        return "tables", f"table rows/equations {tabular:.0%}"
    if _FRONT_HEAD.search(last) and prose < 0.6:
        return "front_matter", f"heading {last!r}"
    if len(sents) < 3 or prose < 0.5:
        return "fragment", f"{len(sents)} prose sentences, prose {prose:.0%} of the text"
    return "expository", f"{len(sents)} prose sentences, prose {prose:.0%}" + (
        f" ({heads})" if heads else "")
