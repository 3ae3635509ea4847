"""Every table's Arrow schema, in one place.

Tables of the corpus ("spec") stage are final; the knowledge, tester, builder, evaluation and
debugger tables are first drafts that their issues will refine. Every row carries its id and
its provenance (DESIGN §3): statement -> chain -> chunk -> document (+ character offsets),
concept -> statements, bench item -> chain/statements/concepts, SFT sample ->
statements/concepts, patch -> failed items -> nodes.

Rejected rows of any table go to ``<table>.rejected`` with the schema ``REJECTED``: one row per
dropped input, with a machine-readable ``reason`` and a human-readable ``detail``.
"""

from __future__ import annotations

import pyarrow as pa

_str = pa.string()
_strs = pa.list_(pa.string())

DOCUMENTS = pa.schema(
    [
        pa.field("doc_id", _str, nullable=False),  # doc-<hash of source key>
        pa.field("source_path", _str, nullable=False),  # file, relative to its corpus root
        pa.field("source_id", _str),  # the record's own id, when the format has one
        # jsonl | json | parquet | text | markdown | html | pdf | docx
        pa.field("format", _str, nullable=False),
        pa.field("title", _str),
        pa.field("text", _str, nullable=False),  # normalized text; chunk offsets index into it
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_words", pa.int64(), nullable=False),
        pa.field("language", _str),  # ISO 639-1 guess, or "und"
        pa.field("encoding", _str),  # the encoding the bytes were decoded from
        pa.field("content_hash", _str, nullable=False),  # exact-duplicate key
        pa.field("discipline_code", _str),  # e.g. "001"
        pa.field("discipline", _str),  # e.g. "Physics"
        pa.field("discipline_source", _str),  # metadata | embedding | default
        pa.field("discipline_score", pa.float32()),  # cosine similarity (embedding) or 1.0
        pa.field("metadata_json", _str),  # every other input field, as JSON
    ]
)

CHUNKS = pa.schema(
    [
        pa.field("chunk_id", _str, nullable=False),  # chunk-<hash of doc_id + text + occurrence>
        pa.field("doc_id", _str, nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),  # order within the document
        pa.field("char_start", pa.int64(), nullable=False),  # documents.text[char_start:char_end]
        pa.field("char_end", pa.int64(), nullable=False),
        pa.field("section_path", _strs, nullable=False),  # headings enclosing the chunk
        pa.field("text", _str, nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),  # by the configured tokenizer
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("content_hash", _str, nullable=False),
        pa.field("quality_score", pa.float32(), nullable=False),
        pa.field("quality_signals_json", _str, nullable=False),
        pa.field("discipline_code", _str),
        pa.field("discipline", _str),
        pa.field("title", _str),
        pa.field("source_path", _str, nullable=False),
    ]
)

REJECTED = pa.schema(
    [
        pa.field("id", _str),  # doc_id / chunk_id / …; null when the input never got one
        pa.field("source_path", _str),
        pa.field("source_id", _str),
        pa.field("step", _str, nullable=False),  # read | decode | normalize | quality | dedup | …
        pa.field("reason", _str, nullable=False),  # machine-readable, e.g. near_duplicate
        pa.field("detail", _str),  # human-readable explanation
        pa.field("duplicate_of", _str),  # the kept representative, for dedup drops
        pa.field("preview", _str),  # the first characters of the dropped text, if any
    ]
)

# --- drafts for later stages (ids and provenance first; fields follow the method) ---------

CHAINS = pa.schema(
    [
        pa.field("chain_id", _str, nullable=False),
        pa.field("chunk_id", _str, nullable=False),
        pa.field("doc_id", _str, nullable=False),
        pa.field("discipline_code", _str),
        pa.field("domain_context", _str),
        pa.field("process_name", _str, nullable=False),
        pa.field("narrative_summary", _str),
        pa.field("preconditions", _strs),
        pa.field("negative_constraints", _strs),
        pa.field("steps", _strs, nullable=False),
        pa.field("statement_ids", _strs),
        pa.field("origin", _str),  # numbered_list | connectives | engine
    ]
)

