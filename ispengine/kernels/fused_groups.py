"""Splitting a pipeline's stages into fused groups and running them.

A group is a run of two or more stages that runs as one compiled pass:
either pixelwise RGB stages (:mod:`ispengine.kernels.fused`), or a camera front end
of per-site mosaic corrections, optionally a demosaicer and pixelwise RGB
stages after it (:mod:`ispengine.kernels.fused_mosaic`). Which stages join is read
from their declared :attr:`~ispengine.core.stage.Stage.capabilities`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from ispengine.core.stage import Stage
from ispengine.kernels.cuda.runtime import is_cuda_array, runs_on_device
from ispengine.kernels.fused import RgbProgram, numba_available, program, run_fused
from ispengine.kernels.fused_mosaic import (
    DemosaicProgram,
    MosaicProgram,
    mosaic_program,
    run_mosaic_fused,
)
from ispengine.kernels.output import OutputRequest

log = logging.getLogger(__name__)

# Groups whose kernels failed to compile for CUDA (by id; held, so an id stays theirs):
# they run stage by stage on GPU arrays from then on.
_not_on_device: dict[int, FusedGroup] = {}


class DeviceCompileError(Exception):
    """A group's kernels could not be compiled for CUDA; the caller runs it stage by
    stage (raised once per group; :meth:`FusedGroup.accepts` refuses it afterwards)."""


def _is_compile_error(error: Exception) -> bool:
    """Whether ``error`` is Numba failing to type or lower a kernel for CUDA (a stage's
    kernel using something the CUDA target lacks), not a failure at run time."""
    from numba.core.errors import NumbaError

    return isinstance(error, NumbaError)


@frozen
class FusedGroup:
    """A run of stages that executes as one fused pass.

    Attributes:
        front: the camera front end's programs (mosaic corrections, then at most
            one demosaicer); empty for a pixelwise RGB chain.
        rgb: the pixelwise RGB programs after the front end.
    """

    front: tuple[MosaicProgram, ...]
    rgb: tuple[RgbProgram, ...]

    @property
    def size(self) -> int:
        """The number of stages in the group."""
        return len(self.front) + len(self.rgb)

    @property
    def starts_on_mosaic(self) -> bool:
        """Whether the group takes a Bayer mosaic (a camera front end)."""
        return bool(self.front)

    def accepts(self, x: Any) -> bool:
        """Whether :meth:`run` takes ``x``: any numpy image; a GPU array when CUDA
        kernels run here and every stage of the group has a device form
        (:mod:`ispengine.kernels.cuda`)."""
        if not is_cuda_array(x):
            return True
        if not runs_on_device(x) or id(self) in _not_on_device:
            return False
        from ispengine.kernels.cuda.chain import NoDeviceForm, device_chain
        from ispengine.kernels.cuda.front_end import device_estimates

        try:
            device_chain(list(self.rgb))
            for step in self.front:
                if isinstance(step, DemosaicProgram):
                    device_estimates(step)
        except NoDeviceForm:
            return False
        return True

    def run(self, x: Any, request: OutputRequest | None = None) -> Any:
        """Run the group on a numpy image (unsigned raw numbers allowed for a front end),
        or on a GPU array with the CUDA twins (:mod:`ispengine.kernels.cuda`; the
        result stays on the device).

        ``request``: the output type the pass writes directly where it can (then
        ``request.done`` is set; :mod:`ispengine.kernels.output`)."""
        if runs_on_device(x):
            try:
                return self._run_on_device(x, request)
            except Exception as error:
                if not _is_compile_error(error):
                    raise
                _not_on_device[id(self)] = self
                log.warning(
                    "fused group not compiled for CUDA, runs stage by stage: %s",
                    str(error).splitlines()[0] if str(error) else type(error).__name__,
                )
                raise DeviceCompileError(str(error)) from error
        if self.front:
            return run_mosaic_fused(list(self.front), list(self.rgb), x, request)
        return run_fused(list(self.rgb), x, request)

    def _run_on_device(self, x: Any, request: OutputRequest | None) -> Any:
        """The CUDA twins of :meth:`run` (:mod:`ispengine.kernels.cuda`)."""
        if self.front:
            from ispengine.kernels.cuda.front_end import run_mosaic_fused_cuda

            return run_mosaic_fused_cuda(list(self.front), list(self.rgb), x, request)
        from ispengine.kernels.cuda.chain import run_fused_cuda

        return run_fused_cuda(list(self.rgb), x, request)


def _front_end(mosaic: list[MosaicProgram | None], rgb: list, index: int) -> FusedGroup:
    """The longest camera front end starting at stage ``index``."""
    end = index
    while end < len(mosaic) and mosaic[end] is not None:
        end += 1
        if isinstance(mosaic[end - 1], DemosaicProgram):
            break
    front = tuple(mosaic[index:end])
    tail = end
    if isinstance(front[-1], DemosaicProgram):
        while tail < len(rgb) and rgb[tail] is not None:
            tail += 1
    return FusedGroup(front, tuple(rgb[end:tail]))


def _rgb_chain(rgb: list, index: int) -> FusedGroup:
    """The longest pixelwise RGB chain starting at stage ``index``."""
    end = index
    while end < len(rgb) and rgb[end] is not None:
        end += 1
    return FusedGroup((), tuple(rgb[index:end]))


def segments(stages: Sequence[Stage]) -> list[tuple[int, FusedGroup | None]]:
    """Execution groups: ``(first stage index, group)`` for runs of two or more
    fusable stages, ``(index, None)`` for a stage that runs on its own (0-based)."""
    if not numba_available():
        return [(i, None) for i in range(len(stages))]
    rgb = [program(stage) for stage in stages]
    mosaic = [mosaic_program(stage) for stage in stages]
    groups: list[tuple[int, FusedGroup | None]] = []
    index = 0
    while index < len(stages):
        group = _front_end(mosaic, rgb, index) if mosaic[index] else _rgb_chain(rgb, index)
        if group.size >= 2:
            groups.append((index, group))
            index += group.size
        else:
            groups.append((index, None))
            index += 1
    return groups
