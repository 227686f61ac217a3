"""A small, generic torch training loop: budget, progress, checkpoints, resume.

:func:`run_training` calls ``step_fn(step)`` (one optimiser step, returning its
loss as a float) until the :class:`~ispengine.learning.srgb_to_raw.Budget` is used up,
shows a tqdm bar, keeps the loss history and, given a ``checkpoint`` path,
saves every ``checkpoint_every`` steps and at the end. ``resume=True`` loads
that checkpoint first and continues counting steps from it: a budget of 100
steps after resuming from step 60 runs 40 more.

A checkpoint is one ``torch.save`` file holding only tensors, numbers,
strings, lists and dicts, so it loads with ``torch.load(weights_only=True)``
(no code runs on load: :func:`~ispengine.learning.weights.load_torch_file`; a
module's tensor with a NaN or Inf value is refused): the format tag, the step, the loss history, the
``state_dict`` of every module and of the optimiser, the torch CPU (and CUDA,
when used) RNG states and a numpy Generator's bit-generator state (as JSON).
Writes are atomic (:func:`ispengine.io.atomic.atomic_output`), so an interrupted
save keeps the previous checkpoint. torch is imported inside the functions only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.io.atomic import atomic_output
from ispengine.learning.srgb_to_raw import Budget, FitReport

FORMAT = "ispengine-training-checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | Path,
    *,
    step: int,
    losses: list[float],
    modules: Mapping[str, Any],
    optimizer: Any,
    rng: np.random.Generator | None = None,
) -> Path:
    """Write a checkpoint (see the module docstring) atomically to ``path``."""
    import torch

    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "losses": torch.tensor(losses, dtype=torch.float64),
        "modules": {name: module.state_dict() for name, module in modules.items()},
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": json.dumps(rng.bit_generator.state) if rng is not None else "",
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        document["cuda_rng"] = torch.cuda.get_rng_state_all()
    path = Path(path)
    with atomic_output(path) as temporary:
        torch.save(document, temporary)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, loaded without running code."""
    from ispengine.learning.weights import check_finite, load_torch_file

    path = Path(path)
    document = load_torch_file(path, what="training checkpoint")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{path}: not an ispengine training checkpoint")
    modules = document.get("modules")
    if isinstance(modules, Mapping):
        for name, state in modules.items():
            if isinstance(state, Mapping):
                check_finite({f"{name}.{key}": value for key, value in state.items()}, path)
    return document


def restore_checkpoint(
    document: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    optimizer: Any,
    rng: np.random.Generator | None = None,
    source: str = "checkpoint",
) -> tuple[int, list[float]]:
    """Load modules, optimiser and RNG states from ``document``; returns (step, losses)."""
    import torch

    saved = document["modules"]
    if set(saved) != set(modules):
        raise InputError(
            f"{source}: holds modules {sorted(saved)}, this model has {sorted(modules)}"
        )
    for name, module in modules.items():
        try:
            module.load_state_dict(saved[name])
        except RuntimeError as error:
            first = str(error).strip().splitlines()[-1].strip()
            raise InputError(f"{source}: module '{name}' does not match: {first}") from None
    optimizer.load_state_dict(document["optimizer"])
    torch.set_rng_state(document["torch_rng"])
    if "cuda_rng" in document and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(document["cuda_rng"])
    if rng is not None and document.get("numpy_rng"):
        rng.bit_generator.state = json.loads(document["numpy_rng"])
    return int(document["step"]), [float(v) for v in document["losses"].tolist()]


class OptimizerGroup:
    """Several named optimisers checkpointed as one (a GAN's generator and
    discriminator optimisers): ``group.generator``, ``group.state_dict()``."""

    def __init__(self, **optimizers: Any) -> None:
        self.optimizers = dict(optimizers)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["optimizers"][name]
        except KeyError:
            raise AttributeError(name) from None

    def state_dict(self) -> dict[str, Any]:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if set(state) != set(self.optimizers):
            raise InputError(
                f"checkpoint holds optimisers {sorted(state)}, expected {sorted(self.optimizers)}"
            )
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


def _progress_bar(budget: Budget, start: int, progress: bool, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=budget.steps,
        initial=start,
        disable=not progress,
        desc=label,
        unit="step",
        dynamic_ncols=True,
    )


