"""Configuration of the corpus ("spec") stage. Every field has a default that works."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from proda_ray.configmodel import ConfigModel


class FieldMapping(ConfigModel):
    """Which record fields hold what, for record formats (JSONL, Parquet)."""

    id: str | None = Field(default="id", description="Record id field (None: path#line).")
    text: str = Field(default="text", description="Field with the document text.")
    title: str | None = Field(default="title", description="Field with the title, if any.")
    discipline: str | None = Field(
        default="discipline_code",
        description="Field with a discipline code or name; mapped onto the taxonomy.",
    )
    discipline_fallback: str | None = Field(
        default="discipline", description="Second field tried for the discipline."
    )


class ReadConfig(ConfigModel):
    fields: FieldMapping = Field(default_factory=FieldMapping)
    max_file_bytes: int = Field(
        default=256 * 2**20,
        description="Non-streamable files (PDF, DOCX, HTML, text) above this are rejected "
        "as file_too_large instead of being loaded into memory.",
    )
    max_doc_chars: int = Field(
        default=5_000_000, description="Documents longer than this are rejected (too_large)."
    )
    min_doc_chars: int = Field(
        default=1, description="Documents shorter than this (after normalization) are empty."
    )
    shard_bytes: int = Field(
        default=2 * 2**20,
        description="Files are grouped into shards of about this much text (compressed files "
        "count 5x); a shard is the unit of parallelism and of resumption.",
    )


class NormalizeConfig(ConfigModel):
    unicode_form: str = Field(default="NFC", description="Unicode normalization form.")
    boilerplate_patterns: list[str] = Field(
        default_factory=lambda: [
            r"(?i)^\s*page \d+( of \d+)?\s*$",
            r"^\s*\d{1,4}\s*$",
            r"(?i)^\s*(copyright|©).{0,80}all rights reserved\.?\s*$",
            r"(?i)^\s*access for free at \S+\s*$",
            r"(?i)^\s*this page (is )?intentionally left blank\.?\s*$",
        ],
        description="Regexes for whole lines to drop (page numbers, running footers, …).",
    )
    max_line_repeats: int = Field(
        default=4,
        description="In paged formats (PDF), a short line (< 80 chars) repeated more often "
        "than this in one document is a running header/footer and is dropped (0 disables).",
    )
    min_decode_confidence: float = Field(
        default=0.8,
        description="Non-UTF-8 bytes are decoded with the detected charset only if at least "
        "this share of characters decode cleanly; otherwise rejected (undecodable).",
    )
    allowed_languages: list[str] | None = Field(
        default=None,
        description="ISO 639-1 codes to keep (None keeps all; the guess is stored either way).",
    )


class ChunkConfig(ConfigModel):
    @model_validator(mode="after")
    def _overlap_below_half(self) -> ChunkConfig:
        if self.overlap_tokens * 2 > self.max_tokens:
            raise ValueError("chunk.overlap_tokens must be at most half of chunk.max_tokens")
        return self

    max_tokens: int = Field(default=1024, ge=16, description="Token budget per chunk.")
    overlap_tokens: int = Field(
        default=64, ge=0, description="Tokens of the previous chunk repeated at the next start."
    )
    section_fill: float = Field(
        default=0.5, ge=0, le=1,
        description="A chunk closes early at a heading once it holds this share of the budget "
        "(so sections start chunks without producing many tiny ones).",
    )
    tokenizer: str = Field(
        default="minilm",
        description="'minilm' (bundled WordPiece), or a tokenizer.json / HF directory path.",
    )
    max_chars: int | None = Field(
        default=None, ge=256, description="A hard bound on a chunk's characters beside the "
        "token budget (None: 16 x max_tokens, about 4x what ordinary text needs): a run of "
        "text without spaces is a single token to WordPiece.")

    @property
    def char_bound(self) -> int:
        return self.max_chars or 16 * self.max_tokens


class QualityConfig(ConfigModel):
    """Heuristic chunk quality (see spec/quality.py for each signal's ramp)."""

    threshold: float = Field(default=0.5, ge=0, le=1, description="Minimum quality score.")
    min_words: int = Field(default=20, description="Chunks with fewer words are too_short.")


class DedupConfig(ConfigModel):
    enabled: bool = True
    num_bands: int = Field(default=16, ge=1, description="LSH bands.")
    rows_per_band: int = Field(default=8, ge=1, description="MinHash rows per band.")
    shingle_words: int = Field(default=5, ge=1, description="Word n-gram size of shingles.")
    jaccard_threshold: float = Field(
        default=0.8,
        description="Candidate pairs are verified: estimated Jaccard (signature agreement) "
        "must reach this to count as near-duplicates.",
    )
    seed: int = Field(default=1, description="Seed of the MinHash permutations.")
    distributed: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Where the global dedup runs: 'never' in one task (every signature in "
        "one process), 'always' as Ray Data operations across the cluster (groupby on LSH "
        "bands, pairs verified by joins: the same groups), 'auto' across the cluster once a "
        "table has distributed_min_rows rows. Without Ray (the local executor) it is one "
        "task.",
    )
    distributed_min_rows: int = Field(
        default=2_000_000, ge=0,
        description="Rows from which 'auto' dedups across the cluster (one task peaks near "
        "2.7 KB a row: 1.4 GB for 526k chunks).",
    )


class DisciplineConfig(ConfigModel):
    taxonomy: str | None = Field(
        default=None,
        description="YAML file with a list of {code, name, description}; None: the built-in "
        "16-discipline taxonomy (001 Physics … 016 Astronomy).",
    )
    use_metadata: bool = Field(default=True, description="Trust a record's discipline field.")
    classify: bool = Field(
        default=True, description="Classify documents without metadata with MiniLM embeddings."
    )
    min_score: float = Field(
        default=0.15, description="Below this similarity the document stays unclassified."
    )
    classify_paragraphs: int = Field(
        default=8, ge=1, description="Leading paragraphs embedded (with the title)."
    )


class SpecConfig(ConfigModel):
    """The corpus stage: read -> normalize -> dedup docs -> chunk -> quality -> dedup chunks."""

    corpus: list[str] = Field(
        default_factory=list, description="Files, directories or globs (local or URI)."
    )
    read: ReadConfig = Field(default_factory=ReadConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    chunk: ChunkConfig = Field(default_factory=ChunkConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    disciplines: DisciplineConfig = Field(default_factory=DisciplineConfig)
    hash_contents: bool = Field(
        default=False,
        description="Fingerprint corpus files by content (slow on big corpora) instead of "
        "by path, size and modification time.",
    )
