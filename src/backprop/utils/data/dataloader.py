"""``DataLoader`` (torch.utils.data.dataloader): batches from a dataset through a sampler and a collate_fn.

Argument validation, batching, ``len()``, iterable datasets, ``drop_last`` and ``persistent_workers``
follow torch. ``num_workers > 0`` uses **threads**, not processes: worker ``i`` is a dedicated thread
that receives every ``num_workers``-th batch round-robin (torch's assignment) and batches come back
in sampler order, so the order never depends on timing. Each worker gets a shallow copy of the
dataset (``get_worker_info().dataset``), runs ``worker_init_fn(i)`` first, and has
``get_worker_info()`` set (it is ``None`` in the main thread). NumPy releases the GIL in most array
work, so threads overlap loading with compute. Differences from torch's worker processes: workers
share the process's global state (backprop's default generator, NumPy's global RNG), so only
backprop's random transforms, which draw from the worker's own generator seeded ``base_seed + id``,
are reproducible inside workers; Python-level per-sample work holds the GIL, so threads pay off
only when samples spend their time in NumPy; ``multiprocessing_context`` is validated but unused;
``in_order=False`` still yields in order; a worker's exception is re-raised as is (same type), with
a note naming the worker.

Faults: the worker threads are daemon threads that nothing ever joins, so a worker stuck in
``__getitem__`` never keeps the process alive. With ``timeout=N`` the main thread raises torch's
``RuntimeError("DataLoader timed out after N seconds")`` and the workers are told to stop (also
when the iterator is dropped or exhausted); at interpreter exit a stuck worker is abandoned.
``sys.exit()`` in a worker (``__getitem__``, ``worker_init_fn``) ends that worker only and raises
torch's ``RuntimeError("DataLoader worker (pid N) exited unexpectedly ...")`` (N: the thread's
native id). Unlike a worker process, a thread cannot die alone: ``os._exit()`` or a signal that
kills a worker ends the whole program.

``pin_memory=True``: when a CUDA GPU is available, every batch's CPU tensors are copied to
page-locked memory (``Tensor.pin_memory()``; by the worker threads when there are some, as
torch's pin-memory thread does), ready for a fast ``.to("cuda", non_blocking=True)``; without
one it warns, as torch does without an accelerator. Samples that are already CUDA tensors are
stacked on their device.
"""

from __future__ import annotations

import concurrent.futures
import copy
import itertools
import math
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ... import cuda as _cuda
from ... import random as _random
from ._utils.collate import default_collate, default_convert
from ._utils.fetch import _IterableDatasetFetcher, _MapDatasetFetcher
from ._utils.pin_memory import pin_memory as _pin_memory
from ._utils.worker import WorkerInfo, _set_worker_info, get_worker_info
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

T_co = TypeVar("T_co", covariant=True)

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_VALID_START_METHODS = ("fork", "spawn", "forkserver")


