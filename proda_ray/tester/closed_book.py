"""Closed-book item types: the stem names what is asked, never the facts that decide the key.

One type per knowledge level, so a failure points at a level:

* ``definition_match`` (L1): "which of the following is the definition of <term>?" The key is
  the concept's own definition; the distractors are definitions of *other* concepts of the
  same document (else discipline): real textbook definitions, false for this term. Concepts
  come in sets of four whose definitions are each other's distractors (``definition_sets``),
  so every option is a key exactly once across the set's four items.
* ``term_match`` (L1, the same set read the other way): "which term has this definition:
  <definition>?" over the set's four terms. Its concept's ``definition_match`` item and this
  one ask about one node in two directions, so one can sit in ``dev`` (where a failure is
  diagnosed and patched) and the other in ``test`` (where the repair is measured on a question
  the patch never saw).
* ``statement_truth`` (L2): "on <the chunk's topic>, which statements are correct?" Four real
  statements of one chunk, each with its own subject and object; the false ones get another
  statement's object (a controlled perturbation: swapped object), so every option is built
  from the same chunk's words and a true and a false option look alike. The answer pattern is
  drawn uniformly from the 15 non-empty subsets of A-D.
* ``step_after`` (L3): "in <process>, what happens immediately after <one step>?" The key is
  the next step; the distractors are other steps of the same process (an earlier one, later
  ones), so the stem never shows the order that decides the key. One key.

Keys are verified independently of how the item was built (``verify_*``): a distractor
definition must not name the term or be a near copy of its definition; a swapped statement
must not be stated, or co-occur in one sentence, anywhere in its chunk; a distractor step must
not repeat the next step. Each item keeps ``facts`` so the rule check re-derives the key.
"""

from __future__ import annotations

import re

from proda_ray.tester.items import LETTERS, answer_letters, rotate_key, seeded_rng, trim_words

KINDS = ("definition_match", "term_match", "statement_truth", "step_after")
LEVEL = {"definition_match": "L1", "term_match": "L1", "statement_truth": "L2",
         "step_after": "L3"}
PATTERNS = [p for n in range(1, 16) for p in [answer_letters(i for i in range(4) if n >> i & 1)]]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(("the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "by", "with",
                   "is", "are", "was", "were", "be", "been", "it", "its", "this", "that",
                   "these", "those", "as", "at", "from", "which", "can", "may", "into",
                   "their", "they", "such", "also", "than", "each", "other", "not"))
_LEAD = re.compile(r"^(?:then|next|first|second|third|finally|lastly|after that|afterwards|"
                   r"subsequently|in turn|eventually|at this point|in the next step)\b,?\s*",
                   re.I)
_PRONOUN = re.compile(r"^(?:it|they|this|these|those|that|he|she|its|their|such|here)\b", re.I)
_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*|[A-Z]\.|[IVX]+\.)\s+")


def content(text: str) -> set[str]:
    return {w for w in _WORD.findall((text or "").lower()) if w not in _STOP and len(w) > 2}


def _stem_of(w: str) -> str:
    """A crude shared stem (plural and common suffixes), enough to see a term in a text."""
    for suf in ("ations", "ation", "ings", "ing", "ies", "es", "s", "ed"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)]
    return w


def stems(text: str) -> set[str]:
    return {_stem_of(w) for w in content(text)}


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!…" else text + "."


def _domain(x: dict) -> str:
    return (x.get("domain_context") or x.get("discipline") or "this field").strip()


def _pack(question: str, options: list[str], correct: list[int], explanation: str,
          kind: str, distractors: list[str], facts: dict, order: list[int]) -> dict:
    """``order[k]`` = which built option goes to position k; the key follows."""
    opts = [options[i] for i in order]
    key = answer_letters(order.index(i) for i in correct)
    return {"question": question, "options": opts, "answer": key, "explanation": explanation,
            "question_type": kind, "level": LEVEL[kind],
            "distractor_types": sorted(set(distractors)), "facts": facts}


def _fit(options: list[str], words: int) -> list[str]:
    """Every option cut to the same word budget (so none is told apart by an ellipsis)."""
    return [trim_words(o, words) for o in options]


# --- L1: definition_match -------------------------------------------------------------------

# the miner's definition patterns whose sentence states what the term *is* (its definiens
# follows the term); "called" / "known as" sentences name a term inside some context
_DEFINING = {"glossary": None, "copular": r"(?:is|are)(?: (?:a|an|the))?",
             "refers_to": r"(?:refers?|referred) to", "defined_as": r"(?:can be |is |are )?"
             r"(?:defined|described) as", "the_term": None}


