"""Semantic gates on every kept knowledge node, in every mode (miner or engine).

Each gate returns ``None`` (kept) or ``"<reason>: <detail>"`` (a counted rejection):

- ``junk_text`` (any field): degenerate repetition, the prompts' few-shot example text, schema
  field names, URLs, figure/table references.
- statements: ``not_noun_phrase`` (subject/object must be distinct noun phrases of the quote,
  not pronouns), ``not_verb_phrase`` (the predicate must be a verb phrase of the quote),
  ``not_the_relation`` (the quote's parse must link subject -> predicate -> object),
  ``contradicts_quote`` (a negation or polarity word of the quote's verb is dropped or
  flipped), ``conditional`` (an if/when clause the statement would drop), ``narrative`` (a
  past or ongoing event — "Ben paddled out" — not a claim), ``not_a_claim`` (a question).
- concepts: ``bad_term`` (not a domain term: generic words, pronouns, verbs, too long) and
  ``unsupported_definition`` (the defining sentence must name the term and define it).
- chains: ``not_a_process`` (steps must be whole sentences of the chunk in source order with a
  connective or list structure between them, and tell events rather than an argument) and
  ``bad_process_name`` (the name must be a phrase of the text that names a process).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_FIELD_NAMES = re.compile(
    r"\b(?:process_name|narrative_summary|negai?ti?ve_constraints?|preconditions?_?|"
    r"source_quote|first_step|last_step|statement_ids|concept_ids|subject\s*\||"
    r"\"?(?:subject|predicate|object|definition|term)\"\s*:)", re.I)
_URL = re.compile(r"https?:|www\.|\b[\w-]+\.(?:com|org|edu|gov|net|html?)\b|://", re.I)
_FIGREF = re.compile(r"\b(?:Figure|Fig\.|Table|Image)\s*(?:\d|[A-Z]\b|\()|\(Figure\)|"
                     r"\(Table\)|\bFigure\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")

GENERIC_TERMS = {
    "note", "figure", "table", "example", "examples", "maintained", "answer", "question",
    "solution", "problem", "problems", "result", "results", "way", "ways", "thing", "things",
    "one", "ones", "part", "parts", "kind", "kinds", "type", "types", "reason", "reasons",
    "key", "goal", "idea", "fact", "case", "cases", "point", "use", "step", "steps",
    "section", "chapter", "introduction", "summary", "review", "link", "links", "other",
    "others", "something", "anything", "everything", "nothing", "people", "someone",
    "term", "terms", "word", "words", "name", "names", "number", "amount", "lot", "time",
    "first", "second", "third", "last", "same", "different", "many", "much", "most", "few",
    "several", "some", "all", "each", "both", "either", "neither", "difference", "purpose",
    "process", "form", "forms", "group", "groups", "member", "members", "aspect", "feature",
    "features", "area", "areas", "level", "levels", "role", "sense", "order", "issue",
    "person", "persons", "individual", "individuals", "manner",
}
_INSTANCE = re.compile(r"^\W*(?:for (?:example|instance)|think about|imagine|suppose|consider|"
                       r"let'?s|say|in this (?:scenario|case|example))\b", re.I)
VAGUE = {"resulting", "following", "above", "latter", "former", "number", "variety", "range",
         "lot", "deal", "great", "majority", "host", "series", "set", "couple", "handful",
         "many", "some", "several", "various", "other", "more", "most", "certain", "few",
         "much", "another", "any", "all", "each", "every", "same",
         "one", "numerous"}
_DESCRIPTIVE = {"this", "these", "those", "that", "highest", "lowest", "best", "worst",
                "most", "least", "finally", "also", "very", "such"}
PRONOUNS = {"it", "its", "they", "them", "their", "this", "that", "these", "those", "he",
            "she", "we", "you", "i", "there", "which", "who", "what", "here", "one", "such",
            "his", "her", "our", "your", "my", "itself", "themselves", "everyone", "anyone",
            "yours", "mine", "ours", "theirs", "hers"}
PROCESS_HEADS = {
    "process", "processes", "cycle", "cycles", "steps", "stages", "phases", "method",
    "mechanism", "pathway", "reaction", "reactions", "procedure", "sequence", "series",
    "development", "formation", "growth", "transmission", "replication", "synthesis",
    "respiration", "division", "fermentation", "evolution", "production", "transport",
    "conversion", "decay", "regulation", "response", "infection", "digestion", "algorithm",
    "approach", "technique", "analysis", "test", "experiment", "transition", "change",
    "circulation", "flow", "spread", "propagation", "expansion", "collapse", "adoption",
    "socialization", "learning", "conditioning", "perception", "memory", "encoding",
    "model", "strategy", "calculation", "derivation", "measurement", "treatment",
}
_PROCESS_SUFFIX = ("tion", "sion", "sis", "ment", "ance", "ence", "ing", "ysis")
# nominalizations that name a state, a thing or a quantity, not a process
_STATE_NOUNS = {"motion", "deviation", "arrangement", "position", "condition", "distribution",
                "population", "information", "situation", "relation", "relationship",
                "section", "question", "equation", "function", "solution", "concentration",
                "composition", "proportion", "direction", "portion", "option", "nation",
                "station", "ration", "notion", "emotion", "generation", "organization",
                "institution", "constitution", "definition", "intelligence", "evidence",
                "difference", "balance", "distance", "substance", "instance", "experience",
                "science", "sentence", "audience", "agreement", "environment", "element",
                "government", "equipment", "moment", "statement", "segment", "thing",
                "something", "nothing", "building", "meaning", "beginning", "string",
                "ring", "king", "spring", "morning", "evening", "ceiling", "wing", "setting",
                "thinking", "feeling", "understanding", "reasoning", "being", "earning",
                "earnings", "saving", "savings", "pricing", "wiring", "mixing"}
_REASONING = re.compile(
    r"\b(?:would have|we (?:now )?know|we (?:can )?expect|we can (?:calculate|determine|use|"
    r"say|conclude)|suggests? that|shows? that|ruled out|evidence|hypothes\w*|if so|"
    r"in other words|for example|for instance|imagine|suppose)\b", re.I)
_BARE_PROCESS_WORDS = {"process", "processes", "steps", "stages", "phases", "method",
                       "mechanism", "procedure", "sequence", "series", "approach", "technique",
                       "model", "strategy", "change", "test", "analysis", "response", "flow",
                       "cycle", "reaction", "reactions", "development", "growth", "production",
                       "formation", "transition", "experiment", "calculation", "measurement"}
NEGATIONS = {"not", "n't", "no", "never", "cannot", "without", "neither", "nor", "none"}
POLARITY = [("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
            ("increasing", "decreasing"), ("raise", "lower"), ("more", "less"),
            ("higher", "lower"), ("gain", "loss"), ("rise", "fall"), ("positive", "negative"),
            ("stimulates", "inhibits"), ("activates", "inhibits"), ("absorbs", "releases")]


def words(s: str) -> list[str]:
    return _WORD.findall(s.lower())


@lru_cache(maxsize=1)
def _prompt_ngrams() -> frozenset:
    """6-grams of the prompts' few-shot examples: a node that repeats one copies the prompt."""
    grams = set()
    folder = resources.files("proda_ray.knowledge.prompts")
    for f in folder.iterdir():
        if f.name.endswith(".txt"):
            text = f.read_text().replace("{chunk}", " ").replace("{statements}", " ")
            w = words(text)
            grams |= {tuple(w[i : i + 6]) for i in range(len(w) - 5)}
    return frozenset(grams)


