"""Checkpoints of a training run: orbax, verified before and after every restore.

``<workdir>/checkpoints/<step>/`` holds ``state`` (the arrays), ``meta`` (JSON: the run's
counters, history and fingerprint, and a sha256 of the arrays, since a flipped byte in a
compressed array reads back as wrong numbers without an error) and ``jaxloss_files.json``
(each file's size and sha256, written once orbax has finalised the step, so a damaged file
is named in one line and never handed to orbax). With several processes each takes part
(orbax writes each array once) and process 0 writes the file list.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxloss.tudui.errors import CheckpointError, one_line, setting

CHECKPOINT_FORMAT = 1
FILE_LIST = "jaxloss_files.json"
# fingerprint entries that are TrainConfig fields (named as flags on the command line)
_FINGERPRINT_FIELDS = ("optimizer", "learning_rate", "batch_size", "seed")
_LOCAL_FILE = re.compile(r'local file "([^"]+)"')


def state_digest(tree) -> str:
    """sha256 over every array of ``tree`` (path, dtype, shape, bytes): detects any
    corrupted byte that the storage layer would hand back silently."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if hasattr(leaf, "addressable_data"):  # replicated: the local copy is the array
            leaf = leaf.addressable_data(0)
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def saved_steps(directory) -> list[int]:
    """The steps saved in ``directory``, oldest first, from the file system alone (orbax
    names a finished save ``<step>``, one in progress ``<step>.orbax-checkpoint-tmp-*``)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir())


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _list_files(step_dir: Path) -> dict[str, list]:
    return {
        p.relative_to(step_dir).as_posix(): [p.stat().st_size, _file_sha256(p)]
        for p in sorted(step_dir.rglob("*"))
        if p.is_file() and p.name != FILE_LIST
    }


def _damaged_file(step_dir: Path) -> str | None:
    """What is wrong with the first damaged file of ``step_dir`` per its file list, or None
    (all files as written, or no file list to check against)."""
    try:
        listed = json.loads((step_dir / FILE_LIST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"{FILE_LIST} is unreadable ({type(e).__name__})"
    for rel, (size, sha) in listed.items():
        path = step_dir / rel
        if not path.is_file():
            return f"{rel} is missing"
        got = path.stat().st_size
        if got != size:
            kind = "truncated" if got < size else "longer than written"
            return f"{rel} is {kind}: {got} bytes, written with {size}"
        if _file_sha256(path) != sha:
            return f"{rel} has changed since it was written (sha256 differs)"
    return None


def _one_line_reason(e: BaseException, step_dir: Path) -> str:
    """A storage-library exception as one short line: the file it names, else its first
    sentence (TensorStore specs and stack dumps dropped)."""
    text = ""
    while e is not None and len(text) < 20000:
        text += f" {e}"
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    for hit in _LOCAL_FILE.findall(text):
        path = Path(hit)
        if path.is_file() or not path.exists():
            try:
                rel = path.resolve().relative_to(step_dir).as_posix()
            except ValueError:
                continue
            if rel != ".":
                return f"{rel} cannot be read" + (" (missing)" if not path.exists() else "")
    first = " ".join(text.split("See full TensorStore details")[0].split())
    return one_line(first.split(" [tensorstore_spec")[0])


class Checkpoints:
    """Orbax checkpoints of one run: ``<directory>/<step>/{state, meta, jaxloss_files.json}``.

    ``primary`` is whether this process writes the file lists (process 0).
    """

    def __init__(self, directory, keep: int = 3, *, primary: bool = True) -> None:
        self.directory = Path(directory).resolve()
        self.primary = primary
        self._unlisted: list[int] = []  # saved steps whose file list is not written yet
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            item_names=("state", "meta"),
        )
        self.saved_step: int | None = self.manager.latest_step()  # the newest save (or start)

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc) -> None:
        self.wait()
        self.manager.close()

    def save(self, step: int, state: dict, meta: dict) -> None:
        """Start saving ``state`` (arrays) and ``meta`` (JSON) as ``step``; returns before
        the arrays are written."""
        self.wait()  # orbax would wait for the previous save anyway; list its files now
        meta = dict(meta, format=CHECKPOINT_FORMAT, digest=state_digest(state))
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._unlisted.append(step)
        self.saved_step = step

    def wait(self) -> None:
        """Wait for the pending save, then write the file lists of the finished steps."""
        self.manager.wait_until_finished()
        if self.primary:
            kept = set(self.manager.all_steps())
            for step in self._unlisted:
                step_dir = self.directory / str(step)
                if step in kept and step_dir.is_dir():
                    tmp = step_dir / (FILE_LIST + ".tmp")
                    tmp.write_text(json.dumps(_list_files(step_dir), indent=0))
                    tmp.replace(step_dir / FILE_LIST)
        self._unlisted.clear()

    def restore(
        self, step: int, abstract_state: dict, fingerprint: dict | None
    ) -> tuple[dict, dict]:
        """Restore ``step`` into the structure and shardings of ``abstract_state``, checked
        (``fingerprint``: that of the run resuming it, or None)."""
        step_dir = self.directory / str(step)
        where = f"checkpoint step {step} ({step_dir})"
        older = [s for s in self.manager.all_steps() if s < step]
        hint = (
            f"delete {step_dir} to resume from the previous checkpoint (step {max(older)}), "
            "or start a new run in another --workdir"
            if older
            else "start a new run in another --workdir (no older checkpoint exists)"
        )
        damaged = _damaged_file(step_dir)
        if damaged is not None:
            raise CheckpointError(f"{where} is damaged: {damaged}; {hint}")
        try:
            meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
                "meta"
            ]
        except Exception as e:
            reason = _one_line_reason(e, step_dir)
            raise CheckpointError(f"{where}: its metadata is unreadable ({reason}); {hint}") from e
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{where} has no valid jaxloss metadata (got {repr(meta)[:200]}); {hint}"
            )
        saved = meta.get("fingerprint", {})
        diffs = [
            f"{setting(key) if key in _FINGERPRINT_FIELDS else key}: "
            f"checkpoint {saved.get(key)!r}, this run {value!r}"
            for key, value in (fingerprint or {}).items()
            if saved.get(key) != value
        ]
        if diffs:
            raise CheckpointError(
                f"{where} belongs to a different run; mismatched {'; '.join(diffs)}. Resume "
                "with the original settings, or train without --resume in a new --workdir"
            )
        try:
            state = self.manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
            )["state"]
        except Exception as e:
            reason = _one_line_reason(e, step_dir)
            raise CheckpointError(f"{where} cannot be restored: {reason}; {hint}") from e
        want = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), abstract_state)
        got = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), state)
        same_tree = str(jax.tree.structure(state)) == str(jax.tree.structure(abstract_state))
        if not same_tree or want != got:
            raise CheckpointError(
                f"{where} holds arrays of other shapes/dtypes than this model; {hint}"
            )
        if state_digest(state) != meta.get("digest"):
            raise CheckpointError(f"{where} is corrupt: its arrays fail the sha256 check; {hint}")
        return state, meta