def definiens(term: str, definition: str, origin: str | None) -> str:
    """What ``term`` means, without the term: a glossary line as it is; a defining sentence
    ("A phenotype is the observable …", "Syntax refers to …") from after its verb; "" when
    the sentence does not define the term by its own words (named in passing)."""
    # a glossary line's leading aside ("(plural = schemata)", "(also, cryoscopic constant)")
    # names the term or an alias: it goes
    d = _LEAD_PAREN.sub("", " ".join((definition or "").split()))
    if origin in (None, "glossary", "engine"):
        return d
    verb = _DEFINING.get(origin)
    if not verb:
        return ""
    m = re.match(rf"^(?:in general,?\s+|in fact,?\s+)?(?:the |a |an )?{re.escape(term)}\s+"
                 rf"{verb}\s+(.+)$", d, re.I)
    return m.group(1).strip() if m else ""


def _shares_root(term: str, text: str, n: int = 5) -> bool:
    """A word of ``text`` and a word of ``term`` (of ``n``+ letters) begin with the same
    ``n`` letters: another form of the term ("schemata", "momentum" for "momenta")."""
    roots = {w[:n] for w in _WORD.findall(term.lower()) if len(w) >= n and w not in _STOP}
    same = stems(term)  # the term's own words are the overlap rule's business
    return any(w[:n] in roots and _stem_of(w) not in same
               for w in _WORD.findall(text.lower()) if len(w) >= n)


_LEAD_PAREN = re.compile(r"^\s*\([^)]{0,80}\)\s*")


def verify_definition(term: str, aliases: list[str], key: str, distractor: str) -> str | None:
    """None when ``distractor`` cannot also define ``term``; else why not."""
    names = [term, *aliases]
    for n in names:
        if n and re.search(rf"\b{re.escape(n.lower())}\b", distractor.lower()):
            return "names_the_term"
    a, b = stems(key), stems(distractor)
    if a and b and len(a & b) / len(a | b) >= 0.5:
        return "near_copy_of_definition"
    return None


def _definition_ok(c: dict, words: int) -> tuple[str | None, str | None]:
    """(the option text of ``c``'s definition, None) or (None, why it cannot be a key)."""
    term, d = c["term"].strip(), (c.get("definition") or "").strip()
    if not d:
        return None, "no_definiens"
    key = _sentence(d)
    if len(key.split()) < 5:
        return None, "definition_too_short"
    if any(re.search(rf"\b{re.escape(n.lower())}\b", key.lower())
           for n in [term, *(c.get("aliases") or [])]) or _shares_root(term, key):
        # the definition names the term, or a form of it ("(plural = schemata)" for
        # "schema", "momentum" for "momenta"): the key would show itself
        return None, "term_in_definition"
    return _fit([key], words)[0], None


def _compatible(a: dict, b: dict, similarity, max_similarity: float) -> bool:
    """Can ``a``'s and ``b``'s definitions sit in one item, each a false option for the
    other's term? Not the same or a broader/narrower term ("rehearsal" / "elaborative
    rehearsal"), neither definition naming the other term or copying the other definition,
    not paraphrases (MiniLM), and each term sharing as many of its words with the other
    definition as with its own (a reader matching term words finds no key)."""
    ta, tb = stems(a["term"]), stems(b["term"])
    if not ta or not tb or ta <= tb or tb <= ta:
        return False
    for x, y in ((a, b), (b, a)):
        if verify_definition(x["term"], x.get("aliases") or [], x["option"], y["option"]):
            return False
        if _shares_root(x["term"], y["option"]):
            return False
        tx = stems(x["term"])
        if len(tx & stems(y["option"])) != len(tx & stems(x["option"])):
            return False
    return similarity is None or similarity(a["option"], b["option"]) < max_similarity


