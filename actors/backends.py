"""Suite backends: the few calls `SuiteEnv` needs from dm_control and Meta-World, nothing else.

A backend steps the simulator by one env step (no action repeat, no time limit: `SuiteEnv` owns those), reports
the flat state vector, and draws a frame on request in the `fast` or the `faithful` render mode (`none`: state
only, no GL context).
Actions reach a backend already checked and in [-1, 1].
"""
from __future__ import annotations

import numpy as np

from actors.render import FastRenderer

_UNBOUNDED = 1e6  # |bound| above this counts as unbounded (lqr): actions pass through unscaled


def _camera(camera: str) -> int | str:
    """`"2"` -> 2 (a camera id), `"corner"` -> `"corner"` (a camera name)."""
    return int(camera) if camera.lstrip("-").isdigit() else camera


class DMCBackend:
    """One dm_control suite task; its own time limit is switched off."""

    def __init__(self, domain: str, task: str, *, size: int, camera: str, render_mode: str, seed: int):
        from dm_control import suite

        self._env = suite.load(domain, task, task_kwargs={"random": seed, "time_limit": float("inf")})
        spec = self._env.action_spec()
        self.action_dim = int(spec.shape[0])
        finite = (np.abs(spec.minimum) < _UNBOUNDED) & (np.abs(spec.maximum) < _UNBOUNDED)
        self._scale = np.where(finite, (spec.maximum - spec.minimum) / 2, 1.0)  # (A,)
        self._shift = np.where(finite, (spec.maximum + spec.minimum) / 2, 0.0)  # (A,)
        self._size, self._camera = size, _camera(camera)
        physics = self._env.physics
        self._fast = FastRenderer(physics.model.ptr, size, self._camera) if render_mode == "fast" else None
        self._dm_drawn = False  # dm_control made GL contexts (faithful mode, on the first draw)
        self._obs = None

    def reset(self, seed: int | None) -> np.ndarray:
        if seed is not None:
            self._env.task._random = np.random.RandomState(seed)  # dm_control tasks draw resets from this
        self._obs = self._env.reset().observation
        return self.state()

    def step(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """One env step -> (reward, terminal, success); DMC tasks never succeed."""
        step = self._env.step(action * self._scale + self._shift)
        self._obs = step.observation
        return float(step.reward or 0.0), bool(step.last() and step.discount == 0), False

    def state(self) -> np.ndarray:
        """The physics observation dict flattened in the task's key order: (S,) float32."""
        return np.concatenate([np.asarray(v, np.float32).ravel() for v in self._obs.values()])

    def render(self) -> np.ndarray:
        physics = self._env.physics
        if self._fast is not None:
            return self._fast.render(physics.data.ptr)
        self._dm_drawn = True
        self._own_gl_current()
        return physics.render(self._size, self._size, camera_id=self._camera)

    def _own_gl_current(self) -> None:
        """Make dm_control's GL context current for real. dm_control remembers per thread which context it made
        current and skips the switch when it believes its own still is; a `mujoco.Renderer` (the fast mode of
        another env in this process) switches contexts behind its back, and dm_control would then draw into, or
        free its GL objects from, that renderer's context (seen: the next fast env drew black frames)."""
        self._env.physics.contexts.gl._platform_make_current()

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._dm_drawn:
            self._own_gl_current()
        self._env.physics.free()  # now, in the right context, not whenever the garbage collector gets to it


class MetaWorldBackend:
    """One Meta-World v3 task with the goal observable in the state and a fresh seeded goal every reset."""

    def __init__(self, env_name: str, *, size: int, camera: str, render_mode: str, seed: int, time_limit: int):
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        faithful = render_mode == "faithful"
        self._env = env = ALL_V3_ENVIRONMENTS[env_name](
            render_mode="rgb_array" if faithful else None, camera_name=camera, width=size, height=size)
        # What Meta-World's goal-observable constructors do, but drawing each reset's goal from the seeded
        # env.np_random rather than the global numpy RNG: deterministic for a seed, new goal per episode.
        env._partially_observable = False
        vars(env).pop("sawyer_observation_space", None)  # cached with the goal bounds zeroed: recompute
        env._set_task_called = True
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        env.max_path_length = time_limit
        env.seed(seed)
        self.action_dim = int(env.action_space.shape[0])
        self._fast = FastRenderer(env.model, size, camera) if render_mode == "fast" else None
        # `corner` is mounted rolled by 180 degrees (its image-up axis points at the floor): turn its frames upright.
        camera_up_z = env.data.cam(camera).xmat.reshape(3, 3)[2, 1]
        self._upright = (lambda frame: np.ascontiguousarray(frame[::-1, ::-1])) if camera_up_z < 0 else (lambda f: f)
        self._state = None

    def reset(self, seed: int | None) -> np.ndarray:
        if seed is not None:
            self._env.seed(seed)
        obs, _ = self._env.reset()
        self._state = obs.astype(np.float32)
        return self._state

    def step(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """One env step -> (reward, terminal, success); Meta-World episodes never terminate."""
        obs, reward, _, _, info = self._env.step(action)
        self._state = obs.astype(np.float32)
        return float(reward), False, bool(info["success"])

    def state(self) -> np.ndarray:
        """The raw 39-d Meta-World observation (hand, gripper, objects, previous frame, goal): (39,) float32."""
        return self._state

    def render(self) -> np.ndarray:
        frame = self._fast.render(self._env.data) if self._fast is not None else self._env.render()
        return self._upright(frame)

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        viewer = self._env.mujoco_renderer.viewer
        if viewer is not None:  # gymnasium leaves its MjrContext to the garbage collector, which would free it
            viewer.make_context_current()  # in whatever GL context is current then (see DMCBackend._own_gl_current)
            viewer.con.free()
        self._env.close()


def load_factory(target: str):
    """`"mypkg.envs:make_env"` -> the callable; ValueError saying what is wrong (not `module:factory`, the module
    does not import, no such callable)."""
    import importlib

    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"target {target!r} is not `module:factory` (a function returning a gymnasium env)")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"target {target!r}: {err}; is the module on PYTHONPATH?") from None
    if not callable(factory):
        raise ValueError(f"target {target!r}: {name} is not callable")
    return factory