def run_training(
    step_fn: Callable[[int], float | Mapping[str, float]],
    budget: Budget,
    *,
    modules: Mapping[str, Any],
    optimizer: Any,
    rng: np.random.Generator | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 200,
    progress: bool = True,
    label: str = "train",
) -> FitReport:
    """Run ``step_fn(step)`` for steps ``start, start + 1, …`` until ``budget`` is spent.

    Args:
        step_fn: one optimiser step for the given (0-based, global) step index;
            returns the loss as a float, or a mapping with the loss under ``"loss"``
            and further named values (a loss's terms) that the progress bar shows.
        budget: total steps (counting resumed ones) and/or seconds of this call.
        modules: the ``torch.nn.Module`` objects to checkpoint, by name.
        optimizer: the optimiser to checkpoint.
        rng: the numpy Generator ``step_fn`` draws from (its state is saved), or a
            prefetcher's stand-in for it (:attr:`~ispengine.learning.prefetch.Prefetcher.rng`).
        checkpoint: file to save to every ``checkpoint_every`` steps and at the end.
        resume: load ``checkpoint`` first when it exists (else start at step 0).
        checkpoint_every: steps between saves, >= 1.
        progress: show a tqdm bar.
        label: the bar's description.

    A ``KeyboardInterrupt`` saves the checkpoint (when there is one) and re-raises.
    """
    if resume and checkpoint is None:
        raise ParamError(key="resume", message="needs a checkpoint path")
    if isinstance(checkpoint_every, bool) or int(checkpoint_every) < 1:
        raise ParamError(
            key="checkpoint_every", message=f"expected a whole number >= 1, got {checkpoint_every}"
        )
    state = {"modules": modules, "optimizer": optimizer, "rng": rng}
    start, losses, note = 0, [], ""
    if resume and Path(checkpoint).exists():
        document = read_checkpoint(checkpoint)
        start, losses = restore_checkpoint(document, **state, source=str(checkpoint))
        note = f"resumed from step {start}"
    elif resume:
        note = "no checkpoint yet: started at step 0"

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, step=step, losses=losses, **state)

    begin = time.perf_counter()
    step, last_saved = start, start
    with _progress_bar(budget, start, progress, label) as bar:
        try:
            while not budget.exhausted(step, time.perf_counter() - begin):
                result = step_fn(step)
                shown = dict(result) if isinstance(result, Mapping) else {"loss": result}
                loss = float(shown["loss"])
                losses.append(loss)
                step += 1
                bar.update(1)
                bar.set_postfix({k: f"{float(v):.4g}" for k, v in shown.items()}, refresh=False)
                if step % int(checkpoint_every) == 0:
                    save(step)
                    last_saved = step
        except KeyboardInterrupt:
            save(step)
            raise
    if step != last_saved or (checkpoint is not None and not Path(checkpoint).exists()):
        save(step)
    seconds = time.perf_counter() - begin
    return FitReport(step, seconds, tuple(losses), start, note)


def fit_on_crops(
    label: str,
    dataset: Any,
    budget: Budget,
    *,
    network: Any,
    crops: Sequence[int],
    make_optimizer: Callable[[Any], Any],
    make_batch: Callable[[Any, np.random.Generator], Callable[[int], Any]],
    make_step: Callable[[Any, Any, Any], Callable[[int], float]],
    runtime: Any,
    threads: int = 0,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 200,
    progress: bool = True,
) -> FitReport:
    """Train one network on random aligned crops of ``dataset``'s train split.

    Loads the train split once (:class:`~ispengine.learning.paired_crops.PairedCrops`),
    checks every crop side of ``crops`` fits, moves ``network`` to the device of
    ``runtime`` (a :class:`~ispengine.learning.torch_runtime.TorchRuntime`) in training
    mode, builds the optimiser (``make_optimizer(network)``), the batch maker
    (``make_batch(data, rng)``: the batch of a step index, drawing from ``rng``, a
    numpy Generator seeded with ``seed``, and nothing else draws from it), prefetched
    at the runtime's depth (:mod:`ispengine.learning.prefetch`), and the step
    (``make_step(network, optimizer, batches)``, taking its batch with
    ``batches.get(index)``), and runs :func:`run_training` with ``threads`` torch
    CPU threads (0: torch's default). The network is left in evaluation mode.
    """
    from ispengine.learning.paired_crops import PairedCrops
    from ispengine.learning.srgb_to_raw import train_split
    from ispengine.learning.torch_runtime import torch_threads

    train = train_split(dataset)
    if len(train) == 0:
        raise InputError(f"{label}: the dataset has no 'train' samples to fit on")
    data = PairedCrops.from_dataset(train)
    for side in crops:
        data.check_crop(side)
    with torch_threads(threads):
        network = network.to(runtime.device).train()
        optimizer = make_optimizer(network)
        rng = np.random.default_rng(seed)
        with runtime.batches(make_batch(data, rng), rng) as batches:
            report = run_training(
                make_step(network, optimizer, batches),
                budget,
                modules={"network": network},
                optimizer=optimizer,
                rng=batches.rng,
                checkpoint=checkpoint,
                resume=resume,
                checkpoint_every=checkpoint_every,
                progress=progress,
                label=label,
            )
    network.eval()
    return report