def definition_sets(concepts: list[dict], seed: int, similarity=None, words: int = 30,
                    tolerance: float = 0.2, max_similarity: float = 0.7, side=None
                    ) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Sets of four defined concepts of one discipline (same document first) whose
    definitions are each other's distractors: (concept id -> its set, concept id -> why it
    is in none).

    A balanced design: each set gives four items, one per term, over the same four options,
    so every option is the key exactly once. Whatever form an option has (length, wording,
    overlap with the other options), it is the key as often as a distractor, and a reader of
    form alone is at chance by construction. Distractors picked *for* a key are not: the
    ones a paraphrase check leaves are less like the key than like each other, so the key is
    the odd one out (measured: a surface classifier at 36% against a 25% prior). ``side``:
    concept -> a value no set mixes (a held-out document's concepts form sets of their own)."""
    why: dict[str, str] = {}
    usable: dict[tuple, list[dict]] = {}
    for c in sorted(concepts, key=lambda c: c["concept_id"]):
        option, err = _definition_ok(c, words)
        if err:
            why[c["concept_id"]] = err
            continue
        usable.setdefault((c.get("discipline_code") or "", bool(side(c)) if side else False),
                          []).append({**c, "option": option})
    sets: dict[str, list[dict]] = {}
    for disc, cs in sorted(usable.items()):
        rng = seeded_rng(seed, "definition_sets", disc[0], *(["held_out"] if disc[1] else []))
        rng.shuffle(cs)
        cs.sort(key=lambda c: c.get("doc_id") or "")  # documents together, drawn within
        free = list(cs)
        while free:
            c = free.pop(0)
            group = [c]
            # the same document first, then the discipline
            for d in sorted(free, key=lambda d: d.get("doc_id") != c.get("doc_id")):
                if all(_compatible(d, g, similarity, max_similarity) for g in group):
                    group.append(d)
                    lengths = [len(g["option"]) for g in group]
                    mean = sum(lengths) / len(lengths)
                    if max(abs(n - mean) for n in lengths) > tolerance * mean:
                        group.pop()
                        continue
                    if len(group) == 4:
                        break
            if len(group) < 4:
                why[c["concept_id"]] = "no_set_of_four_definitions"
                continue
            for g in group[1:]:
                free.remove(g)
            for g in group:
                sets[g["concept_id"]] = group
    return sets, why


def definition_match(concept: dict, group: list[dict], seed: int
                     ) -> tuple[dict | None, str | None]:
    """The item of ``concept`` over its set of four (``definition_sets``): which option is
    the definition of the term?"""
    term = concept["term"].strip()
    mine = next((g for g in group if g["concept_id"] == concept["concept_id"]), None)
    if mine is None or len(group) != 4:
        return None, "not_in_a_set"
    others = [g for g in group if g is not mine]
    rng = seeded_rng(seed, concept["concept_id"], "definition_match")
    options = [mine["option"], *(g["option"] for g in others)]
    order = [1, 2, 3]
    rng.shuffle(order)
    order.insert(rng.randrange(4), 0)  # the key's position (balanced again in finalize)
    question = (f"In {_domain(concept)}, which of the following is the definition of "
                f"\"{term}\"?")
    # the explanation names whose definitions the options are, never restating one: a
    # training row that teaches the term in the source's words shares nothing with it
    explanation = (f"The key is the source's definition of \"{term}\"; the other options "
                   "define " + ", ".join(f"\"{g['term'].strip()}\"" for g in others) + ".")
    facts = {"kind": "definition", "term": term, "definition": mine["option"]}
    return _pack(question, options, [0], explanation, "definition_match",
                 ["other_definition"] * 3, facts, order), None


def term_match(concept: dict, group: list[dict], seed: int
               ) -> tuple[dict | None, str | None]:
    """The reverse item of ``concept`` over its set of four: which of the set's terms has
    this definition? The set's terms were drawn so that each shares as many words with every
    other definition as with its own (``_compatible``): matching words finds no key."""
    mine = next((g for g in group if g["concept_id"] == concept["concept_id"]), None)
    if mine is None or len(group) != 4:
        return None, "not_in_a_set"
    others = [g for g in group if g is not mine]
    rng = seeded_rng(seed, concept["concept_id"], "term_match")
    terms = [mine["term"].strip(), *(g["term"].strip() for g in others)]
    order = [1, 2, 3]
    rng.shuffle(order)
    order.insert(rng.randrange(4), 0)
    definition = mine["option"].rstrip(".")
    question = f"In {_domain(concept)}, which term has this definition: \"{definition}\"?"
    explanation = (f"The source gives this definition for \"{terms[0]}\"; the other options "
                   "are terms of the same field that it defines otherwise.")
    facts = {"kind": "term", "term": terms[0], "definition": mine["option"]}
    return _pack(question, terms, [0], explanation, "term_match", ["other_term"] * 3, facts,
                 order), None


# --- L2: statement_truth --------------------------------------------------------------------

_TOKEN = re.compile(r"[\w’'-]+")
# words after which a clause may end: a conjunction or a subordinator; a preposition usually
# continues the phrase ("the ability | to think", "the rate | at which work is done")
_BOUNDARY_NEXT = frozenset(("and", "or", "but", "whereas", "while", "because", "when", "if",
                            "although", "though", "since", "unless"))


def render(s: dict) -> tuple[str, str, str] | None:
    """A statement as its source sentence words it: (subject + predicate, object, claim),
    with the articles and small words the triple dropped ("Friction causes the loss of
    some useful energy"); None when the triple cannot be found in order in its quote or
    its object stops mid-phrase ("Technology runs the gamut from the match | you strike").
    Without a quote, the triple itself."""
    quote = " ".join((s.get("source_quote") or "").split())
    subj, obj = s["subject"].strip(), s["object"].strip()
    if not quote:
        head = f"{subj} {s['predicate'].strip()}"
        return head, obj, _sentence(f"{head} {obj}")
    toks = [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(quote)]
    words_ = [t for t, _, _ in toks]

    def find(ws: list[str], start: int, slack: int = 2) -> tuple[int, int] | None:
        """First position >= start where ``ws`` occur in order, at most ``slack`` other
        words between two of them: (first token, last token)."""
        for i in range(start, len(words_)):
            if words_[i] != ws[0]:
                continue
            j, ok = i, True
            for w in ws[1:]:
                nxt = next((k for k in range(j + 1, min(len(words_), j + 2 + slack))
                            if words_[k] == w), None)
                if nxt is None:
                    ok = False
                    break
                j = nxt
            if ok:
                return i, j
        return None

    sw = [t.lower() for t in _TOKEN.findall(subj)]
    ow = [t.lower() for t in _TOKEN.findall(obj)]
    if not sw or not ow:
        return None
    a = find(sw, 0)
    if a is None:
        return None
    b = find(ow, a[1] + 1)
    if b is None:
        return None
    end = toks[b[1]][2]
    rest = quote[end:].lstrip()
    if rest and rest[0].isalnum() and words_[b[1] + 1] not in _BOUNDARY_NEXT:
        return None  # the object stops mid-phrase
    def with_article(i: int) -> int:  # the article before a phrase goes with it
        return i - 1 if i > 0 and words_[i - 1] in ("the", "a", "an") else i

    s0, o0 = with_article(a[0]), with_article(b[0])
    head = quote[toks[s0][1] : toks[o0][1]].strip()
    body = quote[toks[o0][1] : end].strip()
    return head, body, _sentence(f"{head} {body}")


def _claim(s: dict) -> str:
    r = render(s)
    return r[2] if r else _sentence(f"{s['subject'].strip()} {s['predicate'].strip()} "
                                    f"{s['object'].strip()}")


def _swap(s: dict, obj: str) -> str:
    r = render(s)
    head = r[0] if r else f"{s['subject'].strip()} {s['predicate'].strip()}"
    return _sentence(f"{head} {obj.strip()}")


def _object(s: dict) -> str:
    r = render(s)
    return r[1] if r else s["object"].strip()


def usable_statement(s: dict, max_words: int = 28, terms: list[frozenset] | None = None
                     ) -> bool:
    """A statement that reads on its own: a named subject (no pronoun), an object of its
    own, and a claim short enough to be an option. With ``terms`` (the stems of the
    discipline's concept terms), its subject must name one: a fact about a domain term
    ("Halophiles require a high salt concentration"), not a line of a worked example ("A
    celebrity actor owns homes in three countries")."""
    subj, obj = s["subject"].strip(), s["object"].strip()
    if terms is not None:
        have = stems(subj)
        if not any(t and t <= have for t in terms):
            return False
    if render(s) is None and (s.get("source_quote") or "").strip():
        return False  # not found in order in its sentence, or cut mid-phrase
    n = len(_claim(s).split())
    return (bool(subj) and bool(obj) and not _PRONOUN.match(subj) and 4 <= n <= max_words
            and len(content(subj)) >= 1 and len(content(obj)) >= 1)


def verify_swap(subject: str, obj: str, true_claims: list[str], sentences: list[str]
                ) -> str | None:
    """None when "subject … obj" is stated nowhere in the chunk; else why it might be true."""
    claim_words = stems(f"{subject} {obj}")
    for t in true_claims:
        if stems(t) >= claim_words:
            return "stated_by_a_statement"
    a, b = stems(subject), stems(obj)
    for s in sentences:  # a sentence naming both (all their words but one) may state it
        w = stems(s)
        if a and b and len(a & w) >= max(1, len(a) - 1) and len(b & w) >= max(1, len(b) - 1):
            return "co_occurs_in_a_sentence"
    return None


_GENERIC = re.compile(r"^(?:introduction|summary|review|key terms|glossary|exercises|"
                      r"preface|conclusion|chapter \d+|section \d+)$", re.I)


def _heading(h: str | None) -> str | None:
    h = _NUMBER.sub("", h or "").strip().strip(":")
    if 1 <= len(h.split()) <= 10 and re.search(r"[A-Za-z]{3}", h) and not _GENERIC.match(h):
        return h
    return None


def topic_of(chunk: dict) -> str | None:
    """What a document is about: its title, else its outermost heading, without numbers;
    None for a generic one ("Introduction", "Summary")."""
    for h in [chunk.get("title"), *(chunk.get("section_path") or [])]:
        if (t := _heading(h)) is not None:
            return t
    return None


def usable_statements(statements: list[dict], terms: list[frozenset] | None = None
                      ) -> list[dict]:
    """The statements an item can use, each subject and each object once."""
    usable, subj_seen, obj_seen = [], set(), set()
    for s in sorted(statements, key=lambda s: s["statement_id"]):
        if not usable_statement(s, terms=terms):
            continue
        ks, ko = frozenset(stems(s["subject"])), frozenset(stems(s["object"]))
        if ks in subj_seen or ko in obj_seen or ks == ko:
            continue
        subj_seen.add(ks)
        obj_seen.add(ko)
        usable.append(s)
    return usable


def statement_truth(chunk: dict, statements: list[dict], seed: int,
                    sentences: list[str], spare: list[dict] | None = None, part: int = 0,
                    similarity=None, alike: tuple[float, float] = (0.1, 0.8),
                    terms: list[frozenset] | None = None
                    ) -> tuple[dict | None, str | None]:
    """One item from the statements of a chunk (or of a section: the chunks under one
    heading); ``sentences``: their text's sentences (for the swap check), ``spare``:
    statements of the same document for a lone false option; ``part``: which four of the
    usable statements (a section with eight gives two items on different statements).
    ``similarity(a, b)``: cosine of two phrases (MiniLM in the stage); a swapped object
    must be of the same kind as the one it replaces (``alike[0]`` or more: "nausea" is no
    hard negative for "the identification of bacteria") yet not a paraphrase of it (below
    ``alike[1]``: that could make the false option true)."""
    topic = topic_of(chunk)
    if not topic:
        return None, "no_topic"
    usable = usable_statements(statements, terms)
    if len(usable) < 4 * (part + 1):
        return None, "fewer_than_4_usable_statements"
    rng = seeded_rng(seed, chunk["chunk_id"], "statement_truth")
    rng.shuffle(usable)
    if part:
        rng = seeded_rng(seed, chunk["chunk_id"], "statement_truth", str(part))
    chosen = usable[4 * part : 4 * part + 4]
    extra = usable[: 4 * part] + usable[4 * part + 4 :] + [
        s for s in (spare or []) if usable_statement(s, terms=terms)
        and s["chunk_id"] != chunk["chunk_id"]]
    pattern = rng.choice(PATTERNS)
    true_pos = [LETTERS.index(c) for c in pattern]
    false_pos = [k for k in range(4) if k not in true_pos]
    claims = [_claim(s) for s in statements]
    # each false option gets an object no other option carries: another false statement's,
    # else a spare statement's; the first assignment that passes every check (a small
    # search: a pattern with three false options must not be rarer than one with one)
    pool = [_object(chosen[k]) for k in false_pos] + [_object(s) for s in extra]
    pool = list(dict.fromkeys(pool))[:12]
    objs: dict[int, str] = {}

    def assign(n: int, used: set[str]) -> bool:
        if n == len(false_pos):
            return True
        k = false_pos[n]
        mine = _object(chosen[k])
        ranked = pool if similarity is None else sorted(
            pool, key=lambda o: (-similarity(mine, o), o))  # the hardest negative first
        for o in ranked:
            if o in used or o == mine or \
                    verify_swap(chosen[k]["subject"], o, claims, sentences) is not None:
                continue
            if similarity is not None and not \
                    alike[0] <= similarity(_object(chosen[k]), o) < alike[1]:
                continue
            objs[k] = o
            if assign(n + 1, used | {o}):
                return True
            del objs[k]
        return False

    assign(0, {_object(chosen[k]) for k in true_pos})
    if len(objs) != len(false_pos):
        return None, "no_verified_perturbation"
    options = [_swap(chosen[k], objs[k]) if k in objs else _claim(chosen[k]) for k in range(4)]
    if len({o.lower() for o in options}) < 4:
        return None, "duplicate_options"
    question = (f"In {_domain(chunk)}, on the topic \"{topic}\": which of the following "
                "statements are correct? More than one option may be correct.")
    explanation = ("Correct: " + " ".join(options[k] for k in true_pos)
                   + (" The others attach the object of another statement of the same text to "
                      "the wrong subject." if false_pos else ""))
    facts = {"kind": "truth", "true": [options[k] for k in true_pos]}
    item = _pack(question, options, true_pos, explanation, "statement_truth",
                 ["swapped_object"] * len(false_pos), facts, [0, 1, 2, 3])
    # every option tests one statement: a false one asks whether its subject does *that*
    item["statement_ids"] = sorted(s["statement_id"] for s in chosen)
    return item, None


# --- L3: step_after -------------------------------------------------------------------------

def _clean_step(step: str, words: int) -> str:
    return _sentence(trim_words(_LEAD.sub("", step.strip()), words))


def step_after(chain: dict, seed: int, other_steps: list[str], words: int = 22
               ) -> tuple[dict | None, str | None]:
    steps = [_clean_step(s, words) for s in chain["steps"]]
    if len(steps) < 3:
        return None, "chain_too_short"
    rng = seeded_rng(seed, chain["chain_id"], "step_after")
    cuts = [i for i in range(len(steps) - 1) if not _PRONOUN.match(steps[i])]
    if not cuts:
        return None, "no_self_contained_step"
    i = rng.choice(cuts)
    key = steps[i + 1]
    same = [s for j, s in enumerate(steps) if j not in (i, i + 1)]
    kinds = ["wrong_order"] * min(3, len(same))
    distract = sorted(same, key=lambda s: (abs(len(s) - len(key)), s))[:3]
    if len(distract) < 3:
        pool = sorted({_clean_step(s, words) for s in other_steps} - set(steps),
                      key=lambda s: (abs(len(s) - len(key)), s))
        distract += pool[: 3 - len(distract)]
        kinds += ["context_confusion"] * (3 - len(kinds))
    if len(distract) < 3 or any(stems(d) == stems(key) for d in distract):
        return None, "too_few_distractor_steps"
    name = (chain.get("process_name") or "the process").strip().rstrip(".")
    question = (f"In {_domain(chain)}, during the process \"{name}\", which of the following "
                f"happens immediately after this step: \"{steps[i].rstrip('.')}\"?")
    order = [1, 2, 3]
    rng.shuffle(order)
    order.insert(rng.randrange(4), 0)
    explanation = f"In {name}, \"{steps[i]}\" is followed by \"{key}\""
    facts = {"kind": "after", "steps": steps, "shown": i}
    return _pack(question, [key, *distract], [0], explanation, "step_after", kinds, facts,
                 order), None


SINGLE_KEY = ("definition_match", "term_match", "step_after")


def balance_keys(items: list[dict], seed: int) -> None:
    """Put the keys of single-key items on A-D equally often, per type (in place): the
    options of such an item are an unordered set, so moving the key with a rotation changes
    nothing else. A drawn position per item is uniform only on average; a reader that always
    answers the commonest letter would gain the deviation."""
    for kind in SINGLE_KEY:
        sub = sorted((i for i in items if i.get("question_type") == kind
                      and len(i["answer"]) == 1), key=lambda i: i["item_id"])
        rng = seeded_rng(seed, "balance", kind)
        rng.shuffle(sub)
        for n, it in enumerate(sub):
            it["options"], it["answer"] = rotate_key(it["options"], it["answer"], n % 4)


def solve_from_facts(item: dict) -> str | None:
    """Answer a closed-book item from its recorded facts (the rule answerability check)."""
    f = item.get("facts") or {}
    opts = item["options"]
    if f.get("kind") == "definition":
        return answer_letters(i for i, o in enumerate(opts) if o == f["definition"])
    if f.get("kind") == "term":
        return answer_letters(i for i, o in enumerate(opts) if o == f["term"])
    if f.get("kind") == "truth":
        true = set(f["true"])
        return answer_letters(i for i, o in enumerate(opts) if o in true)
    if f.get("kind") == "after":
        nxt = f["steps"][f["shown"] + 1]
        return answer_letters(i for i, o in enumerate(opts) if o == nxt)
    return None
