"""The deterministic, grounded miner: knowledge candidates read from the text itself.

Runs in every mode, before any engine. Per expository chunk:

- **L1 definitions**: definitional sentences ("X is called Y", "Y, known as ...", "X is
  defined as", "X refers to", "the term X", copular "X is a/the N that/of/by which ..."),
  appositive "N called X", and ``term: meaning`` glossary lines -> a term with its verbatim
  defining sentence.
- **L2 relations**: sentences whose dependency parse has a subject, a verb and an object ->
  (subject noun phrase, the quote's own verb phrase, object noun phrase).
- **L3 procedures**: numbered lists of sentence steps, and runs of 3+ sentences joined by
  sequence or causal connectives ("First", "Then", "Next", "As a result", "This causes") ->
  whole-sentence steps in source order, named by a phrase of the text that names a process.

Every candidate then passes ``gates``; a failed gate is a counted rejection. The engine's job
is to choose among candidates (``extract``), never to write what the miner grounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from proda_ray.knowledge import gates
from proda_ray.knowledge.text import Span, blocks, parse, sentences

_DET = {"the", "a", "an"}
_NP_PREPS = {"of", "in", "on", "at", "for", "with", "from", "within", "between", "among", "to",
             "like", "such"}
# light-verb idioms: "takes into account", "plays a role", "takes place"
_IDIOM_OBJECTS = {"account", "place", "part", "advantage", "care", "effect", "hold", "note",
                  "role", "roles", "sense", "use", "way", "turn"}
_SEQ = re.compile(
    r"^(?:(?:first|second|third)(?:ly)?(?!\s+(?:and|or)\b|-)|next|then|finally|lastly|subsequently|"
    r"afterward(?:s)?|after (?:this|that|which)|eventually|meanwhile|in turn|"
    r"as a result|consequently|in the (?:first|second|third|next|"
    r"final|last) (?:step|stage|phase)|during (?:this|the next)|at this (?:point|stage)|"
    r"once (?:this|that|the)|when this|this (?:causes|leads|results|allows|produces|"
    r"triggers|makes|creates|enables)|these (?:cause|lead|result|allow|produce)|"
    r"the (?:next|final|last|second|third) (?:step|stage|phase))\b", re.I)
_PROCESS_INTRO = re.compile(r"\b(steps?|stages?|phases?|process|procedure|cycle|sequence|"
                            r"method|mechanism|pathway|algorithm|as follows)\b", re.I)
_PAREN_REF = re.compile(r"\s*\((?:see )?(?:Figure|Fig\.|Table)[^)]*\)|\s*\(credit[^)]*\)",
                        re.I)


@dataclass
class Candidate:
    kind: str  # definition | relation | procedure
    origin: str  # the pattern that proposed it
    data: dict = field(default_factory=dict)


def _span_text(tokens) -> str:
    if not tokens:
        return ""
    doc = tokens[0].doc
    a, b = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    return doc.text[a:b]


def noun_phrase(tok, max_words: int = 8) -> str:
    """The noun phrase headed by ``tok``: its compounds/modifiers (and one "of" phrase),
    without a leading determiner, verbatim from the sentence."""
    keep = {"compound", "amod", "nummod", "poss", "nmod", "npadvmod", "det", "quantmod",
            "case", "advmod"}
    left = [t for t in tok.lefts if t.dep_ in keep]
    toks = sorted({tok, *(x for t in left for x in t.subtree)}, key=lambda t: t.i)
    # contiguous run ending at the head
    run = [t for t in toks if t.i >= (toks[0].i if toks else tok.i) and t.i <= tok.i]
    run = [t for t in tok.doc[run[0].i : tok.i + 1]] if run else [tok]
    for r in tok.rights:  # one prepositional complement: "the production of proteins",
        # "the nitrogen atom in ammonia"; without it the phrase would be a different claim,
        # so a complement too long to keep means no phrase at all
        if r.dep_ == "prep" and r.lower_ in _NP_PREPS and r.i == run[-1].i + 1:
            objs = [c for c in r.children if c.dep_ in ("pobj", "pcomp")]
            if objs:
                end = objs[0].right_edge
                cand = tok.doc[run[0].i : end.i + 1]
                base = tok.doc[run[0].i : objs[0].i + 1]  # up to the complement's head noun
                after = tok.i - run[0].i + 1
                clean = lambda span, after=after: not any(  # noqa: E731
                    (t.pos_ in ("VERB", "AUX", "PRON") and t.dep_ not in ("amod", "compound"))
                    or t.dep_ in ("relcl", "cc", "acl") for t in span[after:])
                if len(cand) <= max_words and clean(cand):
                    run = list(cand)
                elif len(base) <= max_words and clean(base) and objs[0].pos_ == "NOUN" and \
                        all(c.dep_ in ("relcl", "punct") for c in objs[0].rights):
                    run = list(base)  # "growth of a desired microorganism [that ...]"
                else:
                    return ""
            break
    while run and (run[0].lower_ in _DET or run[0].is_punct):
        run = run[1:]
    while run and run[-1].is_punct:
        run = run[:-1]
    if not run or len(run) > max_words:
        return ""
    return _span_text(run)


def _verb_phrase(verb) -> tuple[str, int]:
    """The verb phrase of ``verb`` as written: auxiliaries, negation, adverbs between them,
    the verb and its particle (contiguous tokens); and the index after it."""
    parts = [c for c in verb.lefts if c.dep_ in ("aux", "auxpass", "neg")] + [verb]
    parts += [c for c in verb.rights if c.dep_ in ("prt", "neg") and c.i == verb.i + 1]
    a, b = min(t.i for t in parts), max(t.i for t in parts)
    span = verb.doc[a : b + 1]
    if len(span) > 6:
        return "", b + 1
    return span.text, b + 1


def relations(sentence: Span, doc) -> list[dict]:
    """(subject, predicate, object) candidates of one sentence from its parse."""
    out = []
    verbs = [t for t in doc if t.dep_ == "ROOT" and t.pos_ in ("VERB", "AUX")]
    verbs += [t for t in doc if t.dep_ == "conj" and t.pos_ == "VERB" and t.head in verbs
              and any(c.dep_.startswith("nsubj") for c in t.children)]
    for v in verbs:
        subj = [c for c in v.children if c.dep_ in ("nsubj", "nsubjpass")]
        if not subj:
            continue
        s_head = subj[0]
        if s_head.pos_ not in ("NOUN", "PROPN") or s_head.lower_ in gates.PRONOUNS:
            continue
        if any(c.dep_ in ("conj", "relcl", "acl") for c in s_head.children):
            continue  # "A, B and C form ...", "Microbes that need X are ...": the subject
            # without its conjuncts or its restrictive clause would make a false claim
        pred, after = _verb_phrase(v)
        if not pred:
            continue
        obj_tok, prep = None, None
        direct = [c for c in v.rights if c.dep_ in ("dobj", "attr", "oprd", "acomp")]
        for c in v.rights:
            if c.dep_ in ("dobj", "attr", "oprd", "acomp") and c.pos_ in ("NOUN", "PROPN"):
                obj_tok = c
                break
            if c.dep_ in ("prep", "agent") and c.i == after and not direct:
                pobj = [x for x in c.children if x.dep_ == "pobj" and x.pos_ in
                        ("NOUN", "PROPN")]
                if pobj:
                    obj_tok, prep = pobj[0], c
                    break
        if obj_tok is None:
            continue
        if obj_tok.lower_ in _IDIOM_OBJECTS:
            continue
        subject, obj = noun_phrase(s_head), noun_phrase(obj_tok)
        if not subject or not obj:
            continue
        if prep is not None and prep.lower_ == "from":  # "move from X to Y": Y belongs too
            goal = [c for c in v.rights if c.dep_ == "prep" and c.i > obj_tok.i and
                    c.lower_ in ("to", "into", "onto")]
            if goal:
                pob = [x for x in goal[0].children if x.dep_ == "pobj"]
                tail = noun_phrase(pob[0]) if pob else ""
                joined = f"{obj} {goal[0].text} {tail}"
                if not tail or (joined.lower() not in doc.text.lower().replace("the ", "") \
                        and f"{obj} {goal[0].text} the {tail}".lower() not in doc.text.lower()):
                    continue  # the goal cannot be kept verbatim: no statement
                obj = joined if joined.lower() in doc.text.lower() else \
                    f"{obj} {goal[0].text} the {tail}"
        if prep is None:  # "convert X into Y", "classify X as Y": the complement belongs
            comp = [c for c in v.rights if c.dep_ == "prep" and c.i > obj_tok.i and
                    c.lower_ in ("into", "as", "to", "onto", "from")]
            pobj = [x for x in comp[0].children if x.dep_ == "pobj"] if comp else []
            if pobj:
                tail = noun_phrase(pobj[0])
                whole = doc.text[doc.text.lower().find(obj.lower()):]
                joined = f"{obj} {comp[0].text} "
                if tail and whole.lower().startswith(joined.lower()) and \
                        len(obj.split()) + len(tail.split()) <= 9:
                    rest = whole[len(joined):]
                    if rest.lower().startswith(tail.lower()) or \
                            rest.lower().split(tail.lower())[0].count(" ") <= 2:
                        end = rest.lower().find(tail.lower()) + len(tail)
                        obj = whole[: len(joined) + end]
        predicate = pred + (f" {prep.text}" if prep is not None else "")
        out.append({"subject": subject, "predicate": predicate, "object": obj,
                    "source_quote": sentence.text, "origin": "relation_parse"})
    return out


_CALLED = {"call", "term", "name", "dub"}


def _a_name(t) -> bool:
    """"known as X" names X, unless X is one side of a comparison ("referred to as a
    relative rather than absolute measurement")."""
    return not any(c.lower_ == "than" for c in t.children)


def definitions(sentence: Span, doc) -> list[dict]:
    """(term, defining sentence) candidates of one sentence."""
    out: list[tuple[str, str]] = []
    for t in doc:
        lem = t.lemma_.lower()
        # "... are called X", "proteins called X", "is termed X"
        named = [c for c in t.children if c.dep_ in ("nsubjpass", "nsubj")]
        if lem in _CALLED and t.pos_ == "VERB" and not any(
                c.lower_ in gates.PRONOUNS for c in named):
            for c in t.children:
                if c.dep_ in ("oprd", "attr", "dobj") and c.pos_ in ("NOUN", "PROPN", "ADJ") \
                        and c.i > t.i:
                    out.append((noun_phrase(c, 5), "called"))
        # "known as X", "referred to as X"
        if lem in ("know", "refer") and t.pos_ == "VERB":
            for p in t.children:
                if p.lower_ == "as":
                    out += [(noun_phrase(c, 5), "known_as") for c in p.children
                            if c.dep_ == "pobj" and c.pos_ in ("NOUN", "PROPN")
                            and _a_name(c)]
                if lem == "refer" and p.lower_ == "to" and t.dep_ == "ROOT":
                    out += [(noun_phrase(c, 5), "refers_to") for c in t.children
                            if c.dep_ == "nsubj"]
        # "X is defined as ..."
        if lem == "define" and t.dep_ == "ROOT" and any(c.lower_ == "as"
                                                        for c in t.children):
            out += [(noun_phrase(c, 5), "defined_as") for c in t.children
                    if c.dep_ == "nsubjpass"]
        # "which economists call X-ing ...": the name is the verb's clausal complement
        if lem == "call" and t.pos_ == "VERB":
            for c in t.children:
                if c.dep_ == "xcomp" and c.i > t.i and c.right_edge.i - c.i < 5:
                    out.append((doc[c.i : c.right_edge.i + 1].text.rstrip(".,;"), "called"))
        # "the term X ...", "the word X"
        if t.lower_ in ("term", "terms", "word") and t.i + 1 < len(doc) and t.i > 0 and \
                doc[t.i - 1].lower_ in ("the", "this", "a", "our"):
            nxt = [c for c in t.children if c.dep_ in ("appos", "compound")] or []
            out += [(noun_phrase(c, 5), "the_term") for c in nxt if c.i > t.i]
            if t.dep_ == "compound" and t.head.i > t.i:
                out.append((re.sub(r"^(?:term|terms|word)\s+", "", noun_phrase(t.head, 6)),
                            "the_term"))
        # "X—that is, Y" / "X, that is, Y": a gloss of the noun phrase before the dash
        if t.text in ("—", "–", ",") and t.i + 2 < len(doc) and \
                doc[t.i + 1].lower_ == "that" and doc[t.i + 2].lower_ == "is" and t.i > 0:
            prev = doc[t.i - 1]
            if prev.pos_ in ("NOUN", "PROPN") and prev.dep_ in ("attr", "nsubj", "nsubjpass",
                                                                 "dobj", "appos", "ROOT"):
                out.append((noun_phrase(prev, 5), "that_is"))
    # copular: "X is a/the N that/which/of/by/in ..." or "X is a <modifier> N" at the start
    root = [t for t in doc if t.dep_ == "ROOT"]
    if root and root[0].lemma_ == "be" and root[0].lower_ in ("is", "are"):
        r = root[0]
        subj = [c for c in r.children if c.dep_ == "nsubj"]
        attr = [c for c in r.children if c.dep_ == "attr" and c.pos_ == "NOUN"]
        if subj and attr and _term_subject(subj[0]):
            a = attr[0]
            has_det = any(c.dep_ == "det" and c.lower_ in ("a", "an", "the") for c in a.children)
            restricted = any(c.dep_ in ("relcl", "acl", "prep") for c in a.children)
            if has_det and restricted and a.lemma_.lower() not in _NON_DEFINING and \
                    a.lower_ not in gates.GENERIC_TERMS - {"process", "form", "type", "kind"}:
                out.append((noun_phrase(subj[0], 5), "copular"))
    # operational: "X is calculated/measured/determined by ...", "X describes/measures ...",
    # "X consists of ...", "X occurs when ..."
    if root and _term_subject_any(root[0]):
        r = root[0]
        lem = r.lemma_.lower()
        subj = [c for c in r.children if c.dep_ in ("nsubj", "nsubjpass")]
        # "Estimates indicate that …": a finding reported, not what the subject is (a law
        # "states that …" is the exception)
        reports = lem != "state" and any(c.dep_ == "ccomp" for c in r.children)
        if subj and not reports and (
                (lem in _OPERATIONAL_PASSIVE and subj[0].dep_ == "nsubjpass") or
                (lem in _OPERATIONAL_ACTIVE and subj[0].dep_ == "nsubj" and
                 r.tag_ in ("VBZ", "VBP"))):
            out.append((noun_phrase(subj[0], 5), "operational"))
    # appositive / parenthetical: "X, or Y, ..." and "X (Y)" where Y is an abbreviation
    for t in doc:
        if t.dep_ == "appos" and t.head.pos_ in ("NOUN", "PROPN") and any(
                c.lower_ == "or" for c in t.head.children if c.i < t.i):
            out.append((noun_phrase(t, 5), "or_appositive"))
    people = {e.text.lower() for e in doc.ents if e.label_ == "PERSON"}
    rows, seen = [], set()
    for term, how in out:
        term = term.strip()
        if term.lower() in people:
            continue  # "Walter Kohn is a physicist who ...": a person, not a term
        if term and term.lower() not in seen:
            seen.add(term.lower())
            rows.append({"term": term, "definition": _PAREN_REF.sub("", sentence.text),
                         "source_quote": sentence.text, "origin": how})
    return rows


# "X is a vestige of / a cause of / an example of ...": true, but not what X is
_NON_DEFINING = {"vestige", "cause", "result", "example", "consequence", "source", "factor",
                 "reason", "sign", "symptom", "part", "key", "way", "means", "step", "topic",
                 "focus", "goal", "problem", "question", "issue", "challenge", "concern",
                 "contributor", "driver", "predictor", "indicator", "measure", "feature"}
_OPERATIONAL_PASSIVE = {"calculate", "measure", "determine", "define", "give", "obtain",
                        "express", "characterize", "compute", "represent"}
_OPERATIONAL_ACTIVE = {"describe", "measure", "represent", "quantify", "consist", "refer",
                       "denote", "mean", "occur", "involve", "indicate", "explain", "state"}


def _term_subject_any(verb) -> bool:
    subj = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")]
    return bool(subj) and _term_subject(subj[0])


def _term_subject(s) -> bool:
    """A subject that can be a term: a noun at the start of the sentence, not generic,
    not demonstrative or quantified, without a restrictive clause."""
    return (s.pos_ in ("NOUN", "PROPN") and s.left_edge.i <= 1
            and noun_phrase(s).lower() not in gates.GENERIC_TERMS
            and s.lower_ not in gates.PRONOUNS
            and not any(c.dep_ == "det" and c.lower_ in (
                "this", "these", "that", "those", "such", "some", "many", "most", "each",
                "every", "all", "both", "another", "other")
                for c in s.children)
            and not any(c.dep_ in ("relcl", "acl", "conj") for c in s.children))


def glossary(text: str) -> list[dict]:
    """``term: meaning`` lines (author-written glossaries)."""
    out = []
    for b in blocks(text):
        if b.kind != "glossary":
            continue
        term, _, meaning = b.text.partition(": ")
        term = re.sub(r"\s*\([^)]*\)$", "", term).strip()
        out.append({"term": term, "definition": meaning.strip(), "source_quote": b.text,
                    "origin": "glossary"})
    return out


_CLAUSE = re.compile(r"^(?:as|when|once|after|upon)\b", re.I)
_CAUSAL_ANAPHOR = re.compile(
    r"^(?:this|these|that|such|the result(?:ing)?(?: \w+)?|in turn,?)(?: \w+){0,3}? "
    r"(?:(?:will|can|may|then|in turn|also) )?(?:causes?|caused|leads?|results?|produces?|"
    r"triggers?|makes?|allows?|enables?|increases?|decreases?|reduces?|raises?|lowers?|"
    r"drives?|forces?|creates?|releases?|forms?|activates?|inhibits?|stimulates?|sets? off|"
    r"brings? about|gives? rise)\b", re.I)
_THEN = {"then", "subsequently", "next", "finally", "eventually", "later", "afterward",
         "afterwards", "thereafter", "thereby"}
_STEPS = re.compile(r"\b(steps?|stages?|phases?|procedure)\b", re.I)
_ORDINAL = re.compile(r"^connective:(?:first|second|third|firstly|secondly|thirdly|lastly|"
                      r"finally)", re.I)
_NOT_A_SEQUENCE = re.compile(r"\b(reasons?|ways|factors|advantages|disadvantages|benefits|"
                             r"types|kinds|examples|characteristics|features|properties|"
                             r"postulates|assumptions|criteria|principles|rules|problems|"
                             r"arguments|explanations|disagreements|differences|"
                             r"similarities|criticisms|concerns|goals|aims|questions|issues|"
                             r"limitations|points|ideas|lessons|conclusions|findings|components|"
                             r"elements|parts|ingredients|conditions)\b", re.I)
_LINK_DEPS = ("dobj", "pobj", "attr", "oprd", "conj", "appos")


def _nouns(doc, deps) -> set[str]:
    return {t.lemma_.lower() for t in doc if t.pos_ in ("NOUN", "PROPN") and t.dep_ in deps
            and t.lower_ not in gates.GENERIC_TERMS}


def _subject_nouns(doc) -> set[str]:
    out = set()
    for t in doc:
        if t.dep_ in ("nsubj", "nsubjpass") and t.head.dep_ == "ROOT":
            out |= {x.lemma_.lower() for x in t.subtree if x.pos_ in ("NOUN", "PROPN")}
    return out - gates.GENERIC_TERMS


def _is_action(doc) -> bool:
    if doc is None:
        return False
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    return root is not None and root.pos_ == "VERB" and root.lemma_ not in (
        "be", "have", "include", "contain", "seem", "appear", "remain", "consist")


_RESULT_ANAPHOR = re.compile(r"^(?:the resulting|the result(?:ing)? of|the products?|the "
                             r"newly (?:formed|made))\b", re.I)
# verbs of change: a step of a process does something to something
_CHANGE_VERBS = {
    "produce", "form", "convert", "split", "release", "break", "move", "transfer", "enter",
    "bind", "attach", "combine", "reduce", "oxidize", "absorb", "emit", "flow", "pump",
    "pass", "deliver", "carry", "transport", "build", "synthesize", "divide", "replicate",
    "trigger", "activate", "cause", "increase", "decrease", "rise", "fall", "cool", "heat",
    "expand", "contract", "dissolve", "react", "travel", "reach", "leave", "generate",
    "yield", "regenerate", "excite", "transform", "change", "create", "destroy",
    "fuse", "join", "separate", "cross", "diffuse", "spread", "infect", "invade", "kill",
    "multiply", "grow", "shrink", "open", "close", "fire", "send", "receive", "store",
    "retrieve", "encode", "transmit", "lower", "raise", "push", "pull", "shift", "drop",
    "decay", "emerge", "develop", "evolve", "migrate", "accumulate", "deposit", "erode",
    "melt", "freeze", "evaporate", "condense", "precipitate", "ionize", "collide", "bounce",
    "accelerate", "slow", "stop", "start", "begin", "end", "replace", "remove", "add",
    "insert", "copy", "translate", "transcribe", "express", "fold", "unfold", "cleave",
    "digest", "engulf", "secrete", "stimulate", "inhibit", "block", "recruit", "signal",
}


def _changes(doc) -> bool:
    """The sentence's main verb (or one conjoined to it) is a verb of change. The tagger
    sometimes reads a verb as a noun ("Glycolysis splits glucose"), so surface forms count."""
    if doc is None:
        return False
    for t in doc:
        if t.dep_ in ("ROOT", "conj") and (t.dep_ == "ROOT" or t.head.dep_ == "ROOT"):
            w = t.lower_
            forms = {t.lemma_.lower(), w, w[:-1], w[:-2], w[:-3] + "y" if w.endswith("ies")
                     else w}
            if forms & _CHANGE_VERBS and (t.tag_.startswith("VB") or t.dep_ == "ROOT"):
                return True
    return False


def _imperative(doc) -> bool:
    return doc is not None and len(doc) > 0 and doc[0].tag_ == "VB"


def _link(prev: str, cur: str, docs: dict, depth: int) -> str:
    """What joins sentence ``cur`` to ``prev`` in a process ("" when nothing does): a
    sequence or causal connective, a causal anaphor ("This causes", "These conditions will
    decrease"), or, once a run has begun, a temporal clause about what came before."""
    m = _SEQ.match(cur)
    if m:
        return f"connective:{m.group(0)}"
    pd, cd = docs.get(prev), docs.get(cur)
    if cd is not None:  # "The complex then binds to mRNA": a sequence adverb on the verb
        root = next((t for t in cd if t.dep_ == "ROOT"), None)
        adv = [c for c in root.children if c.dep_ == "advmod" and c.lower_ in _THEN] \
            if root is not None else []
        if adv:
            return f"sequence:{adv[0].lower_}"
    m = _CAUSAL_ANAPHOR.match(cur)
    if m and cd is not None:  # the causal word must be the verb ("This force" is a noun)
        end = m.end()
        verb = next((t for t in cd if t.idx < end <= t.idx + len(t.text)), None)
        if verb is not None and verb.pos_ in ("VERB", "AUX"):
            return f"causal:{m.group(0)}"
    m = _RESULT_ANAPHOR.match(cur)
    if m and _changes(cd):
        return f"result:{m.group(0)}"
    if _changes(pd) and _changes(cd):  # an entity passed on: produced, then acted on
        shared = _nouns(pd, _LINK_DEPS) & _subject_nouns(cd)
        if shared:
            return f"entity:{sorted(shared)[0]}"
    m = _CLAUSE.match(cur)
    if m and depth >= 2 and pd is not None and cd is not None and \
            _nouns(pd, (*_LINK_DEPS, "nsubj", "nsubjpass")) & {
                t.lemma_.lower() for t in cd if t.pos_ == "NOUN"}:
        return f"clause:{m.group(0)}"
    return ""


def procedures(text: str, sents: list[Span], headings: list[str], docs: dict | None = None
               ) -> list[dict]:
    """L3 candidates: numbered lists of sentence steps; connective runs of sentences."""
    out = []
    docs = docs or {}
    index = {s.start: i for i, s in enumerate(sents)}
    bl = blocks(text)
    # numbered lists: consecutive numbered blocks whose first sentence is a step
    i = 0
    while i < len(bl):
        if bl[i].kind != "numbered":
            i += 1
            continue
        j = i
        while j < len(bl) and bl[j].kind == "numbered":
            j += 1
        steps, pos = [], []
        for b in bl[i:j]:
            first = next((s for s in sents if b.start <= s.start < b.end), None)
            if first is not None and len(first.text.split()) >= 4:
                steps.append(first)
                pos.append(index[first.start])
        intro = [s for s in sents if s.end <= bl[i].start][-1:]
        lead = bl[i - 1].text if i > 0 and bl[i - 1].kind in ("heading", "paragraph") else ""
        said = lead + " " + " ".join(s.text for s in intro)
        acts = sum(_is_action(docs.get(s.text)) or _imperative(docs.get(s.text))
                   for s in steps)
        listing = _NOT_A_SEQUENCE.search(said) and not _STEPS.search(said)
        if len(steps) >= 3 and len(steps) == j - i and _PROCESS_INTRO.search(said) and \
                not listing and acts * 2 >= len(steps):
            out.append({"steps": steps, "positions": pos,
                        "links": ["numbered list"] * len(steps),
                        "context": [lead, *(s.text for s in intro)],
                        "origin": "numbered_list"})
        i = j
    # linked runs inside one paragraph: each sentence follows from the one before by a
    # sequence/causal connective, a temporal or causal clause, an anaphor ("This energy",
    # "The resulting molecules") or an entity passed on (the object of one sentence is the
    # subject of the next); most steps must be actions, not descriptions ("is", "has")
    para_of = {}
    for bi, b in enumerate(bl):
        for k, s in enumerate(sents):
            if b.start <= s.start < b.end:
                para_of[k] = bi
    run: list[int] = []
    links: list[str] = []

    def flush():
        if len(run) >= 3:
            steps = [sents[k] for k in run]
            actions = sum(_is_action(docs.get(s.text)) for s in steps)
            before = sents[run[0] - 1].text if run[0] > 0 else ""
            ordinal_only = all(_ORDINAL.match(x) for x in links[1:])
            said = before + " " + steps[0].text
            listing = _NOT_A_SEQUENCE.search(said) and not _STEPS.search(said)
            if actions >= max(2, len(steps) - 1) and not (ordinal_only and (
                    listing or not _PROCESS_INTRO.search(before + " " + steps[0].text))):
                out.append({"steps": steps, "positions": list(run), "links": list(links),
                            "context": [before], "origin": "linked_sentences"})

    for k, s in enumerate(sents):
        link = ""
        if run and run[-1] == k - 1 and para_of.get(k) == para_of.get(k - 1):
            link = _link(sents[k - 1].text, s.text, docs, len(run))
        if link:
            run.append(k)
            links.append(link)
        else:
            flush()
            run, links = [k], [""]
    flush()
    for c in out:
        c["headings"] = [h for h in headings if h]
        near = [b.text for b in bl if b.kind == "heading" and b.end <= c["steps"][0].start]
        if near:
            c["headings"].append(near[-1])  # the nearest heading above the steps comes first
    return out


_NOT_A_NAME = re.compile(r"\b(learning objectives?|learning outcomes?|introduction|summary|"
                         r"review|questions?|exercises?|key (?:terms|concepts)|glossary|"
                         r"check your|link to learning|clinical focus|case in point|"
                         r"micro connections|eye on ethics|chapter outline)\b", re.I)


def process_names(cand: dict, docs: dict[str, object]) -> list[str]:
    """Phrases of the text that may name a candidate procedure: the nearest heading when it
    names a process (the author's own name; then it is the only one), else process noun
    phrases of the context and of the steps' subjects, then the section headings that name
    a process. Headings such as "Learning Objectives" or "Introduction" never do."""
    stripped = [re.sub(r"^(?:the|a|an)\s+", "", h, flags=re.I)
                for h in cand.get("headings", [])]
    heads = [h for h in stripped if not _NOT_A_NAME.search(h) and _heading_names_process(h)]
    if heads and heads[-1] == stripped[-1]:
        return [heads[-1]]  # the nearest heading names the process: the author's own name
    names = []
    context = [t for t in cand.get("context", []) if t]
    for t in context + [s.text for s in cand["steps"]]:
        doc = docs.get(t)
        if doc is None:
            continue
        for nc in doc.noun_chunks:
            # in a step, only its subject may name the process ("Glycolysis splits
            # glucose"); what a step acts on or causes ("inhibiting translation") does not
            if t not in context and nc.root.dep_ not in ("nsubj", "nsubjpass"):
                continue
            phrase = noun_phrase(nc.root)
            if phrase and not gates.process_name_ok(phrase, t) and \
                    _heading_names_process(phrase):
                names.append(phrase)
    names += list(reversed(heads))
    return list(dict.fromkeys(names))


_HEADING_LEAD = re.compile(r"\s+(?:of|for|and|in|on|to|with|from|by|versus|vs\.?)\s+|:\s*|"
                           r"\s+\(", re.I)


def _heading_names_process(heading: str) -> bool:
    """A heading names a process when its lead phrase does: "DNA Replication in Eukaryotes",
    "Kirby-Bauer Disk Diffusion Test"; not "Applications of Diffraction", "Physics of
    Surfing", "Microbes and the Tools of Genetic Engineering", "Procedure for Part (a)"."""
    lead = _HEADING_LEAD.split(heading, maxsplit=1)[0].strip()
    return bool(lead) and gates.process_name_ok(lead, lead) is None


@dataclass
class Mined:
    definitions: list[dict] = field(default_factory=list)
    relations: list[dict] = field(default_factory=list)
    procedures: list[dict] = field(default_factory=list)
    sentences: list[Span] = field(default_factory=list)
    docs: dict = field(default_factory=dict)


def mine(text: str, headings: list[str] | None = None, role: str = "expository") -> Mined:
    """All candidates of one chunk (``role`` from ``roles.chunk_role``)."""
    m = Mined()
    m.definitions = glossary(text)
    if role != "expository":
        return m
    m.sentences = sentences(text)
    extra = [b.text for b in blocks(text) if b.kind in ("heading", "paragraph")]
    texts = list(dict.fromkeys([s.text for s in m.sentences] + extra))
    m.docs = dict(zip(texts, parse(texts), strict=True))
    for s in m.sentences:
        doc = m.docs[s.text]
        m.definitions += definitions(s, doc)
        rels = relations(s, doc)
        for r in rels:
            r["sentence_index"] = m.sentences.index(s)
        m.relations += rels
    m.procedures = procedures(text, m.sentences, headings or [], m.docs)
    for p in m.procedures:
        p["names"] = process_names(p, m.docs)
    return m
