"""The base of every jaxloss class: declared, immutable settings registered as a pytree.

A class declares its settings once, as annotated attributes (as equinox modules and
dataclasses do); immutability, the pytree structure, ``repr``, equality and hashing follow
from that declaration. Settings declared with :func:`array_field` are pytree leaves (arrays,
or trees of arrays such as a model's parameters); all others are static. ``__init__`` is
the class's own (torch's signature) and sets the settings with ``self._set(...)``; rebuilding
from a pytree never calls it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax


def array_field() -> Any:
    """Declare an array-valued setting: a pytree leaf (None when not given)."""
    return dataclasses.field(default=None, metadata={"array": True})


class Module:
    """Base of every class here: declared, immutable settings registered as a pytree."""

    _arrays: ClassVar[tuple[str, ...]] = ()  # derived: the array_field() settings
    _static: ClassVar[tuple[str, ...]] = ()  # derived: every other setting

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, init=False, repr=False, eq=False)(cls)
        cls.__setattr__ = Module.__setattr__  # type: ignore[method-assign]  # our message
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        cls._arrays = tuple(f.name for f in fields if f.metadata.get("array"))
        cls._static = tuple(f.name for f in fields if not f.metadata.get("array"))
        jax.tree_util.register_pytree_with_keys(
            cls, cls._flatten_with_keys, cls._unflatten, cls._flatten
        )

    def _set(self, **settings: Any) -> None:
        """Set declared settings from ``__init__`` (the instance is frozen afterwards)."""
        for name, value in settings.items():
            if name not in self._arrays and name not in self._static:
                raise AttributeError(f"{type(self).__name__} declares no setting {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"{type(self).__name__} is immutable; build a new one, e.g. "
            f"{type(self).__name__}({name}={value!r})"
        )

    def _replace(self, **changes: Any) -> Any:
        """A copy with some settings changed (no validation: for trusted internal use)."""
        obj = object.__new__(type(self))
        for name in (*self._static, *self._arrays):
            object.__setattr__(obj, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise AttributeError(
                f"{type(self).__name__} declares no setting {next(iter(changes))!r}"
            )
        return obj

    # -- pytree ---------------------------------------------------------------
    def _static_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple((k, getattr(self, k)) for k in self._static)

    def _flatten(self) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
        return [getattr(self, k) for k in self._arrays], self._static_items()

    def _flatten_with_keys(self) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
        children = [(jax.tree_util.GetAttrKey(k), getattr(self, k)) for k in self._arrays]
        return children, self._static_items()

    @classmethod
    def _unflatten(cls, static: tuple[tuple[str, Any], ...], children: Any) -> Any:
        obj = object.__new__(cls)
        for name, value in (*static, *zip(cls._arrays, children)):
            object.__setattr__(obj, name, value)
        return obj

    # -- value semantics ------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Module)
        return self._static_items() == other._static_items() and all(
            getattr(self, k) is getattr(other, k) for k in self._arrays
        )

    def __hash__(self) -> int:
        arrays = tuple(id(getattr(self, k)) for k in self._arrays)
        return hash((type(self), self._static_items(), arrays))

    def __repr__(self) -> str:
        shown = []
        for k in (*self._static, *self._arrays):
            v = getattr(self, k)
            if v is None or (k == "reduction" and v == "mean"):
                continue
            shown.append(f"{k}=Array{tuple(v.shape)}" if k in self._arrays else f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"