STATEMENTS = pa.schema(
    [
        pa.field("statement_id", _str, nullable=False),
        pa.field("chain_id", _str),  # null: a statement of the chunk outside any chain
        pa.field("chunk_id", _str, nullable=False),
        pa.field("doc_id", _str, nullable=False),
        pa.field("discipline_code", _str),
        pa.field("step_index", pa.int32()),  # the chain step whose sentence it quotes
        pa.field("subject", _str, nullable=False),
        pa.field("predicate", _str, nullable=False),
        pa.field("object", _str, nullable=False),
        pa.field("source_quote", _str, nullable=False),
        # offsets of source_quote in the chunk text
        pa.field("quote_char_start", pa.int64(), nullable=False),
        pa.field("quote_char_end", pa.int64(), nullable=False),
        pa.field("grounding", _str, nullable=False),  # exact | normalized
        pa.field("origin", _str),  # relation_parse (the miner) | engine
        pa.field("concept_ids", _strs),
    ]
)

CONCEPTS = pa.schema(
    [
        pa.field("concept_id", _str, nullable=False),
        pa.field("term", _str, nullable=False),
        pa.field("aliases", _strs),
        pa.field("type", _str),
        pa.field("definition", _str),
        pa.field("statement_ids", _strs, nullable=False),
        pa.field("discipline_codes", _strs),
    ]
)

CONCEPT_MENTIONS = pa.schema(
    [
        # one concept as one extraction call named it; merge turns mentions into concepts
        pa.field("term", _str, nullable=False),
        pa.field("type", _str),
        pa.field("definition", _str),
        pa.field("source_quote", _str),  # the verbatim defining sentence or glossary line
        pa.field("origin", _str),  # the miner's pattern (called, copular, glossary...) | engine
        pa.field("statement_ids", _strs, nullable=False),
        pa.field("chain_id", _str),
        pa.field("chunk_id", _str, nullable=False),
        pa.field("doc_id", _str),
        pa.field("discipline_code", _str),
    ]
)

KC_INDEX = pa.schema(
    [
        pa.field("src_id", _str, nullable=False),
        pa.field("src_kind", _str, nullable=False),
        pa.field("relation", _str, nullable=False),  # e.g. chain_has_statement
        pa.field("dst_id", _str, nullable=False),
        pa.field("dst_kind", _str, nullable=False),
    ]
)

BENCH_ITEMS = pa.schema(
    [
        pa.field("item_id", _str, nullable=False),
        pa.field("split", _str, nullable=False),  # dev | test | reference (authors' items)
        pa.field("chain_id", _str),  # null: an item on statements (L2) or a concept (L1)
        pa.field("statement_ids", _strs),
        pa.field("concept_ids", _strs),
        pa.field("chunk_id", _str),  # null: a reference item (the authors' own exercise)
        pa.field("doc_id", _str, nullable=False),
        pa.field("discipline_code", _str),
        pa.field("question_type", _str),
        pa.field("level", _str),  # the knowledge level it tests: L1 | L2 | L3
        pa.field("question", _str, nullable=False),
        pa.field("options", _strs, nullable=False),  # exactly 4, A-D
        pa.field("answer", _str, nullable=False),  # sorted letters, e.g. "AC"
        pa.field("explanation", _str),
        pa.field("distractor_types", _strs),
        pa.field("generator", _str),  # template | llm | reference
    ]
)

SFT_SAMPLES = pa.schema(
    [
        pa.field("sample_id", _str, nullable=False),
        pa.field("dataset", _str, nullable=False),  # sft_v1, sft_v2, …
        # qa | single_choice | multi_choice | true_false
        pa.field("task_type", _str, nullable=False),
        pa.field("generator", _str, nullable=False),  # template | llm | patch | replay
        pa.field("prompt", _str, nullable=False),
        pa.field("response", _str, nullable=False),
        pa.field("statement_ids", _strs, nullable=False),
        pa.field("concept_ids", _strs),
        pa.field("discipline_code", _str),
    ]
)

