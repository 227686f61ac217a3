"""The parameter bank of SemiISP.

While the function ISP trains, the global-mode parameter sets it predicts for
its last ``capacity`` training samples are kept (paper: N = 5000, Table 5). The
one-to-many inverse draws from them:

* ``whole``: one stored set, drawn uniformly (the paper's choice for ≤ 1000
  training pairs: sets that really occurred together);
* ``per_function``: each stage's parameters from an independently drawn set
  (the paper's choice for > 1000 pairs: a wider domain of pseudo RAWs);
* ``auto``: ``per_function`` when the function ISP trained on more than
  :data:`PER_FUNCTION_ABOVE` pairs, else ``whole``.

Sets that a stage's cross-parameter check refuses (e.g. an ill-conditioned
colour matrix, which could not be inverted accurately) are not stored; their
count is kept in ``rejected``.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1 Eq. 9 (uniform draw
from the bank) and §3.2 (per-function-unit draws).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.predictor import PredictedParam

SAMPLING = ("auto", "whole", "per_function")
PER_FUNCTION_ABOVE = 1000
PREFIX = "bank."


class ParameterBank:
    """A ring buffer of the last ``capacity`` per-image parameter sets of a pipeline.

    Args:
        params: the predicted parameters (:func:`ispengine.core.predictor.predicted_params`).
        capacity: sets kept, >= 1.
        stages: ``{label: Stage}`` whose ``check_params`` vets each set (optional).
    """

    def __init__(
        self,
        params: tuple[PredictedParam, ...],
        capacity: int = 5000,
        stages: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ParamError(
                key="bank_size", message=f"expected a whole number >= 1, got {capacity!r}"
            )
        self.params = params
        self.capacity = capacity
        self.stages = dict(stages or {})
        self.arrays = {p.key: np.zeros((capacity, *p.spec.shape)) for p in params}
        self.count = 0  # sets ever added (the buffer holds the last min(count, capacity))
        self.rejected = 0

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.label for p in self.params))

    def add(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Store a batch of sets, ``{label: {name: (B, *shape)}}`` (numpy or torch)."""
        from ispengine.learning.weights import as_numpy

        flat = {p.key: as_numpy(values[p.label][p.spec.name]) for p in self.params}
        batch = next(iter(flat.values())).shape[0]
        for index in range(batch):
            one = {key: array[index].astype(np.float64) for key, array in flat.items()}
            if not self._valid(one):
                self.rejected += 1
                continue
            slot = self.count % self.capacity
            for key, value in one.items():
                self.arrays[key][slot] = value
            self.count += 1

    def _valid(self, one: Mapping[str, np.ndarray]) -> bool:
        for label in self.labels:
            stage = self.stages.get(label)
            if stage is None:
                continue
            named = {p.spec.name: one[p.key] for p in self.params if p.label == label}
            try:
                stage.check_params({**stage.constants(), **named})
            except ParamError:
                return False
        return all(np.all(np.isfinite(v)) for v in one.values())

    def resolve_sampling(self, sampling: str, training_pairs: int) -> str:
        if sampling not in SAMPLING:
            raise ParamError(
                key="sampling", message=f"expected one of {', '.join(SAMPLING)}, got {sampling!r}"
            )
        if sampling == "auto":
            return "per_function" if training_pairs > PER_FUNCTION_ABOVE else "whole"
        return sampling

    def draw(self, rng: np.random.Generator, sampling: str = "whole") -> dict[str, dict[str, Any]]:
        """One parameter set ``{label: {name: array of the spec's shape}}``.

        ``whole`` draws one stored index; ``per_function`` one index per stage, in
        stage order.
        """
        if len(self) == 0:
            raise InputError("the parameter bank is empty: fit the method first")
        if sampling not in ("whole", "per_function"):
            raise ParamError(
                key="sampling", message=f"expected whole or per_function, got {sampling!r}"
            )
        if sampling == "whole":
            index = int(rng.integers(len(self)))
            chosen = dict.fromkeys(self.labels, index)
        else:
            chosen = {label: int(rng.integers(len(self))) for label in self.labels}
        out: dict[str, dict[str, Any]] = {}
        for p in self.params:
            out.setdefault(p.label, {})[p.spec.name] = self.arrays[p.key][chosen[p.label]].copy()
        return out

    # -- persistence ------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The stored sets in slot order, ``{"bank.label.name": (n, *shape)}``, with the
        counts; loading it gives a bank that draws the same sets for the same seeds."""
        size = len(self)
        state = {PREFIX + key: array[:size] for key, array in self.arrays.items()}
        state[PREFIX + "count"] = np.array([self.count], dtype=np.int64)
        state[PREFIX + "rejected"] = np.array([self.rejected], dtype=np.int64)
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        missing = [PREFIX + p.key for p in self.params if PREFIX + p.key not in state]
        if missing:
            raise InputError(f"parameter bank: the saved state lacks {missing[0]!r}")
        sizes = {np.shape(state[PREFIX + p.key])[0] for p in self.params}
        if len(sizes) != 1:
            raise InputError("parameter bank: saved arrays hold different numbers of sets")
        size = sizes.pop()
        count = int(np.asarray(state.get(PREFIX + "count", [size])).ravel()[0])
        # A full ring keeps its saved size, so indices (and draws) stay the same.
        self.capacity = size if count > size else max(self.capacity, size)
        self.arrays = {}
        for p in self.params:
            array = np.asarray(state[PREFIX + p.key], dtype=np.float64)
            if array.shape[1:] != p.spec.shape:
                raise InputError(
                    f"parameter bank: {p.key} has shape {array.shape[1:]}, expected {p.spec.shape}"
                )
            self.arrays[p.key] = np.zeros((self.capacity, *p.spec.shape))
            self.arrays[p.key][:size] = array
        self.count = max(count, size)
        self.rejected = int(np.asarray(state.get(PREFIX + "rejected", [0])).ravel()[0])
