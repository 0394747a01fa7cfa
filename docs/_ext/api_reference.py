"""Write the API reference from the public modules' ``__all__`` (never a hand-kept list).

Every name a public module exports gets one autodoc entry, in the section of
:data:`SECTIONS` that names it or, for a name no section knows yet, in "More",
so a new public name shows up on the next build without anyone listing it.
An object exported by two modules (``xpbridge.CopyError`` is
``xpbridge.errors.CopyError``) is documented once, under the module listed
first in :data:`MODULES`.  tests/test_docs.py checks the built page has an
entry for every name.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

# The public modules, in the order users meet them.
MODULES = ["xpbridge", "xpbridge.errors", "xpbridge.backends", "xpbridge.testing"]
# Modules documented whole on the page, after the names above.
SUBMODULES = {
    "xpbridge.testing.strategies": "Hypothesis strategies",
    "xpbridge.testing._hooks": "Pytest plugin hooks",
}

SECTIONS: dict[str, list[str]] = {
    "Converting": [
        "xpbridge.convert",
        "xpbridge.to_numpy",
        "xpbridge.to_torch",
        "xpbridge.plan",
        "xpbridge.Plan",
        "xpbridge.shares_memory",
        "xpbridge.dtypes",
        "xpbridge.set_narrowing",
        "xpbridge.no_copies",
        "xpbridge.CopyWarning",
    ],
    "Trees, functions and Dask": [
        "xpbridge.convert_tree",
        "xpbridge.plan_tree",
        "xpbridge.TreePlan",
        "xpbridge.register_container",
        "xpbridge.compute_in",
        "xpbridge.convert_chunks",
    ],
    "Errors": [
        "xpbridge.ConversionError",
        "xpbridge.CopyError",
        "xpbridge.DTypeError",
        "xpbridge.DeviceError",
        "xpbridge.GradError",
        "xpbridge.UnsupportedInputError",
        "xpbridge.ArgumentError",
        "xpbridge.MissingLibraryError",
    ],
    "Backends": [
        "xpbridge.register_backend",
        "xpbridge.list_backends",
        "xpbridge.backends.Backend",
        "xpbridge.backends.Device",
        "xpbridge.backends.Extent",
        "xpbridge.backends.Traits",
    ],
    "Testing": [
        "xpbridge.testing.assert_equal",
        "xpbridge.testing.assert_close",
        "xpbridge.testing.assert_bitwise_equal",
        "xpbridge.testing.assert_aliases",
        "xpbridge.testing.default_tolerance",
        "xpbridge.testing.snapshot",
        "xpbridge.testing.host_bits",
        "xpbridge.testing.xp_backends",
        "xpbridge.testing.XPBackend",
        "xpbridge.testing.backends_table",
        "xpbridge.testing.XPSettings",
        "xpbridge.testing.capabilities",
        "xpbridge.testing.xp_functions",
        "xpbridge.testing.capabilities_table",
    ],
}

SECTION_TEXT = {
    "Errors": (
        "Every error is a `ConversionError` and also the builtin error upstream raises "
        "in the same situation; [Errors](errors.md) says when each is raised. They are "
        "importable from `xpbridge` and from `xpbridge.errors`."
    ),
    "Testing": "How to use them in a test suite: [Testing](testing.md).",
}

# What an entry shows besides the docstring.  Plan and TreePlan are made by
# plan() and plan_tree(), never by users: no constructor signature.
SIGNATURES = {"xpbridge.Plan": "()", "xpbridge.TreePlan": "()"}
OPTIONS = {
    "xpbridge.backends.Backend": (
        ":members: owns, prepare, traits, holds, casts, resolve_device, consumer_stream, "
        "native_device, device_of, extent, step"
    ),
    "xpbridge.testing.XPBackend": ":members: id, readonly, lazy, cpu, capabilities, namespace",
}


def _directive(obj: object) -> str:
    if isinstance(obj, type):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if inspect.isroutine(obj):
        return "autofunction"
    return "autodata"


def public_names() -> dict[str, object]:
    """Every public name once, as ``module.name``, under the first module that exports it."""
    found: dict[int, tuple[str, object]] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attr in module.__all__:
            if attr != "__version__":
                obj = getattr(module, attr)
                found.setdefault(id(obj), (f"{module_name}.{attr}", obj))
    return dict(found.values())


def _signature(name: str, obj: object) -> str:
    """The signature an entry shows: without annotations (the types are listed under
    Parameters), so that a function with typing overloads shows one plain line."""
    if name in SIGNATURES or not inspect.isroutine(obj):
        return SIGNATURES.get(name, "")
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    empty = inspect.Parameter.empty
    plain = [p.replace(annotation=empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=plain, return_annotation=empty))


def _entry(name: str, obj: object) -> str:
    lines = [f".. {_directive(obj)}:: {name}{_signature(name, obj)}"]
    if name in OPTIONS:
        lines.append(f"   {OPTIONS[name]}")
    return "\n".join(lines)


def _block(entries: list[str]) -> str:
    return "```{eval-rst}\n" + "\n".join(entries) + "\n```\n"


def render() -> str:
    names = public_names()
    placed = {name for members in SECTIONS.values() for name in members}
    sections = {title: [n for n in members if n in names] for title, members in SECTIONS.items()}
    more = [name for name in names if name not in placed]
    if more:
        sections["More"] = more
    out = ""
    for title, members in sections.items():
        out += f"## {title}\n\n"
        if title in SECTION_TEXT:
            out += SECTION_TEXT[title] + "\n\n"
        out += _block([_entry(name, names[name]) for name in members]) + "\n"
    for module_name, title in SUBMODULES.items():
        module = importlib.import_module(module_name)
        entries = [f".. automodule:: {module_name}"]  # the module's docstring
        entries += [
            _entry(f"{module_name}.{attr}", getattr(module, attr)) for attr in module.__all__
        ]
        out += f"## {title}\n\n" + _block(entries) + "\n"
    return out


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "api.md"
    text = render()
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
