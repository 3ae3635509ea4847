"""Exports for the tools users already trust.

* SFT data: chat-format JSONL (``messages``) and Parquet, ShareGPT and Alpaca JSON with a
  LLaMA-Factory ``dataset_info.json`` registering both.
* Benchmark: an lm-evaluation-harness task per split (YAML + JSONL; loglikelihood over the
  15 possible answer sets, so exact-set scoring works for base models too) and
  OpenCompass-style JSON.

Everything goes to ``<workspace>/exports/`` (or ``out``); files are written atomically.
"""

from __future__ import annotations

import json
import posixpath

import yaml

from proda_ray.answering.prompts import (  # noqa: F401 - the export's names for them
    ANSWER_SETS,
    LETTERS,
    MCQ_INSTRUCTION,
    SINGLE_INSTRUCTION,
    answer_set,
    answer_sets,
    mcq_prompt,
    single_choice,
)
from proda_ray.workspace.storage import Workspace


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def export_sft(ws: Workspace, samples: list[dict], dataset: str, out: str) -> dict:
    rows = sorted(samples, key=lambda s: s["sample_id"])
    base = posixpath.join(out, "sft", dataset)
    chat = [{"sample_id": s["sample_id"], "task_type": s["task_type"],
             "messages": [{"role": "user", "content": s["prompt"]},
                          {"role": "assistant", "content": s["response"]}]} for s in rows]
    sharegpt = [{"conversations": [{"from": "human", "value": s["prompt"]},
                                   {"from": "gpt", "value": s["response"]}]} for s in rows]
    alpaca = [{"instruction": s["prompt"], "input": "", "output": s["response"]}
              for s in rows]
    ws.write_bytes(posixpath.join(base, "chat.jsonl"), _jsonl(chat))
    import pyarrow as pa

    ws.write_parquet(posixpath.join(base, "samples.parquet"), pa.Table.from_pylist(rows))
    ws.write_bytes(posixpath.join(base, "sharegpt.json"),
                   json.dumps(sharegpt, ensure_ascii=False, indent=1).encode())
    ws.write_bytes(posixpath.join(base, "alpaca.json"),
                   json.dumps(alpaca, ensure_ascii=False, indent=1).encode())
    info = {
        f"{dataset}_sharegpt": {
            "file_name": "sharegpt.json", "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                     "assistant_tag": "gpt"}},
        f"{dataset}_alpaca": {
            "file_name": "alpaca.json", "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    }
    ws.write_bytes(posixpath.join(base, "dataset_info.json"),
                   json.dumps(info, indent=2).encode())
    return {"dir": ws.uri_of(base), "samples": len(rows)}


def export_bench(ws: Workspace, items: list[dict], out: str) -> dict:
    items = sorted(items, key=lambda i: i["item_id"])
    base = posixpath.join(out, "bench")
    result = {"dir": ws.uri_of(base), "splits": {}}
    for split in ("dev", "test", "transfer"):
        rows = [i for i in items if i["split"] == split]
        result["splits"][split] = len(rows)
        if not rows:  # an empty task file makes lm-eval and OpenCompass fail to load
            continue
        data = [{"item_id": i["item_id"], "prompt": mcq_prompt(i), "choices": answer_sets(i),
                 "gold": answer_sets(i).index(answer_set(i["answer"])),
                 "answer": answer_set(i["answer"]),
                 "discipline_code": i["discipline_code"], "chain_id": i["chain_id"]}
                for i in rows]
        data_rel = posixpath.join(base, "lm_eval", f"proda_bench_{split}.jsonl")
        ws.write_bytes(data_rel, _jsonl(data))
        task = {
            "task": f"proda_bench_{split}",
            "dataset_path": "json",
            # lm-eval resolves data_files from the working directory: the path is absolute
            "dataset_kwargs": {"data_files": {"test": ws.uri_of(data_rel)}},
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": "prompt",
            "doc_to_choice": "choices",
            "doc_to_target": "gold",
            "metric_list": [{"metric": "acc", "aggregation": "mean",
                             "higher_is_better": True}],
            "metadata": {"version": 1.0, "source": "proda-ray", "split": split},
        }
        ws.write_bytes(posixpath.join(base, "lm_eval", f"proda_bench_{split}.yaml"),
                       yaml.safe_dump(task, sort_keys=False).encode())
        opencompass = [{"id": i["item_id"], "question": i["question"],
                        **dict(zip(LETTERS, i["options"], strict=True)),
                        "answer": "".join(sorted(i["answer"])), "explanation":
                        i.get("explanation") or "", "discipline": i["discipline_code"],
                        "question_type": i["question_type"]} for i in rows]
        ws.write_bytes(posixpath.join(base, "opencompass", f"proda_bench_{split}.json"),
                       json.dumps(opencompass, ensure_ascii=False, indent=1).encode())
    return result


def export_workspace(ws: Workspace, out: str = "exports") -> tuple[list[str], list[str]]:
    """Export the committed ``bench`` and ``build`` tables: (stages exported, one line per
    export or per stage that has not run)."""
    from proda_ray.workspace.runner import read_manifest

    done, lines = [], []
    for stage in ("bench", "build"):
        m = read_manifest(ws, stage)
        if m is None:
            lines.append(f"[yellow]{stage} has not run; nothing to export from it[/yellow]")
            continue
        if stage == "bench":
            r = export_bench(ws, ws.read_parquet(m.outputs["bench_items"].path).to_pylist(),
                             out)
            lines.append(f"[green]benchmark[/green] → {r['dir']} "
                         f"(dev {r['splits']['dev']}, test {r['splits']['test']})")
        else:
            r = export_sft(ws, ws.read_parquet(m.outputs["sft_samples"].path).to_pylist(),
                           m.config["dataset"], out)
            lines.append(f"[green]SFT data[/green] → {r['dir']} ({r['samples']} samples)")
        done.append(stage)
    return done, lines