def repetition(s: str) -> str | None:
    """A repetition loop: a token repeated 3+ times in a row, a substring loop such as
    "China_China_China", or fewer than 40% distinct words in a 10+ word text."""
    low = s.lower()
    if re.search(r"(\b\w{2,}\b)(?:[\W_]+\1\b){2,}", low) or re.search(r"(\w{3,}?)\1{3,}", low):
        return "a word or substring repeated in a loop"
    w = words(s)
    if len(w) >= 10 and len(set(w)) / len(w) < 0.4:
        return f"{len(set(w))} distinct words of {len(w)}"
    return None


def junk_text(*fields: str, allow_figref: bool = False) -> str | None:
    """``junk_text: ...`` when any field is a repetition loop, copies a prompt example,
    contains schema field names, a URL or (unless allowed) a figure/table reference."""
    grams = _prompt_ngrams()
    for f in fields:
        if not f:
            continue
        why = repetition(f)
        if why:
            return f"junk_text: repetition ({why}): {f[:60]!r}"
        if _FIELD_NAMES.search(f):
            return f"junk_text: schema field name in {f[:60]!r}"
        if _URL.search(f):
            return f"junk_text: URL in {f[:60]!r}"
        if not allow_figref and _FIGREF.search(f):
            return f"junk_text: figure/table reference in {f[:60]!r}"
        w = words(f)
        if any(tuple(w[i : i + 6]) in grams for i in range(len(w) - 5)):
            return f"junk_text: copies the prompt's example text: {f[:60]!r}"
    return None