class GymBackend:
    """A user's gymnasium environment with image observations (`gym/<module>:<factory>`, the factory called with no
    arguments). Frames: the observation itself when it is an (H, W, 3) uint8 array, a dict observation's `image` or
    `pixels`, else `env.render()` (create the env with `render_mode="rgb_array"`); resized to `size`. Actions in
    [-1, 1] are mapped onto its Box bounds; `info["success"]` is the success flag when it reports one. Its own time
    limit ends an episode as truncated, like `env.time_limit` (whichever comes first)."""

    def __init__(self, target: str, *, size: int, seed: int):
        from gymnasium import spaces

        self.env, self._size = load_factory(target)(), size
        box = self.env.action_space
        if not isinstance(box, spaces.Box) or len(box.shape) != 1 or not np.all(np.isfinite(box.low)) or \
                not np.all(np.isfinite(box.high)):
            raise ValueError(f"target {target!r}: the action space {box} is not a bounded 1-d Box (continuous "
                             f"actions are what the agents here produce)")
        self.action_dim, self._low, self._high = int(box.shape[0]), box.low, box.high
        self._seed, self._frame, self._state, self.truncated = seed, None, np.zeros(0, np.float32), False

    def _observe(self, obs) -> None:
        image = obs if isinstance(obs, np.ndarray) and obs.ndim == 3 else None
        if isinstance(obs, dict):
            image = obs.get("image", obs.get("pixels"))
            self._state = np.concatenate([np.ravel(v) for k, v in sorted(obs.items()) if k not in ("image", "pixels")]
                                         or [np.zeros(0)]).astype(np.float32)
        elif image is None:
            self._state = np.ravel(obs).astype(np.float32)
        frame = np.asarray(image if image is not None else self.env.render())
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"the environment's frames have shape {frame.shape}, not (H, W, 3): return images as "
                             f"the observation or create it with render_mode='rgb_array'")
        from PIL import Image

        self._frame = np.asarray(Image.fromarray(frame.astype(np.uint8)).resize((self._size, self._size)))

    def reset(self, seed: int | None) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._seed if seed is None else seed)
        self.truncated = False  # the env's own time limit (read by SuiteEnv after each step)
        self._observe(obs)
        return self._state

    def step(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """One env step -> (reward, terminal, success)."""
        scaled = self._low + (action + 1.0) / 2.0 * (self._high - self._low)
        obs, reward, terminated, self.truncated, info = self.env.step(scaled.astype(self.env.action_space.dtype))
        self._observe(obs)
        return float(reward), bool(terminated), bool(info.get("success", False))

    def state(self) -> np.ndarray:
        """The observation's non-image parts, flattened (empty for a pure image observation)."""
        return self._state

    def render(self) -> np.ndarray:
        return self._frame

    def close(self) -> None:
        self.env.close()
