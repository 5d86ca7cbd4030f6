"""The `local` backend: champions answered in the router's process with transformers + PEFT.

One base model in memory per base (`BaseWorker`), each champion's adapter loaded beside the
others on it and selected per request. Each base has one worker thread that owns the model:
it takes the requests queued for it, waits `batch_wait_ms` for more, and decodes the ones of
the same adapter together (slimline/decoding `generate`, as evaluation decodes: greedy, tool
calls under the grammar of the request's tools, the champion's confidence signal). Loading
and unloading adapters run on that same thread between batches, so a swap never touches a
model mid-generation; a retired adapter is unloaded `RETIRE_GRACE_S` seconds later and only
when no queued request asks for it, so requests that picked it just before a swap finish
on it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from slimline import adapters
from slimline.decoding import Answer, generate

log = logging.getLogger("slimline.serve")

RETIRE_GRACE_S = 5.0


@dataclass
class Job:
    """One request for a small model's answer."""

    adapter: str
    prompt: list[dict[str, str]]
    tools: list[dict[str, Any]] | None
    rule: Any  # decoding.grammar.CallRule
    max_new_tokens: int
    signal: str
    future: Future = field(default_factory=Future)
    prompt_tokens: int = 0


@dataclass
class _Command:
    """Work on the model itself (load or unload an adapter), done between batches."""

    action: str  # "load" | "unload"
    name: str
    folder: Any = None
    future: Future = field(default_factory=Future)


class BaseWorker:
    """One base model, its adapters, and the thread that decodes with them."""

    def __init__(self, base_model: str, max_batch: int, batch_wait_s: float) -> None:
        self.base_model = base_model
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.queue: queue.Queue[Job | _Command | None] = queue.Queue()
        self.model: Any = None
        self.tokenizer: Any = None
        self.loaded: set[str] = set()
        self.retired: dict[str, float] = {}  # adapter -> when it was retired
        self.pending: dict[str, int] = {}  # adapter -> queued jobs
        self._lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, name=f"slimline-slm-{base_model[-24:]}", daemon=True
        )
        self.thread.start()

    # --- called from any thread ----------------------------------------------------------
    def submit(self, job: Job) -> Future:
        with self._lock:
            self.pending[job.adapter] = self.pending.get(job.adapter, 0) + 1
        self.queue.put(job)
        return job.future

    def command(self, action: str, name: str, folder: Any = None) -> Future:
        cmd = _Command(action, name, folder)
        self.queue.put(cmd)
        return cmd.future

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(30)

    # --- the worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=1.0 if self.retired else None)
            except queue.Empty:
                self._unload_retired()
                continue
            if item is None:
                return
            if isinstance(item, _Command):
                self._do(item)
                continue
            batch = [item]
            deadline = time.monotonic() + self.batch_wait_s
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self.queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if isinstance(more, _Command):
                    self._decode(batch)
                    batch = []
                    self._do(more)
                    break
                batch.append(more)
            if batch:
                self._decode(batch)
            self._unload_retired()
            if stop:
                return

    def _do(self, cmd: _Command) -> None:
        try:
            if cmd.action == "load":
                self._load(cmd.name, cmd.folder)
            else:
                self.retired[cmd.name] = time.monotonic()
            cmd.future.set_result(True)
        except Exception as exc:  # a broken adapter: the caller disables its cluster
            cmd.future.set_exception(exc)

    def _load(self, name: str, folder: Any) -> None:
        self.retired.pop(name, None)  # asked for again (a rollback): it stays
        if name in self.loaded:
            return
        if self.model is None:
            from slimline.models import load_model

            self.model, self.tokenizer = load_model(self.base_model)
            self.model.eval()
        self.model = adapters.attach(self.model, folder, name)
        self.loaded.add(name)
        log.info("loaded adapter %s on %s", name, self.base_model)

    def _unload_retired(self) -> None:
        now = time.monotonic()
        for name, since in sorted(self.retired.items()):
            with self._lock:
                busy = self.pending.get(name, 0) > 0
            if name not in self.loaded:
                self.retired.pop(name)
            elif not busy and now - since >= RETIRE_GRACE_S:
                if len(self.loaded) > 1:  # PEFT keeps at least one adapter on its model
                    self.model.delete_adapter(name)
                    self.loaded.discard(name)
                    log.info("unloaded adapter %s", name)
                self.retired.pop(name)

    def _decode(self, batch: list[Job]) -> None:
        groups: dict[tuple[str, str, int], list[Job]] = {}
        for job in batch:
            if job.future.set_running_or_notify_cancel():
                groups.setdefault((job.adapter, job.signal, job.max_new_tokens), []).append(job)
            else:
                self._done(job)
        for (adapter, signal, max_new), jobs in groups.items():
            try:
                if adapter not in self.loaded:
                    raise RuntimeError(f"adapter {adapter} is not loaded")
                gen = generate(
                    self.model,
                    self.tokenizer,
                    [j.prompt for j in jobs],
                    max_new_tokens=max_new,
                    batch_size=len(jobs),
                    tools=[j.tools for j in jobs],
                    rules=[j.rule for j in jobs],
                    adapter=adapter,
                    signal=signal,
                )
                for job, answer in zip(jobs, gen.answers, strict=True):
                    job.future.set_result((answer, gen.seconds))
            except Exception as exc:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for job in jobs:
                    self._done(job)

    def _done(self, job: Job) -> None:
        with self._lock:
            self.pending[job.adapter] = max(self.pending.get(job.adapter, 1) - 1, 0)


class LocalBackend:
    """The champions' adapters on their base models, in this process."""

    def __init__(self, max_batch: int = 4, batch_wait_ms: float = 5.0) -> None:
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.workers: dict[str, BaseWorker] = {}
        self._lock = threading.Lock()

    def _worker(self, base_model: str) -> BaseWorker:
        with self._lock:
            worker = self.workers.get(base_model)
            if worker is None:
                worker = BaseWorker(base_model, self.max_batch, self.batch_wait_s)
                self.workers[base_model] = worker
            return worker

    def load(self, champion: Any, timeout: float | None = None) -> None:
        """Load a champion's adapter (and its base, the first time); raises when it cannot."""
        worker = self._worker(champion.base_model)
        worker.command("load", champion.adapter, champion.adapter_dir).result(timeout)

    def unload(self, champion: Any) -> None:
        """Unload a champion's adapter once no queued request asks for it (not waited for)."""
        worker = self.workers.get(champion.base_model)
        if worker is not None:
            worker.command("unload", champion.adapter)

    def tokenizer(self, champion: Any) -> Any:
        """The tokenizer of a loaded champion's base."""
        return self._worker(champion.base_model).tokenizer

    def answer(self, champion: Any, job: Job, timeout: float) -> tuple[Answer, float]:
        """The champion's answer to one prompt and the batch's generation seconds; raises
        TimeoutError after `timeout` seconds (the job is dropped if not started)."""
        future = self._worker(champion.base_model).submit(job)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        for worker in list(self.workers.values()):
            worker.stop()