class _DatasetKind:
    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind: int, dataset, auto_collation: bool, collate_fn, drop_last: bool):
        if kind == _DatasetKind.Map:
            return _MapDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)
        return _IterableDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the index sampler of an IterableDataset."""

    def __iter__(self):
        while True:
            yield None


class DataLoader(Generic[T_co]):
    """Iterate over ``dataset`` in batches (torch.utils.data.DataLoader).

    ``shuffle=True`` draws a fresh permutation each epoch from ``generator`` (or from the default
    generator), so the same seed gives the same order. See the module docstring for worker threads.
    """

    dataset: Dataset[T_co]
    batch_size: int | None
    num_workers: int
    pin_memory: bool
    drop_last: bool
    timeout: float
    sampler: Sampler | Iterable
    prefetch_factor: int | None
    _iterator: Any
    __initialized = False

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler[list] | Iterable[list] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)

        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator

        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._IterableDataset_len_called = None
        self._iterator = None
        self.__initialized = True

    @property
    def multiprocessing_context(self):
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context) -> None:
        if multiprocessing_context is not None:
            if self.num_workers <= 0:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                    f"but got num_workers={self.num_workers}"
                )
            if isinstance(multiprocessing_context, str) and multiprocessing_context not in _VALID_START_METHODS:
                raise ValueError(
                    "multiprocessing_context option should specify a valid start method in "
                    f"{list(_VALID_START_METHODS)!r}, but got multiprocessing_context={multiprocessing_context!r}"
                )
        self.__multiprocessing_context = multiprocessing_context

    def __setattr__(self, attr: str, val) -> None:
        if self.__initialized and attr in (
            "batch_size",
            "batch_sampler",
            "sampler",
            "drop_last",
            "dataset",
            "persistent_workers",
        ):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    def _get_iterator(self) -> _BaseDataLoaderIter:
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _ThreadedDataLoaderIter(self)

    def __iter__(self) -> _BaseDataLoaderIter:
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None or self._iterator._shutdown:  # new workers after a timeout or an exit
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._pin_memory = loader.pin_memory and _cuda.is_available()  # as torch: a usable GPU, not a loaded library
        if loader.pin_memory and not self._pin_memory:
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device pinned memory won't be used.",
                stacklevel=3,
            )
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        gen = loader.generator if loader.generator is not None else _random.default_generator
        self._base_seed = int(gen.rng.integers(0, 2**63 - 1))
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0

    def __iter__(self) -> _BaseDataLoaderIter:
        return self

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self):
        return next(self._sampler_iter)  # may raise StopIteration

    def _next_data(self):
        raise NotImplementedError

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        if (
            self._dataset_kind == _DatasetKind.Iterable
            and self._IterableDataset_len_called is not None
            and self._num_yielded > self._IterableDataset_len_called
        ):
            msg = (
                f"Length of IterableDataset {self._dataset} was reported to be {self._IterableDataset_len_called}"
                f"(when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. "
            )
            if self._num_workers > 0:
                msg += (
                    "For multiprocessing data-loading, this could be caused by not properly configuring the "
                    "IterableDataset replica at each worker."
                )
            warnings.warn(msg, stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        if self._timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._dataset_fetcher = _DatasetKind.create_fetcher(
            self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn, self._drop_last
        )

    def _next_data(self):
        index = self._next_index()  # may raise StopIteration
        data = self._dataset_fetcher.fetch(index)  # may raise StopIteration
        if self._pin_memory:
            data = _pin_memory(data)
        return data


def _shallow_copy(dataset):
    try:
        return copy.copy(dataset)
    except Exception:  # an uncopyable dataset is shared between workers
        return dataset


class _WorkerExitedError(Exception):
    """Set on a worker's futures when the worker thread ended by ``SystemExit`` (``sys.exit()`` in
    ``__getitem__`` or ``worker_init_fn``): the thread analogue of a worker process that exited."""

    def __init__(self, tid: int, code) -> None:
        super().__init__(tid, code)
        self.tid, self.code = tid, code


_STOP = object()


def _exited_error(exc: _WorkerExitedError) -> RuntimeError:
    """torch's error for a worker that exited: the thread's native id stands for the pid."""
    if exc.code in (None, 0):
        return RuntimeError(f"DataLoader worker (pid(s) {exc.tid}) exited unexpectedly")
    return RuntimeError(
        f"DataLoader worker (pid {exc.tid}) exited unexpectedly with exit code {exc.code}. "
        "Rerunning with num_workers=0 may give better error trace."
    )


class _Worker:
    """One worker: a dedicated **daemon** thread with its own dataset copy and fetcher.

    Daemon, so that a worker stuck in ``__getitem__`` (a sleep, a deadlock, a dead network share)
    never keeps the process alive: after a timeout, the iterator's deletion, an exception or at
    interpreter exit the worker is told to stop and abandoned; nothing ever joins it.
    """

    def __init__(self, worker_id: int, num_workers: int, seed: int, dataset, init_fn, pin: bool = False) -> None:
        self.id = worker_id
        self.pin = pin  # pin each batch in this thread (torch's pin-memory thread)
        self.dataset = _shallow_copy(dataset)
        self.info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=self.dataset)
        self.active = True
        self.fetcher = None
        self.error: BaseException | None = None
        self.exited: _WorkerExitedError | None = None
        self.tid = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._loop, args=(init_fn,), name=f"DataLoaderWorker{worker_id}", daemon=True
        )
        self._thread.start()

    def _loop(self, init_fn) -> None:
        self.tid = threading.get_native_id()
        _set_worker_info(self.info)
        try:
            if init_fn is not None:
                init_fn(self.id)
        except SystemExit as exc:
            self._exit(exc.code)
            return
        except BaseException as exc:  # re-raised in the main thread by the first fetch
            self.error = exc
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, args, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except SystemExit as exc:  # the worker "process" exits: this and every queued fetch fail
                future.set_exception(self._exit(exc.code))
                return
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, item, fn, args

    def _exit(self, code) -> _WorkerExitedError:
        with self._lock:
            self._stopped = True
            self.exited = _WorkerExitedError(self.tid, code)
        self._cancel_queued(self.exited)
        return self.exited

    def _cancel_queued(self, exc: BaseException | None) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                continue
            future = item[2]
            if exc is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():
                future.set_exception(exc)

    def _submit(self, fn, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self.exited is not None:
                future.set_exception(self.exited)
            elif self._stopped:
                future.cancel()
            else:
                self._queue.put((fn, args, future))
        return future

    def reset(self, kind: int, auto_collation: bool, collate_fn, drop_last: bool) -> None:
        self.active = True
        self._submit(self._make_fetcher, kind, auto_collation, collate_fn, drop_last)

    def _make_fetcher(self, kind, auto_collation, collate_fn, drop_last) -> None:
        if self.error is not None:
            return
        try:  # iter(dataset) runs here, in the worker, so __iter__ sees get_worker_info()
            self.fetcher = _DatasetKind.create_fetcher(kind, self.dataset, auto_collation, collate_fn, drop_last)
        except SystemExit:
            raise
        except BaseException as exc:
            self.error = exc

    def submit(self, index) -> concurrent.futures.Future:
        return self._submit(self._fetch, index)

    def _fetch(self, index):
        if self.error is not None:
            raise self.error
        try:
            data = self.fetcher.fetch(index)
        except StopIteration:
            return False, None
        return True, _pin_memory(data) if self.pin else data

    def shutdown(self) -> None:
        """Stop taking work, cancel what is queued and let the thread end; never waits for it."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._cancel_queued(None)
        self._queue.put(_STOP)