def _find(phrase: str, text: str) -> int:
    return text.lower().find(phrase.lower().strip())


def noun_phrase_ok(phrase: str) -> str | None:
    w = phrase.strip().split()
    lw = [x.lower().strip(".,;:()\"'") for x in w]
    if not w:
        return "empty"
    if len(w) > 10:
        return f"{len(w)} words"
    if all(x in PRONOUNS or x in {"the", "a", "an"} for x in lw):
        return f"{phrase!r} is a pronoun"
    if lw[0] in PRONOUNS - {"one"}:
        return f"{phrase!r} starts with a pronoun (its referent is elsewhere)"
    if sum(c.isalpha() or c.isspace() for c in phrase) < 0.75 * len(phrase) or \
            phrase.count("(") != phrase.count(")"):
        return f"{phrase!r} is a formula or fragment, not a phrase"
    return None


def statement_gate(subject: str, predicate: str, obj: str, quote: str, doc=None
                   ) -> str | None:
    """The semantic gates of one L2 statement against its quote (``doc``: the quote's spaCy
    parse; parsed here when not given)."""
    junk = junk_text(subject, predicate, obj)
    if junk:
        return junk
    for role, p in (("subject", subject), ("object", obj)):
        why = noun_phrase_ok(p)
        if why:
            return f"not_noun_phrase: the {role} {why}"
    if quote.rstrip().endswith("?"):
        return "not_a_claim: the quote is a question"
    if _INSTANCE.match(quote):
        return "not_a_claim: the quote introduces an example or a scenario, not a general claim"
    for role, p in (("subject", subject), ("object", obj)):
        lw = [x.lower().strip(".,;:") for x in p.split()]
        if " ".join(lw) in GENERIC_TERMS or lw[0] in VAGUE or lw[-1] in GENERIC_TERMS:
            return f"not_noun_phrase: the {role} {p!r} is vague"
        if set(lw) & {"this", "that", "these", "those", "such"}:
            return f"not_noun_phrase: the {role} {p!r} refers to its context"
    if subject.strip()[:1].isdigit() or (words(subject)[:1] and words(subject)[0] in _NUMBERS):
        return f"not_noun_phrase: the subject {subject!r} is a specific quantity, not a kind"
    if set(words(predicate)) & set(words(subject)) - {"is", "are"}:
        return f"not_verb_phrase: {predicate!r} contains the subject"
    s_at, o_at = _find(subject, quote), _find(obj, quote)
    if s_at < 0 or o_at < 0:
        return "not_noun_phrase: the subject and the object must be phrases of the quote"
    if subject.strip().lower() == obj.strip().lower() or (
            s_at <= o_at < s_at + len(subject)) or (o_at <= s_at < o_at + len(obj)):
        return "not_noun_phrase: the subject and the object overlap"
    if doc is None:
        from proda_ray.knowledge.text import parse

        doc = parse([quote])[0]
    people = [e.text for e in doc.ents if e.label_ == "PERSON"]
    for role, p in (("subject", subject), ("object", obj)):
        if any(x in p for x in people):
            return (f"not_a_claim: the {role} {p!r} names a person (a case or an anecdote, "
                    "not a kind)")
    lem = {t.lemma_.lower() for t in doc} | {t.text.lower() for t in doc}
    pw = words(predicate)
    if not pw or not set(pw) <= lem | {"t"}:
        return f"not_verb_phrase: {predicate!r} is not the quote's own wording"
    verbs = [t for t in doc if t.pos_ in ("VERB", "AUX") and t.text.lower() in pw]
    if not verbs:
        return f"not_verb_phrase: {predicate!r} has no verb of the quote"
    head = next((t for t in verbs if t.dep_ not in ("aux", "auxpass", "neg")), verbs[0])
    # structure: the subject is the verb's subject, the object its object (or the object of
    # a preposition the predicate names: "is composed of")
    s_tokens = [t for t in doc if s_at <= t.idx < s_at + len(subject)]
    o_tokens = [t for t in doc if o_at <= t.idx < o_at + len(obj)]
    if not s_tokens or not o_tokens or not _is_object(_root(o_tokens), head, pw) or \
            not _subject_of(head, s_tokens):
        return (f"not_the_relation: in the quote, {obj!r} is not what {subject!r} "
                f"{predicate!r}")
    if head.lemma_.lower() in _FIGURE_VERBS:
        return f"junk_text: {predicate!r} describes a figure, not the domain"
    if any(t.dep_ in ("mark", "advmod") and t.lower_ in _CONDITIONS and
           (head in t.ancestors) for t in doc):
        return (f"conditional: in the quote {predicate!r} holds only under a condition the "
                "statement drops")
    if head.tag_ == "VBD" or (head.tag_ == "VBG" and any(
            c.dep_ == "aux" and c.lemma_ == "be" for c in head.children)) or any(
            c.dep_ in ("aux", "auxpass") and c.lower_ in ("was", "were", "had")
            for c in head.children):
        return (f"narrative: {predicate!r} tells a past or ongoing event, not a general "
                "claim of the domain")
    negs = [c for c in head.children if c.dep_ == "neg" or c.lower_ in NEGATIONS]
    if any(n.lower_ not in pw and not (n.lower_ == "n't" and "not" in pw) for n in negs):
        return f"contradicts_quote: the quote negates {head.text!r}, the predicate does not"
    qw = set(words(quote))
    for a, b in POLARITY:
        for x, y in ((a, b), (b, a)):
            if x in pw and x not in qw and y in qw:
                return f"contradicts_quote: the predicate says {x!r}, the quote {y!r}"
    return None


