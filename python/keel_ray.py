"""Offline batch inference with keel on Ray Data.

A Ray Data pipeline runs keel in a pool of actors: each actor loads the model once, then runs whole
batches of rows through it. Nothing here needs a server; the compiled ``keel`` module must be
importable in every worker (same Python, same ``PYTHONPATH``).

    import ray, numpy as np
    from keel_ray import KeelPredictor, predict_dataset

    ds = ray.data.from_items([{"id": i, "input": img} for i, img in enumerate(images)])
    out = ds.map_batches(
        KeelPredictor,
        fn_constructor_kwargs={"model_path": "model.onnx", "input_name": "input", "threads": 1},
        compute=ray.data.ActorPoolStrategy(size=2),  # or concurrency=2 (deprecated in Ray 2.51)
        batch_size=8, batch_format="numpy")
    # or, the same in one call:
    out = predict_dataset(ds, "model.onnx", "input", actors=2, batch_size=8)
    for row in out.iter_rows():
        row["id"], row["output"]

Each row's input is one sample without the batch dim (``[3, H, W]`` for a ``[batch, 3, H, W]``
model); a batch of rows is stacked into one contiguous float32 array and run in one call. The
result has the model's outputs as columns (one row per input row) plus every column of the input
except the model input (an ``id`` column comes through unchanged). Ray Data does not keep row order
across actors unless asked to, so carry an id column when the order matters.

Threads: keel's ``threads`` is per actor. With N actors of ``threads`` each, give Ray
``N * threads`` CPUs; ``predict_dataset`` asks Ray for ``threads`` CPUs per actor so that Ray does
not place more actors on a machine than it has cores.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

__all__ = ["KeelPredictor", "predict_dataset"]


def _stack_column(column: Any) -> np.ndarray:
    """One batch of the input column as a contiguous float32 array [rows, ...].

    Ray hands a column of equal-shaped tensors as one ndarray; ragged columns (or Python lists)
    come as an object array of per-row arrays, which are stacked here (and must then agree in shape).
    """
    if isinstance(column, np.ndarray) and column.dtype != object:
        return np.ascontiguousarray(column, dtype=np.float32)
    return np.ascontiguousarray(np.stack([np.asarray(row, dtype=np.float32) for row in column]))


class KeelPredictor:
    """A callable class for ``Dataset.map_batches``: one keel session per Ray actor.

    model_path: the ONNX file. input_name: the model input, which is also the column holding it.
    threads: keel's thread pool per actor (0 = all cores of the machine: avoid with several actors).
    output_names: outputs to return (default: all, named as in the model).
    session_options: passed on to ``keel.InferenceSession`` (e.g. ``{"layout": "nchw"}``).
    """

    def __init__(
        self,
        model_path: str,
        input_name: str = "input",
        threads: int = 1,
        output_names: Optional[Sequence[str]] = None,
        session_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        import keel  # in the actor's process

        self.session = keel.InferenceSession(model_path, threads=threads, **(session_options or {}))
        inputs = {arg.name: arg for arg in self.session.get_inputs()}
        if input_name not in inputs:
            raise ValueError(f"{model_path} has no input named '{input_name}' (inputs: {sorted(inputs)})")
        if len(inputs) != 1:
            raise ValueError(f"{model_path} has {len(inputs)} inputs; KeelPredictor feeds exactly one")
        self.input_name = input_name
        self.output_names = list(output_names) if output_names else [o.name for o in self.session.get_outputs()]
        # A model exported with a fixed batch of 1 cannot take a stacked batch: run it row by row.
        shape = inputs[input_name].shape
        self._fixed_batch_one = bool(shape) and shape[0] == 1

    def _run(self, x: np.ndarray) -> list:
        if self._fixed_batch_one and x.shape[0] != 1:
            per_row = [self.session.run(self.output_names, {self.input_name: x[i : i + 1]}) for i in range(x.shape[0])]
            return [np.concatenate([r[k] for r in per_row]) for k in range(len(self.output_names))]
        return self.session.run(self.output_names, {self.input_name: x})

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if self.input_name not in batch:
            raise KeyError(f"the batch has no column '{self.input_name}' (columns: {sorted(batch)})")
        x = _stack_column(batch[self.input_name])
        out = {name: column for name, column in batch.items() if name != self.input_name}
        for name, value in zip(self.output_names, self._run(x)):
            if name in out:
                raise ValueError(f"model output '{name}' has the same name as a column of the dataset")
            out[name] = value
        return out


def predict_dataset(
    ds: Any,
    model_path: str,
    input_name: str = "input",
    actors: int = 1,
    batch_size: int = 8,
    threads: int = 1,
    **predictor_kwargs: Any,
) -> Any:
    """``ds`` through ``KeelPredictor`` on ``actors`` Ray actors, ``batch_size`` rows a call.

    Returns the (lazy) result Dataset; each actor reserves ``threads`` CPUs. Extra keyword arguments
    (``output_names``, ``session_options``) go to ``KeelPredictor``.
    """
    import ray.data

    kwargs = {"model_path": str(model_path), "input_name": input_name, "threads": threads}
    kwargs.update(predictor_kwargs)
    return ds.map_batches(
        KeelPredictor,
        fn_constructor_kwargs=kwargs,
        # A fixed pool of `actors` actors (what `concurrency=actors` meant before Ray 2.51 deprecated it).
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=max(1, threads),
    )
