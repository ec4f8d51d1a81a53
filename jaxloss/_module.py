"""The base of every jaxloss class: declared, immutable settings registered as a pytree.

A class declares its settings once, as annotated attributes (as equinox modules and
dataclasses do); immutability, the pytree structure, ``repr``, equality and hashing follow
from that declaration. Settings declared with :func:`array_field` are pytree leaves (arrays,
or trees of arrays such as a model's parameters); all others are static. ``__init__`` is
the class's own (torch's signature) and sets the settings with ``self._set(...)``; rebuilding
from a pytree never calls it.

Changes go through ``loss.replace(**changes)`` (``dataclasses.replace(loss, ...)`` is the
same call): the class is rebuilt through its own ``__init__`` from every current setting
plus the changes, so a change is validated as at construction and nothing else is lost.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, ClassVar, Self

import jax
import numpy as np


def array_field() -> Any:
    """Declare an array-valued setting: a pytree leaf (None when not given)."""
    return dataclasses.field(default=None, metadata={"array": True})


def _checked_init(init: Any) -> Any:
    """Wrap a class's own ``__init__`` (its signature is kept, through ``__wrapped__``).

    After the outermost ``__init__`` of a construction, every declared setting must have
    been set. ``dataclasses.replace(loss, **changes)`` calls ``type(loss)(**every_setting)``;
    where the settings are not all ``__init__`` keywords (``PairwiseDistance`` stores ``p``
    as ``norm``; a layer's weights are initialised, not passed), that call is taken as a
    rebuild from settings, which is what ``Module.replace`` does.
    """

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        outermost = cls.__init__ is __init__  # not a parent's, called through super()
        if outermost and not args and kwargs and set(kwargs) == set(cls._settings()):
            try:
                inspect.signature(init).bind(self, **kwargs)
            except TypeError:
                built = cls._rebuild(kwargs)
                for name in cls._settings():
                    object.__setattr__(self, name, getattr(built, name))
                return
        init(self, *args, **kwargs)
        if outermost:
            unset = [name for name in cls._settings() if name not in vars(self)]
            if unset:
                raise TypeError(f"{cls.__name__}.__init__ did not set {', '.join(unset)}")

    return __init__


class Module:
    """Base of every class here: declared, immutable settings registered as a pytree."""

    _arrays: ClassVar[tuple[str, ...]] = ()  # derived: the array_field() settings
    _static: ClassVar[tuple[str, ...]] = ()  # derived: every other setting
    # a setting stored under another name than the __init__ keyword that sets it
    _init_keyword: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, init=False, repr=False, eq=False)(cls)
        cls.__setattr__ = Module.__setattr__  # type: ignore[method-assign]  # our message
        if "__init__" in vars(cls):
            cls.__init__ = _checked_init(vars(cls)["__init__"])  # type: ignore[method-assign]
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        cls._arrays = tuple(f.name for f in fields if f.metadata.get("array"))
        cls._static = tuple(f.name for f in fields if not f.metadata.get("array"))
        jax.tree_util.register_pytree_with_keys(
            cls, cls._flatten_with_keys, cls._unflatten, cls._flatten
        )

    @classmethod
    def _settings(cls) -> tuple[str, ...]:
        return (*cls._static, *cls._arrays)

    def _set(self, **settings: Any) -> None:
        """Set declared settings from ``__init__`` (the instance is frozen afterwards)."""
        for name, value in settings.items():
            if name not in self._arrays and name not in self._static:
                raise AttributeError(f"{type(self).__name__} declares no setting {name!r}")
            object.__setattr__(self, name, value)

    # -- changes ------------------------------------------------------------------
    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` and every other setting kept (e.g. ``pos_weight``).

        The copy is built through the class's own ``__init__`` (torch's signature) from the
        current settings and the changes, so a bad value raises the constructor's error.
        A setting is named as the attribute it is stored in (``PairwiseDistance``'s
        ``norm``) or as the ``__init__`` keyword that sets it (``p``). Settings that
        ``__init__`` initialises rather than takes (a layer's weights) are kept as they are,
        and must keep the shapes the other settings give them.
        ``dataclasses.replace(loss, **changes)`` does the same.

        Example:
            >>> import jax.numpy as jnp, jaxloss
            >>> loss = jaxloss.BCEWithLogitsLoss(pos_weight=jnp.array([2.0, 0.5]))
            >>> per_element = loss.replace(reduction="none")
            >>> per_element.reduction, per_element.pos_weight.shape
            ('none', (2,))
        """
        cls = type(self)
        by_keyword = {kw: name for name, kw in cls._init_keyword.items()}
        settings = {name: getattr(self, name) for name in cls._settings()}
        for key, value in changes.items():
            name = by_keyword.get(key, key)
            if name not in settings:
                raise TypeError(
                    f"{cls.__name__}.replace: {key!r} is not a setting; the settings are "
                    f"{', '.join(cls._settings())}"
                )
            settings[name] = value
        return cls._rebuild(settings)

    @classmethod
    def _rebuild(cls, settings: dict[str, Any]) -> Any:
        """Build through ``__init__`` from a value for every declared setting."""
        params = inspect.signature(cls.__init__).parameters
        kwargs = {}
        for name, value in settings.items():
            keyword = cls._init_keyword.get(name, name)
            if keyword in params:
                kwargs[keyword] = value
        kept = {name: v for name, v in settings.items() if name not in cls._taken_by_init()}
        kwargs.update(cls._init_extras(kept))
        obj = cls(**kwargs)
        for name, value in kept.items():
            built = getattr(obj, name)
            # the same tree of the same shapes (None where __init__ made none)
            if jax.tree.map(np.shape, value) != jax.tree.map(np.shape, built):
                raise ValueError(
                    f"{cls.__name__}.replace: these settings make {name} "
                    f"{_show(built)} but the kept {name} is {_show(value)}; pass {name} "
                    f"too, or build a new {cls.__name__}"
                )
            object.__setattr__(obj, name, value)
        return obj

    @classmethod
    def _taken_by_init(cls) -> tuple[str, ...]:
        """The settings that ``__init__`` takes as keywords (the others it initialises)."""
        params = inspect.signature(cls.__init__).parameters
        return tuple(n for n in cls._settings() if cls._init_keyword.get(n, n) in params)

    @classmethod
    def _init_extras(cls, kept: dict[str, Any]) -> dict[str, Any]:
        """``__init__`` arguments beyond the settings (a PRNG key, a dtype) that rebuild a
        module whose ``kept`` settings (the ones ``__init__`` initialises) are then set."""
        return {}

    def _differs_from_default(self, name: str) -> bool:
        """Whether a setting differs from its ``__init__`` default (True without one)."""
        params = inspect.signature(type(self).__init__).parameters
        param = params.get(type(self)._init_keyword.get(name, name))
        if param is None or param.default is inspect.Parameter.empty:
            return True
        value = getattr(self, name)
        if value is None or param.default is None:
            return value is not param.default
        try:
            return bool(value != param.default)
        except (TypeError, ValueError):  # an array
            return True

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        by_keyword = {kw: setting for setting, kw in cls._init_keyword.items()}
        setting = by_keyword.get(name, name)
        if setting not in cls._settings():
            raise dataclasses.FrozenInstanceError(
                f"{cls.__name__} is immutable and has no setting {name!r}; its settings are "
                f"{', '.join(cls._settings())}"
            )
        # named as __init__ names them (replace takes either name)
        keyword = cls._init_keyword.get(setting, setting)
        keeps = [
            cls._init_keyword.get(n, n)
            for n in cls._settings()
            if n != setting and self._differs_from_default(n)
        ]
        also = f" (keeps {', '.join(keeps)})" if keeps else ""
        raise dataclasses.FrozenInstanceError(
            f"{cls.__name__} is immutable; use loss.replace({keyword}={_show(value)}){also}"
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
        """The settings that differ from the ``__init__`` signature's defaults."""
        shown = []
        for k in self._settings():
            v = getattr(self, k)
            if v is None or not self._differs_from_default(k):
                continue
            array = k in self._arrays and hasattr(v, "shape")
            shown.append(f"{k}=Array{tuple(v.shape)}" if array else f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _show(value: Any) -> str:
    """A value as a message shows it: arrays (and trees of them) by shape, never in full."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<array shape {tuple(value.shape)}>"
    leaves = jax.tree.leaves(value)
    if isinstance(value, (list, tuple)) and leaves and all(hasattr(v, "shape") for v in leaves):
        shapes = jax.tree.map(lambda a: tuple(a.shape), value)
        return f"<arrays of shapes {shapes}>"
    return repr(value)