_NUMBERS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "hundred", "thousand", "million", "billion", "half", "twice"}
_CONDITIONS = {"if", "unless", "when", "whenever", "once", "provided", "until"}
_FIGURE_VERBS = {"show", "omit", "illustrate", "depict", "label", "draw", "picture", "see",
                 "plot", "sketch", "display"}
_OBJ_DEPS = ("dobj", "attr", "oprd", "acomp", "pobj", "dative")


def _root(tokens):
    ids = {t.i for t in tokens}
    return next((t for t in tokens if t.head.i not in ids or t.head is t), tokens[0])


def _is_object(o, head, pw: list[str]) -> bool:
    if o.head.i == head.i and o.dep_ in _OBJ_DEPS:
        return True
    p = o.head
    return (o.dep_ == "pobj" and p.dep_ in ("prep", "agent") and p.head.i == head.i
            and p.lower_ in pw)


def _subject_of(head, s_tokens) -> bool:
    """The subject tokens are the subject of ``head`` or of the verb it is conjoined to."""
    v = head
    while v is not None:
        if any(t.head.i == v.i and t.dep_.startswith("nsubj") for t in s_tokens) or any(
                c.dep_.startswith("nsubj") and c.i in {t.i for t in s_tokens}
                for c in v.children):
            return True
        v = v.head if v.dep_ in ("conj", "xcomp", "ccomp", "advcl") and v.head is not v \
            else None
    return False


def term_ok(term: str) -> str | None:
    t = term.strip()
    w = t.split()
    lw = [x.lower() for x in w]
    if not w or len(w) > 6 or len(t) > 60:
        return f"bad_term: {t[:60]!r} is not a short term"
    if " ".join(lw) in GENERIC_TERMS or all(x in GENERIC_TERMS | PRONOUNS for x in lw):
        return f"bad_term: {t!r} is a generic word"
    if lw[0] in PRONOUNS or lw[-1] in PRONOUNS | {"the", "a", "an", "of", "and", "or"}:
        return f"bad_term: {t!r} starts or ends with a function word"
    if any(x in _DESCRIPTIVE for x in lw) or any(x.endswith("est") and len(x) > 5 and
                                                 x not in ("interest", "forest", "test")
                                                 for x in lw[:1]):
        return f"bad_term: {t!r} is a description, not a term"
    if set(lw) & (_NUMBERS | {"zero"}) and len(lw) > 1:
        return f"bad_term: {t!r} is a value, not a term"
    if re.search(r"[()\[\]]|\bi\.e\b|\be\.g\b|\d+\s*$", t):
        return f"bad_term: {t!r} is a fragment"
    if not any(len(x) >= 3 and x.isalpha() for x in lw) or sum(c.isalpha() for c in t) < 3:
        return f"bad_term: {t!r} has no real word"
    return junk_text(t)


