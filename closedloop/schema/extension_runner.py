"""strawberry's schema extension runner, with each extension's hooks looked up once per
class instead of once per request.

For every request and every stage (operation, parsing, validation, execution) strawberry
inspects each extension's hook (``inspect.isgeneratorfunction`` and friends) and wraps it
with ``contextlib.contextmanager`` (``functools.update_wrapper`` each time): about a third of
the fixed cost of a request that runs nothing (``{ __typename }``). Here the kind of each
hook is found once per extension class and stage, and the request's context managers are
made straight from it. Entering and leaving them is strawberry's own code (the same exit
stack, so the same order, exception passing and suppression); any hook that is neither a
generator nor an async generator function is wrapped by strawberry itself, as before.
"""

from __future__ import annotations

import contextlib
import inspect
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

# contextlib's own classes behind ``contextmanager`` and ``asynccontextmanager``
# (``cls(func, args, kwds)``); without them, strawberry wraps every hook as it always did.
_SYNC: Any = getattr(contextlib, "_GeneratorContextManager", None)
_ASYNC: Any = getattr(contextlib, "_AsyncGeneratorContextManager", None)

_NONE, _GENERATOR, _ASYNC_GENERATOR, _OTHER = range(4)
# (extension class, hook name) -> (kind, the class's hook function)
_KINDS: dict[tuple[type, str], tuple[int, Any]] = {}


def _kind(extension_class: type, hook_name: str) -> tuple[int, Any]:
    found = _KINDS.get((extension_class, hook_name))
    if found is None:
        hook = getattr(extension_class, hook_name)
        if hook is getattr(SchemaExtension, hook_name):
            found = (_NONE, None)
        elif inspect.isgeneratorfunction(hook) and _SYNC is not None:
            found = (_GENERATOR, hook)
        elif inspect.isasyncgenfunction(hook) and _ASYNC is not None:
            found = (_ASYNC_GENERATOR, hook)
        else:
            found = (_OTHER, hook)
        _KINDS[(extension_class, hook_name)] = found
    return found


def _hooks(manager: ExtensionContextManagerBase, extensions: list[SchemaExtension]) -> None:
    """``ExtensionContextManagerBase.__init__``, from the kinds found once per class."""
    name = manager.HOOK_NAME
    hooks: list[WrappedHook] = []
    for extension in extensions:
        kind, hook = _kind(type(extension), name)
        if kind == _GENERATOR:
            # what contextlib.contextmanager(MethodType(hook, extension))() makes
            hooks.append(WrappedHook(extension, partial(_SYNC, hook, (extension,), {}), False))
        elif kind == _ASYNC_GENERATOR:
            hooks.append(WrappedHook(extension, partial(_ASYNC, hook, (extension,), {}), True))
        elif kind == _OTHER:
            wrapped = manager.get_hook(extension)
            if wrapped is not None:
                hooks.append(wrapped)
    manager.hooks = hooks
    manager.default_hook = getattr(SchemaExtension, name)


class _Operation(OperationContextManager):
    __slots__ = ()

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        _hooks(self, extensions)


class _Parsing(ParsingContextManager):
    __slots__ = ()

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        _hooks(self, extensions)


class _Validation(ValidationContextManager):
    __slots__ = ()

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        _hooks(self, extensions)


class _Executing(ExecutingContextManager):
    __slots__ = ()

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        _hooks(self, extensions)


class ExtensionsRunner(SchemaExtensionsRunner):
    """``SchemaExtensionsRunner`` whose stages look hooks up once per extension class."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