TRAIN_METRICS = pa.schema(
    [
        pa.field("step", pa.int32(), nullable=False),
        pa.field("loss", pa.float64(), nullable=False),
        pa.field("val_loss", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("grad_norm", pa.float64()),
        pa.field("tokens", pa.int64()),
        pa.field("tokens_per_s", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("mfu", pa.float64()),  # GPUs only: 6·N·tokens/s ÷ peak FLOP/s
    ]
)

PREDICTIONS = pa.schema(
    [
        pa.field("prediction_id", _str, nullable=False),
        pa.field("item_id", _str, nullable=False),
        pa.field("model", _str, nullable=False),  # the model directory/URI or served name
        pa.field("split", _str, nullable=False),
        pa.field("chain_id", _str),  # the item's knowledge nodes (ids only; chain: L3 only)
        pa.field("statement_ids", _strs),
        pa.field("concept_ids", _strs),
        pa.field("cluster_id", _str),  # resampling unit of intervals: chain, else chunk, doc
        pa.field("discipline_code", _str),
        pa.field("question_type", _str),
        pa.field("gold", _str, nullable=False),  # sorted letters
        pa.field("raw_output", _str),
        pa.field("predicted", _str),  # sorted letters, "" when unparsed
        pa.field("parse_status", _str, nullable=False),  # letters | marker | … | unparsed
        pa.field("correct", pa.bool_(), nullable=False),  # exact set
        pa.field("partial_credit", pa.float32()),
        pa.field("error", _str),  # the engine's failure, if the request failed
    ]
)

NODE_ACCURACY = pa.schema(
    [
        pa.field("node_kind", _str, nullable=False),  # chain | statement | concept
        pa.field("node_id", _str, nullable=False),
        pa.field("split", _str, nullable=False),
        pa.field("items", pa.int32(), nullable=False),
        pa.field("correct", pa.int32(), nullable=False),
        pa.field("accuracy", pa.float64(), nullable=False),
    ]
)

NODE_FAILURES = pa.schema(
    [
        pa.field("rank", pa.int32(), nullable=False),  # 1 = weakest
        pa.field("node_kind", _str, nullable=False),
        pa.field("node_id", _str, nullable=False),
        pa.field("items", pa.int32(), nullable=False),  # dev items linked (directly or not)
        pa.field("failed", pa.int32(), nullable=False),
        pa.field("failure_rate", pa.float64(), nullable=False),
        pa.field("direct_items", pa.int32(), nullable=False),  # items naming the node
        pa.field("direct_failed", pa.int32(), nullable=False),
        pa.field("direct_failure_rate", pa.float64(), nullable=False),
        pa.field("failed_item_ids", _strs, nullable=False),
    ]
)

DIAGNOSES = pa.schema(
    [
        pa.field("diagnosis_id", _str, nullable=False),
        pa.field("item_id", _str, nullable=False),
        pa.field("round", pa.int32(), nullable=False),
        pa.field("label", _str, nullable=False),  # concept_gap | chain_break | unknown
        pa.field("node_ids", _strs, nullable=False),  # the item's direct nodes
        pa.field("evidence_json", _str),  # the rule, probe accuracy and every probe
        pa.field("confidence", pa.float32()),
        pa.field("discipline_code", _str),
        pa.field("chain_id", _str),
    ]
)

PATCHES = pa.schema(
    [
        pa.field("patch_id", _str, nullable=False),
        pa.field("sample_id", _str, nullable=False),  # in sft_samples.r<n+1>
        pa.field("round", pa.int32(), nullable=False),  # the round whose failures it repairs
        pa.field("failed_item_ids", _strs, nullable=False),
        pa.field("node_ids", _strs, nullable=False),
        pa.field("label", _str, nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "chunks": CHUNKS,
    "chains": CHAINS,
    "statements": STATEMENTS,
    "concepts": CONCEPTS,
    "concept_mentions": CONCEPT_MENTIONS,
    "extracted_chains": CHAINS,
    "extracted_statements": STATEMENTS,
    "kc_index": KC_INDEX,
    "bench_items": BENCH_ITEMS,
    "sft_samples": SFT_SAMPLES,
    "train_metrics": TRAIN_METRICS,
    "predictions": PREDICTIONS,
    "node_accuracy": NODE_ACCURACY,
    "node_failures": NODE_FAILURES,
    "diagnoses": DIAGNOSES,
    "patches": PATCHES,
}


def schema_for(table: str) -> pa.Schema:
    """The schema of a table name; ``X.rejected`` tables share ``REJECTED``."""
    if table.endswith(".rejected"):
        return REJECTED
    base = table.split(".", 1)[0]  # round / reference suffixes: predictions.r2, eval.base
    try:
        return TABLES[base]
    except KeyError:
        raise KeyError(f"no schema for table {table!r}; known: {sorted(TABLES)}") from None


def empty_table(table: str) -> pa.Table:
    return schema_for(table).empty_table()