def concept_gate(term: str, definition: str, source_sentence: str) -> str | None:
    why = term_ok(term)
    if why:
        return why
    junk = junk_text(definition, allow_figref=False)
    if junk:
        return junk
    if _find(term, source_sentence) < 0:
        return f"unsupported_definition: the source sentence does not name {term!r}"
    dw = set(words(definition))
    sw = set(words(source_sentence))
    if len(dw - set(words(term))) < 3 or len(dw & sw) < 0.6 * len(dw):
        return "unsupported_definition: the definition is not the source sentence's content"
    return None


def process_name_ok(name: str, text: str) -> str | None:
    n = name.strip()
    if _find(n, text) < 0:
        return f"bad_process_name: {n!r} is not a phrase of the text"
    junk = junk_text(n)
    if junk:
        return junk
    w = words(n)
    if not w or len(w) > 8 or n.count("(") != n.count(")"):
        return f"bad_process_name: {n!r}"
    if w[0] in PRONOUNS or w[0] in _DESCRIPTIVE:
        return f"bad_process_name: {n!r} refers to its context"
    if len(w) == 1 and w[0] in _BARE_PROCESS_WORDS:
        return f"bad_process_name: {n!r} alone does not say which process"
    head = w[-1]
    if not (set(w) & PROCESS_HEADS or (head.endswith(_PROCESS_SUFFIX) and
                                       head not in _STATE_NOUNS)) or head in PRONOUNS:
        return f"bad_process_name: {n!r} does not name a process"
    return None


_CONDITIONAL_STEP = re.compile(r"^(?:[\w’'-]+,?\s+){0,3}?if\b", re.I)


def _past_event(doc) -> bool:
    """The sentence narrates a past event: its main verb is in the simple past ("he
    memorized", "the gene was inserted"). Textbooks state processes in the present."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return False
    if root.tag_ == "VBD":
        return True
    return any(c.dep_ in ("auxpass", "aux") and c.tag_ == "VBD" and
               c.lower_ in ("was", "were", "did", "had") for c in root.children)


def chain_gate(steps: list[str], positions: list[int], links: list[str], name: str,
               text: str, docs: list | None = None) -> str | None:
    """``positions``: each step's sentence index in the chunk; ``links``: what joins step i to
    step i-1 (a connective, "numbered list" ...; empty when nothing does); ``docs``: the
    steps' parses (spaCy), when the caller has them; ``text``: the chunk's text and its
    headings (a process may be named by its section's heading)."""
    if len(steps) < 3:
        return "not_a_process: fewer than three steps"
    if positions != sorted(positions) or len(set(positions)) != len(positions):
        return "not_a_process: the steps are not in source order"
    for s in steps:
        if _find(s, text) < 0:
            return f"not_a_process: a step is not a sentence of the chunk: {s[:50]!r}"
        if re.match(r"\s*(?:Figure|Fig\.|Table)\b", s):
            return f"junk_text: a figure caption as a step: {s[:50]!r}"
        junk = junk_text(s, allow_figref=True)  # "(Figure)" inside a real sentence is fine
        if junk:
            return junk
    argued = [s for s in steps if _REASONING.search(s)]
    if argued or sum(bool(_CONDITIONAL_STEP.match(s.lstrip())) for s in steps) >= 2:
        return ("not_a_process: an argument or a hypothetical, not a sequence of events: "
                f"{(argued or steps)[0][:50]!r}")
    if docs and sum(_past_event(d) for d in docs if d is not None) * 2 > len(steps):
        return ("not_a_process: a narrative of past events (an anecdote, an experiment once "
                f"done), not a process: {steps[0][:50]!r}")
    if links[1:] and all(x.startswith("entity:") for x in links[1:]) and \
            len(set(links[1:])) < 2:
        # a product passed on (glucose -> pyruvate -> carriers) is a process; one noun that
        # runs through every step ("the infection ... the infection") is a topic
        return ("not_a_process: one shared noun joins every step (a topic, not a product "
                "passed on) and no connective, clause or list says one follows the other")
    missing = sum(1 for x in links[1:] if not x)
    if missing:
        return f"not_a_process: {missing} steps follow the one before without a connective"
    return process_name_ok(name, text)
