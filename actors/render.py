"""The `fast` render path: one reused `mujoco.Renderer` per env, no multisampling, shadows and reflections off.

On CPU (Mesa llvmpipe) drawing the frame is the env's whole cost. dm_control's `physics.render` and
gymnasium's Meta-World renderer set up a context per call or read back large buffers; a reused renderer with
the costliest effects off draws walker at 64x64 several times faster (figures in SETUP-FACTS.md). Multisampling
(MuJoCo's default 4x offscreen) is most of llvmpipe's remaining time: without it a walker frame takes 1.2 ms
instead of 4.4 ms, and differs by 0.9/255 on average (edges only; the lost shadows cost ~6/255). The images
differ from the suites' own look by a few levels on average, so one mode is used for all data.
"""
from __future__ import annotations

import mujoco
import numpy as np


class FastRenderer:
    """Draws (size, size, 3) uint8 frames of a MuJoCo model from one camera, reusing one GL context."""

    def __init__(self, model: mujoco.MjModel, size: int, camera: int | str):
        samples, model.vis.quality.offsamples = model.vis.quality.offsamples, 0
        try:  # the offscreen buffer is made now, without multisampling; the model keeps its own setting
            self._renderer = mujoco.Renderer(model, size, size)
        finally:
            model.vis.quality.offsamples = samples
        self._camera = camera
        self._flags = self._renderer.scene.flags
        self._flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self._flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The frame for the current `data`: (size, size, 3) uint8, top row first."""
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer._gl_context.make_current()  # free our GL objects, not those of a context current now
        self._renderer.close()