class _ThreadedDataLoaderIter(_BaseDataLoaderIter):
    """Worker threads, batches assigned round-robin and returned in order, ``prefetch_factor`` per worker ahead."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._workers = [
            _Worker(i, self._num_workers, self._base_seed + i, self._dataset, loader.worker_init_fn, self._pin_memory)
            for i in range(self._num_workers)
        ]
        self._shutdown = False
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        if not first_iter:
            super()._reset(loader, first_iter)
        self._tasks: deque = deque()
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        for w in self._workers:
            w.reset(self._dataset_kind, self._auto_collation, self._collate_fn, self._drop_last)
        for _ in range(max(self._prefetch_factor, 1) * self._num_workers):
            self._try_put_index()

    def _try_put_index(self) -> None:
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker = self._workers[next(self._worker_cycle)]
            if worker.active:
                self._tasks.append((worker, worker.submit(index)))
                return

    def _next_data(self):
        while True:
            if not self._tasks:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            worker, future = self._tasks.popleft()
            try:
                ok, data = future.result(timeout=self._timeout if self._timeout > 0 else None)
            except concurrent.futures.TimeoutError:
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
            except _WorkerExitedError as exc:
                self._shutdown_workers()
                raise _exited_error(exc) from exc
            except concurrent.futures.CancelledError:  # the workers were shut down: iterating on is an error
                raise RuntimeError("DataLoader: the workers of this iterator were shut down") from None
            except Exception as exc:
                self._try_put_index()
                if hasattr(exc, "add_note"):
                    exc.add_note(f"Caught {type(exc).__name__} in DataLoader worker thread {worker.id}.")
                raise
            if not ok:  # this worker's IterableDataset copy is exhausted
                worker.active = False
                self._try_put_index()
                continue
            self._try_put_index()
            return data

    def _shutdown_workers(self) -> None:
        """Tell every worker to stop (torch's ``_shutdown_workers``); stuck ones are daemon threads, abandoned."""
        if not self._shutdown:
            self._shutdown = True
            for w in self._workers:
                w.shutdown()

    def __del__(self) -> None:
        if getattr(self, "_workers", None) is not None:
            try:
                self._shutdown_workers()
            except Exception:  # interpreter shutdown
                pass
