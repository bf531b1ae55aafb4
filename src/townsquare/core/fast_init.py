"""Cheap construction for the frozen, slotted dataclasses built once per event.

A frozen dataclass overrides ``__setattr__`` (so that assignment raises), which has two
costs when it is built: its ``__init__`` must assign every field through a C-level
side door (``object.__setattr__``, or a slot descriptor's ``__set__``), and each such call
goes through a generic wrapper that allocates an argument tuple: about 700 instructions
per field. The pipeline builds a dozen of these objects per event, with 3 to 13 fields
each, so that was most of what an event cost.

`fast_init` keeps the class exactly as `dataclass` made it (fields, ``__eq__``,
``__hash__``, ``__repr__``, the raising ``__setattr__``, `dataclasses.replace`, what
mypy sees) and replaces only how an instance comes to be. Each decorated class gets a
*shape*: a private subclass that adds no slots and restores ordinary ``__setattr__``.
A generated ``__new__`` creates a shape instance, fills its slots with ordinary
attribute assignments (which the interpreter specialises into a direct slot store, about
30 instructions), then turns it into the frozen class with one ``__class__`` assignment.
Python allows that assignment because the shape has exactly its parent's memory layout
(checked once, when the class is decorated); a shape instance never escapes. The
``__init__`` is removed, so construction does not assign every field a second time.
Instances are indistinguishable from before: the same class, attributes, equality, hash
and repr; assignment still raises `dataclasses.FrozenInstanceError`. Pickling and `copy`
go through the constructor (see `_reduce`), since ``cls.__new__(cls)`` without
arguments cannot build a class with required fields.

Measured with valgrind (instructions to build one object, including its deallocation):
3 fields 3,560 -> 2,900; 13 fields 10,780 -> 4,450; through `direct_constructor`, which
skips the generic type call, 3 fields 2,070. ``bench core`` went from 134.6k to 111.8k
instructions per event with the ``__new__``, to 103.7k with the direct constructors at
the hot call sites, and to 101.5k once the shape became a subclass (retyping between
unrelated classes compares their slot names, for every object).

Only for final classes: a subclass would have a different layout from the shape.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def _reduce(self: Any) -> tuple[type[Any], tuple[Any, ...]]:
    """Pickle and copy by calling the class with the field values, in field order."""
    cls = type(self)
    return cls, tuple(getattr(self, name) for name in cls.__slots__)


#: Each decorated class's direct constructor (see `direct_constructor`).
_DIRECT: dict[type[Any], Any] = {}


def direct_constructor(cls: type[T]) -> type[T]:
    """A function that builds ``cls`` exactly as ``cls(...)`` does, only cheaper.

    Calling a class runs the interpreter's generic type-call machinery (find ``__new__``,
    call it with the class prepended, then call ``object.__init__``), about 800
    instructions per object. The few call sites that build objects for every event (the
    draft's credits and freeze, the outcome, the activity breakdown) call the generated
    body directly instead. It is typed as the class so that mypy checks those calls
    against the class's own signature; it is a function, so use it only to construct
    (not with ``isinstance``).
    """
    return _DIRECT[cls]  # type: ignore[no-any-return]


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen slotted dataclass a ``__new__`` that fills a mutable shape, then retypes it."""
    if not is_dataclass(cls) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} must be a slotted dataclass")
    names = tuple(field.name for field in fields(cls))
    if tuple(vars(cls)["__slots__"]) != names or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} must declare only its fields as slots, on object")
    # A subclass adding no slots has its parent's layout, so Python accepts the retyping
    # without comparing slot names (which it would do, per object, for unrelated
    # classes); plain attribute assignment makes its stores direct slot stores, and
    # object's ``__new__`` keeps ``_shape()`` from calling the generated one.
    shape = type(
        f"_{cls.__name__}Shape",
        (cls,),
        {
            "__slots__": (),
            "__new__": object.__new__,
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
        },
    )
    namespace: dict[str, Any] = {"_MISSING": MISSING, "_shape": shape}
    parameters: list[str] = []
    body: list[str] = ["    self = _shape()"]
    for field in fields(cls):
        name = field.name
        if field.default is not MISSING:
            namespace[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_MISSING")
            body.append(f"    if {name} is _MISSING: {name} = _factory_{name}()")
        else:
            parameters.append(name)
        body.append(f"    self.{name} = {name}")
    signature = ", ".join(parameters)
    code = "\n".join(body)
    # ``__new__`` serves ``cls(...)``; ``direct`` is the same body with the class bound in.
    source = f"def __new__(cls, {signature}):\n{code}\n    self.__class__ = cls\n    return self\n"
    source += f"def direct({signature}):\n{code}\n    self.__class__ = _cls\n    return self\n"
    namespace["_cls"] = cls
    exec(source, namespace)  # noqa: S102 - generated from the class's own field names
    new, direct = namespace["__new__"], namespace["direct"]
    direct.__qualname__ = f"{cls.__qualname__}.<direct constructor>"
    direct.__doc__ = f"Build a {cls.__name__} without the type-call machinery."
    _DIRECT[cls] = direct
    new.__qualname__ = f"{cls.__qualname__}.__new__"
    new.__doc__ = cls.__init__.__doc__
    cls.__new__ = staticmethod(new)  # type: ignore[method-assign]
    del cls.__init__  # object.__init__ accepts (and ignores) the arguments __new__ took
    cls.__reduce__ = _reduce  # type: ignore[method-assign]
    # Fail now, not on first use, if Python would refuse the __class__ assignment.
    probe = shape()
    probe.__class__ = cls
    return cls
