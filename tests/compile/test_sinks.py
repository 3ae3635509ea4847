"""The optional metric sinks write what a user then reads with TensorBoard and MLflow."""

from __future__ import annotations

import pytest

from proda_ray.compile.report import Sinks, progress_line


def steps():
    return [{"step": s, "loss": 2.0 / s, "lr": 1e-3, "grad_norm": 0.5, "tokens": 100,
             "tokens_per_s": 50.0, "seconds": 2.0, "val_loss": 1.5 if s == 2 else None}
            for s in (1, 2, 3)]


def test_tensorboard_and_mlflow_receive_every_step(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a server is what users point at
    mlflow = pytest.importorskip("mlflow")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sinks = Sinks(str(tmp_path / "tb"), (tmp_path / "mlruns").as_uri(), "train-test")
    for m in steps():
        sinks.log(m)
    mlflow.end_run()

    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx([2.0, 1.0, 2 / 3])
    assert [e.step for e in acc.Scalars("train/val_loss")] == [2]  # None is not logged

    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.search_runs(client.search_experiments()[0].experiment_id
                             if client.search_experiments() else "0")[0]
    hist = client.get_metric_history(run.info.run_id, "loss")
    assert [(h.step, h.value) for h in hist] == [(1, 2.0), (2, 1.0), (3, pytest.approx(2 / 3))]
    assert run.info.run_name == "train-test"


def test_progress_line_reads_well():
    line = progress_line(steps()[1], 3)
    assert line.startswith("[train] step 2/3 loss 1.0000 val 1.5000")
