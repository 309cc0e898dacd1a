"""The embedded Redis: Debian's `redis-server` on loopback, password-protected, append-only persistence.

    with RedisServer(run_dir / "redis", maxmemory_bytes=maxmemory_for(capacity, size=64, action_dim=6)) as server:
        client = replay.connect(server.url)

Everything lives in `run_dir`: `redis.conf` (mode 0600: it holds the password), the AOF directory, `redis.log`.
A new RedisServer on a run_dir that already has a `redis.conf` reuses its port and password (unless given), so a
restarted run finds its replay where it left it.

Durability: `appendfsync always`. Redis writes and fsyncs every write command to the AOF before it replies, so
neither a killed redis-server nor a machine crash loses an acknowledged episode. `everysec` does not promise that
even against a kill: while its background fsync runs on a busy disk Redis postpones AOF writes for up to 2 s and
replies all the same (a test on a loaded machine lost 4 of 5 acknowledged episodes to a SIGKILL). The price,
measured here on a loaded machine: an insert of a 51-step 64x64 chunk 8-9 ms instead of 5-7, of a 501-step episode
39-42 ms against 29-59.
Memory: `maxmemory-policy noeviction` -- the replay evicts its own oldest episodes; Redis must never drop keys.
Disk: the AOF logs evictions as well as inserts; Redis' automatic AOF rewrite (when it doubles) keeps it to about
twice the live data.
"""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisServerError(RuntimeError):
    """redis-server could not be started; the message says why and what to do."""


def maxmemory_for(capacity_steps: int, size: int, action_dim: int, headroom: float = 1.5) -> int:
    """A Redis memory limit for a replay of `capacity_steps` raw (uncompressed) steps, plus headroom."""
    step_bytes = size * size * 3 + 4 * action_dim + 4 + 4
    return int(capacity_steps * step_bytes * headroom) + (64 << 20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One redis-server process bound to 127.0.0.1, owned by this object (stop() or the context manager)."""

    def __init__(self, run_dir: str | Path, port: int = 0, password: str | None = None,
                 maxmemory_bytes: int | None = None, appendonly: bool = True, start: bool = True):
        self.dir = Path(run_dir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        old = self._read_conf()
        self.port = port or int(old.get("port", 0)) or _free_port()
        self.password = password or old.get("requirepass") or secrets.token_urlsafe(24)
        self.maxmemory_bytes = maxmemory_bytes
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None
        if start:
            self.start()

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _read_conf(self) -> dict[str, str]:
        path = self.dir / "redis.conf"
        if not path.exists():
            return {}
        pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
        return {key: value.strip().strip('"') for key, value in pairs}

    def _write_conf(self) -> Path:
        lines = {
            "bind": "127.0.0.1", "port": self.port, "protected-mode": "yes", "requirepass": f'"{self.password}"',
            "dir": f'"{self.dir}"', "logfile": '"redis.log"', "daemonize": "no", "save": '""',
            "appendonly": "yes" if self.appendonly else "no", "appendfsync": "always",
            "maxmemory": self.maxmemory_bytes or 0, "maxmemory-policy": "noeviction",
        }
        path = self.dir / "redis.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{key} {value}\n" for key, value in lines.items()))
        return path

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start redis-server (data comes back from the AOF) and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError("redis-server not found on PATH; install it: apt-get install -y redis-server, "
                                   "or run `make setup`")
        # its own session: a terminal's Ctrl-C reaches the driver, which stops the server itself (a SIGINT to the
        # whole group would end the server first and read as a crash to the supervisor)
        self.process = subprocess.Popen([binary, str(self._write_conf())], cwd=self.dir, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        atexit.register(self.stop)
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    stderr = self.process.stderr.read().decode(errors="replace").strip()
                    raise RedisServerError(f"redis-server exited with code {self.process.returncode} on port "
                                           f"{self.port}: {stderr or self._log_tail()}")
                try:
                    client.ping()
                    return self
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RedisServerError(f"redis-server did not answer on port {self.port} within "
                                               f"{timeout:.0f}s: {self._log_tail()}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def _log_tail(self, lines: int = 5) -> str:
        log = self.dir / "redis.log"
        tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
        return " | ".join(tail) or f"see {log}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: Redis flushes the AOF), killing it if it does not exit in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """SIGKILL the server (a crash, for tests); start() brings it back from the AOF."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
