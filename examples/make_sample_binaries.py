"""Regenerate the binary files of the sample corpus (PDF, DOCX, gzip and the broken ones).

    python examples/make_sample_binaries.py

All text is original, written for proda-ray. The output is committed; this script documents
how each file was made (and how each broken file is broken).
"""

from __future__ import annotations

import gzip
import json
import random
import textwrap
from pathlib import Path

OUT = Path(__file__).parent / "sample_corpus"

ASTRONOMY = """The Life Cycle of Stars

A star forms when a cold, dense cloud of gas and dust collapses under its own gravity. As the cloud contracts, its core heats up, and when the core reaches about ten million kelvin, hydrogen nuclei begin to fuse into helium. The energy released by fusion creates outward pressure that balances gravity, and the star settles onto the main sequence.

Main Sequence and Red Giants

A star spends most of its life on the main sequence, fusing hydrogen in its core. Massive stars burn their fuel much faster than small ones, so a star ten times the mass of the Sun lives only a few tens of millions of years. When the core runs out of hydrogen, fusion there stops, the core contracts and heats, and hydrogen begins to fuse in a shell around it. The extra energy makes the outer layers expand and cool, and the star becomes a red giant.

The End of a Star

A star like the Sun eventually sheds its outer layers as a planetary nebula, leaving behind a hot, dense core called a white dwarf that slowly cools. A star more than about eight times the mass of the Sun fuses elements up to iron in its core. Because fusing iron absorbs energy instead of releasing it, the core can no longer support itself and collapses in less than a second. The collapse triggers a supernova explosion, and the remaining core becomes a neutron star or, if it is massive enough, a black hole."""

PSYCHOLOGY = [
    ("Title", "How Memory Works"),
    ("Normal", "Memory is the set of processes that encode, store and retrieve information. "
     "Each stage can fail, and each failure produces a different kind of forgetting."),
    ("Heading 1", "Encoding"),
    ("Normal", "Encoding turns a perception into a form the brain can store. Information that "
     "is processed for its meaning is encoded more deeply than information processed only for "
     "its sound or appearance, which is why relating new material to what you already know "
     "improves later recall."),
    ("Heading 1", "Storage"),
    ("Normal", "Sensory memory holds an image or sound for less than a few seconds. Items that "
     "receive attention move into short-term memory, which holds about seven items for roughly "
     "twenty seconds unless they are rehearsed. Rehearsal and elaboration transfer information "
     "into long-term memory, whose capacity appears to be unlimited."),
    ("Heading 1", "Retrieval"),
    ("Normal", "Retrieval brings stored information back into awareness. Recall requires "
     "producing the information with few cues, while recognition only requires identifying it "
     "among options, which is why recognition is usually easier. Retrieval cues work best when "
     "they match the context in which the memory was encoded."),
    ("List Bullet", "Encoding failure: the information never entered long-term memory."),
    ("List Bullet", "Interference: other memories block access to the one you want."),
    ("List Bullet", "Decay: unused memory traces fade over time."),
]

GEOLOGY_CP1252 = """Plate Tectonics and Earthquakes

The Earth’s outer shell, the lithosphere, is broken into rigid plates that move a few centimetres per year over the hotter, weaker asthenosphere below. Heat from the interior drives slow convection in the mantle, and the plates move with it.

Types of Plate Boundaries

At divergent boundaries plates move apart, magma rises to fill the gap, and new crust forms, as along the Mid-Atlantic Ridge. At convergent boundaries plates collide; where oceanic crust meets continental crust, the denser oceanic plate sinks beneath the other in a process called subduction, producing deep trenches and volcanoes. At transform boundaries plates slide past each other horizontally.

Why Earthquakes Happen

Friction locks the edges of two plates together while the plates keep moving. Stress builds up in the rocks until it exceeds their strength, the rocks break along a fault, and the stored energy is released as seismic waves. The point where the rupture starts underground is the focus, and the point directly above it on the surface is the epicentre. A magnitude 6 earthquake releases about 32 times more energy than a magnitude 5 earthquake – the scale is logarithmic. Water at 4 °C is densest, a fact that matters little here but makes this file non-ASCII: café, naïve, façade."""


def minimal_pdf(text: str, title: str) -> bytes:
    """A one-font PDF with a real text layer, written by hand (no PDF library needed)."""
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(textwrap.wrap(para, 90) or [""])
    pages = [lines[i : i + 48] for i in range(0, len(lines), 48)]

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    info_id = font_id + 1
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, page in enumerate(pages):
        content = "BT /F1 10 Tf 14 TL 60 760 Td " + " ".join(f"({esc(ln)}) Tj T*" for ln in page)
        content += " ET"
        data = content.encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(f"<< /Title ({esc(title)}) /Producer (proda-ray sample) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def docx(paragraphs: list[tuple[str, str]], path: Path) -> None:
    import docx as python_docx

    document = python_docx.Document()
    document.core_properties.title = paragraphs[0][1]
    for style, text in paragraphs:
        document.add_paragraph(text, style=style)
    document.save(str(path))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "astronomy_stars.pdf").write_bytes(minimal_pdf(ASTRONOMY, "The Life Cycle of Stars"))
    docx(PSYCHOLOGY, OUT / "psychology_memory.docx")
    (OUT / "earth_science_plates_cp1252.txt").write_bytes(GEOLOGY_CP1252.encode("cp1252"))

    broken = OUT / "broken"
    broken.mkdir(exist_ok=True)
    # a PDF whose header promises a document and whose body is cut off after 200 bytes
    (broken / "truncated_scan.pdf").write_bytes(minimal_pdf(ASTRONOMY, "cut")[:200])
    # a "Word file" that is really plain text (not a zip archive)
    (broken / "not_really.docx").write_text("This was saved as .docx but is plain text.\n")
    # random bytes with a .txt name
    rng = random.Random(7)
    (broken / "binary_blob.txt").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    # an empty file and a whitespace-only document
    (broken / "empty.txt").write_bytes(b"")
    (broken / "blank.md").write_text("   \n\n\t\n")
    # a gzip stream cut in the middle: the first record survives, the rest is corrupt
    rec = {"id": "sample/truncated/1", "title": "Survivor", "discipline_code": "015",
           "text": "Classical conditioning pairs a neutral stimulus with one that already "
           "causes a response, until the neutral stimulus alone causes it. " * 8}
    blob = gzip.compress(
        (json.dumps(rec) + "\n" + json.dumps({**rec, "id": "sample/truncated/2"}) + "\n").encode()
        * 20
    )
    (broken / "truncated.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    # a format nobody reads
    (broken / "notes.xyz").write_text("proprietary notes format\n")
    # undecodable bytes: invalid UTF-8 everywhere, not a text encoding either
    (broken / "mojibake.txt").write_bytes(b"\x81\x8d\x8f\x90\x9d" * 400)
    print(f"wrote sample binaries under {OUT}")


if __name__ == "__main__":
    main()
