"""Checks that a README snippet names real things, without running it.

The snippet is compiled; its imports must resolve; then every attribute it reads and every
keyword it passes is checked against what the names stand for — an imported class, function or
module, an instance made from one (``x = Cls(...)``, ``with Cls(...) as x``), or what a call
returns (its return annotation, a dataclass field's or a pydantic field's type). Names the
snippet leaves to the reader (``graph``, ``my_token``) are not checked.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Value:
    """The object itself: a module, a class, a function (an imported name)."""

    obj: Any


@dataclass(frozen=True)
class Instance:
    """An instance of ``cls``."""

    cls: type


Known = Value | Instance | None


@dataclass
class Checked:
    """What was checked (``Cls.attr``, ``fn(kw=)``), and what was wrong."""

    names: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # a name only imported for type checking: unknown, not wrong
        return {}


def _as_known(t: Any) -> Known:
    return Instance(t) if isinstance(t, type) else None


def _attr_of_class(cls: type, attr: str) -> tuple[bool, Known]:
    fields = getattr(cls, "model_fields", None)  # pydantic: fields are not class attributes
    if isinstance(fields, dict) and attr in fields:
        return True, _as_known(fields[attr].annotation)
    hints = _hints(cls)
    if attr in hints:
        return True, _as_known(hints[attr])
    if not hasattr(cls, attr):
        return False, None
    member = inspect.getattr_static(cls, attr)
    if isinstance(member, property):
        return True, _as_known(_hints(member.fget).get("return"))
    return True, Value(getattr(cls, attr))


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.env: dict[str, Known] = {}
        self.out = Checked()

    # -- names

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        assert node.module is not None
        mod = importlib.import_module(node.module)
        for alias in node.names:
            name = f"{node.module}.{alias.name}"
            self.out.names.add(name)
            if not hasattr(mod, alias.name):
                self.out.errors.append(f"{name} does not exist")
                continue
            self.env[alias.asname or alias.name] = Value(getattr(mod, alias.name))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.env[alias.asname or alias.name] = Value(importlib.import_module(alias.name))

    def visit_Assign(self, node: ast.Assign) -> None:
        known = self.known(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.env[target.id] = known

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            known = self.known(item.context_expr)
            if isinstance(item.optional_vars, ast.Name):
                entered = known
                if isinstance(known, Instance):  # what __enter__ returns
                    ret = _hints(getattr(known.cls, "__enter__", None)).get("return")
                    entered = _as_known(ret) or known
                self.env[item.optional_vars.id] = entered
        for stmt in node.body:
            self.visit(stmt)

    def visit_Expr(self, node: ast.Expr) -> None:
        self.known(node.value)

    # -- expressions: what they stand for, checking on the way

    def known(self, node: ast.expr) -> Known:
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        for child in ast.iter_child_nodes(node):  # lists, dicts, arguments of anything else
            if isinstance(child, ast.expr):
                self.known(child)
        return None

    def attribute(self, node: ast.Attribute) -> Known:
        base = self.known(node.value)
        if isinstance(base, Value):
            label = f"{getattr(base.obj, '__name__', base.obj)}.{node.attr}"
            self.out.names.add(label)
            if not hasattr(base.obj, node.attr):
                self.out.errors.append(f"{label} does not exist")
                return None
            return Value(getattr(base.obj, node.attr))
        if isinstance(base, Instance):
            label = f"{base.cls.__name__}.{node.attr}"
            self.out.names.add(label)
            ok, known = _attr_of_class(base.cls, node.attr)
            if not ok:
                self.out.errors.append(f"{label} does not exist")
            return known
        return None

    def call(self, node: ast.Call) -> Known:
        fn = self.known(node.func)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.known(arg)
        if not isinstance(fn, Value) or not callable(fn.obj):
            return None
        target = fn.obj
        label = getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):
            return None
        params = sig.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for kw in node.keywords:
            if kw.arg is None:
                continue
            self.out.names.add(f"{label}({kw.arg}=)")
            if kw.arg not in params and not takes_any:
                self.out.errors.append(f"{label} has no parameter {kw.arg!r}")
        if isinstance(target, type):
            return Instance(target)
        return _as_known(_hints(target).get("return"))


def check_snippet(code: str) -> Checked:
    """Compile ``code`` and check the names it uses (see the module docstring)."""
    tree = ast.parse(code)
    compile(tree, "<README>", "exec")
    checker = _Checker()
    for stmt in tree.body:
        checker.visit(stmt)
    return checker.out
