"""The ``@node`` decorator: turns a typed Python function into a node definition.

Inputs come from the signature, outputs from the return annotation, literal values are
validated with pydantic in strict mode (no silent coercion: "5" is not an int).
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Callable, Literal

import annotated_types
import pydantic

from .errors import DeclarationError
from .fields import REQUIRED, FieldSpec
from .flow import ExecutionBlocker
from .types import SocketType, as_socket_type

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.\-+]+)?$")
_STRICT = pydantic.ConfigDict(strict=True, allow_inf_nan=False)


def type_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a node type name, or None. Any non-empty string without control
    characters is a name: packs use spaces and symbols ("Mask Morphology", "ImageResize+")."""
    if not isinstance(name, str) or not name:
        return "a node type name must be a non-empty string"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return f"node type name {name!r} contains a control character"
    return None


@dataclass(frozen=True)
class InputSpec:
    name: str
    socket: type[SocketType]
    field: FieldSpec
    optional: bool
    is_list: bool = False
    """Annotated ``list[T]``: the node gets the whole list instead of running once per item."""
    json_value: bool = False
    """Besides a link, any JSON value may be given (ComfyUI passes on whatever a pack's editor
    widget holds: the extra inputs of an any-name node, a widget for a pack's own type)."""

    @property
    def lazy(self) -> bool:
        return self.field.lazy

    @property
    def required(self) -> bool:
        return not self.optional and not self.field.has_default

    @property
    def accepts_literal(self) -> bool:
        return self.socket.is_literal() or self.json_value

    @cached_property
    def adapter(self) -> pydantic.TypeAdapter | None:
        """Validates a literal value: its type and numeric range, strictly (JSON values are
        checked by :func:`nodeflow.workflow.json_problem` instead)."""
        if not self.socket.is_literal():
            return None
        constraints = []
        if self.field.ge is not None:
            constraints.append(annotated_types.Ge(self.field.ge))
        if self.field.le is not None:
            constraints.append(annotated_types.Le(self.field.le))
        if self.field.multiple_of is not None:
            constraints.append(annotated_types.MultipleOf(self.field.multiple_of))
        if self.field.max_length is not None:
            constraints.append(annotated_types.MaxLen(self.field.max_length))
        target = self.socket.python_type
        if self.optional:
            target = target | None
        annotated = Annotated[(target, *constraints)] if constraints else target
        return pydantic.TypeAdapter(annotated, config=_STRICT)

    def schema(self, settings: Any = None) -> dict:
        f = self.field
        out: dict[str, Any] = {"name": self.name, "type": self.socket.type_name,
                               "required": self.required}
        if f.has_default:
            out["default"] = f.default
        for key in ("ge", "le", "step", "multiple_of", "max_length"):
            if getattr(f, key) is not None:
                out[{"ge": "min", "le": "max"}.get(key, key)] = getattr(f, key)
        choices = f.choice_list(settings)
        if choices is not None:
            out["choices"] = choices
        if f.multiline:
            out["multiline"] = True
        if f.tooltip:
            out["tooltip"] = f.tooltip
        if f.display_name:
            out["display_name"] = f.display_name
        if f.control_after_generate:
            out["control_after_generate"] = True
        if f.upload:
            out["upload"] = f.upload
        if f.widget:
            out["widget"] = f.widget
        if not self.socket.is_literal():
            out["link_only"] = True
        if self.json_value:
            out["json_value"] = True
        if self.is_list:
            out["is_list"] = True
        if self.lazy:
            out["lazy"] = True
        return out


FAMILY_MEMBER = re.compile(r"^(.+)_([1-9][0-9]*)$")
RESERVED_INPUTS = frozenset({"ctx"})
"""Names no input may have: the executor passes the node's context under ``ctx``."""


@dataclass(frozen=True)
class InputFamily:
    """``**image: Image`` in a signature: the inputs image_1, image_2, ... that the editor
    grows one at a time as the last is connected (ComfyUI's dynamic inputs). The function gets
    the connected ones as keyword arguments, which ``**image`` collects in order."""

    name: str
    socket: type[SocketType]
    field: FieldSpec
    min_items: int = 1
    max_items: int = 50

    def member(self, index: int) -> InputSpec:
        member = FieldSpec(default=None, tooltip=self.field.tooltip,
                           display_name=f"{self.field.display_name or self.name} {index}")
        return InputSpec(f"{self.name}_{index}", self.socket, member, optional=True)

    def schema(self) -> dict:
        out = {"name": self.name, "type": self.socket.type_name, "min": self.min_items,
               "max": self.max_items}
        if self.field.tooltip:
            out["tooltip"] = self.field.tooltip
        if self.field.display_name:
            out["display_name"] = self.field.display_name
        return out


@dataclass(frozen=True)
class OutputSpec:
    name: str
    socket: type[SocketType]
    is_list: bool = False
    """Annotated ``list[T]``: each item travels on its own (nodes downstream run per item)."""


@dataclass(eq=False)
class NodeDef:
    """A node type: what the registry stores and the executor calls."""

    type_name: str
    fn: Callable[..., Any]
    version: str
    category: str
    display_name: str
    description: str
    inputs: dict[str, InputSpec]
    outputs: list[OutputSpec]
    output_node: bool = False
    always_run: bool = False
    wants_ctx: bool = False
    fingerprint: Callable[..., Any] | None = None
    returns_tuple: bool = False
    pack: str | None = field(default=None)
    is_async: bool = False
    check_lazy: Callable[..., Any] | None = None
    subgraph: Any = None
    """For a component (a subgraph file used as a node): its versions, expanded before running."""
    validate: Callable[..., Any] | None = None
    """``validate(**literal_inputs)``: the node's own check before the run (a list of problem
    sentences, a single sentence, or nothing when the values are fine)."""
    extra_schema: dict[str, Any] = field(default_factory=dict)
    """More keys for :meth:`schema` (e.g. ``{"comfy": {...}}`` for ComfyUI pack nodes)."""
    families: dict[str, InputFamily] = field(default_factory=dict)
    """Growing input families (``**image: Image``) by name."""
    extra_inputs: InputSpec | None = None
    """For a node that takes inputs of any name (a ComfyUI pack's optional dict that contains
    every name): what each undeclared input is (its socket, JSON literals allowed). Other
    nodes keep strict names: an undeclared input is an error."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself (handy in tests and in other nodes)."""
        return self.fn(*args, **kwargs)

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def member(self, name: str) -> InputSpec | None:
        """The input spec of family member ``name`` (``image_3``), or None."""
        match = FAMILY_MEMBER.match(name)
        family = self.families.get(match.group(1)) if match else None
        if family is None or int(match.group(2)) > family.max_items:
            return None
        return family.member(int(match.group(2)))

    def for_inputs(self, names: Any) -> "NodeDef":
        """This node type as one node of a workflow sees it: the family members it uses
        (``image_1`` ... ``image_4``) declared as optional inputs, in order, and for a node
        with ``extra_inputs`` every other name it is given."""
        if not self.families and self.extra_inputs is None:
            return self
        order = list(self.families)
        found = []
        extras = {}
        for name in names:
            spec = None if name in self.inputs else self.member(name)
            if spec is not None:
                family, index = FAMILY_MEMBER.match(name).groups()
                found.append((order.index(family), int(index), spec))
            elif name not in self.inputs and self.extra_inputs is not None and \
                    name not in RESERVED_INPUTS:
                extras[name] = dataclasses.replace(self.extra_inputs, name=name)
        if not found and not extras:
            return self
        members = {spec.name: spec for _, _, spec in sorted(found, key=lambda f: f[:2])}
        return dataclasses.replace(self, inputs={**self.inputs, **members, **extras})

    def is_extra(self, name: str) -> bool:
        """Whether input ``name`` is one of the undeclared ones ``extra_inputs`` accepts."""
        spec = self.inputs.get(name)
        return spec is not None and self.extra_inputs is not None and \
            dataclasses.replace(spec, name=self.extra_inputs.name) == self.extra_inputs

    def ordered(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` in declaration order, so ``**image`` gets image_1, image_2, ... in
        number order whatever order the workflow lists them in."""
        if not self.families:
            return kwargs
        return {**{n: kwargs[n] for n in self.inputs if n in kwargs}, **kwargs}

    def family_counts(self, names: Any) -> dict[str, int]:
        """How many members of each family ``names`` holds."""
        counts = dict.fromkeys(self.families, 0)
        for name in names:
            if self.member(name) is not None:
                counts[FAMILY_MEMBER.match(name).group(1)] += 1
        return counts

    @cached_property
    def output_names(self) -> dict[str, OutputSpec]:
        return {o.name: o for o in self.outputs}

    def outputs_from_result(self, result: Any) -> dict[str, Any]:
        """Map what the function returned onto the declared output names."""
        if not self.outputs:
            if result is not None:
                raise TypeError(f"{self.type_name} declares no outputs but returned "
                                f"{type(result).__name__}")
            return {}
        if not self.returns_tuple:
            values = (result,)
        elif isinstance(result, tuple) and len(result) == len(self.outputs):
            values = result
        else:
            got = len(result) if isinstance(result, tuple) else type(result).__name__
            raise TypeError(f"{self.type_name} declares {len(self.outputs)} outputs but "
                            f"returned {got}")
        out = {}
        for spec, value in zip(self.outputs, values):
            if isinstance(value, ExecutionBlocker):
                out[spec.name] = [value] if spec.is_list else value
                continue
            if spec.is_list:
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"{self.type_name} output '{spec.name}' is declared a list "
                                    f"of {spec.socket.type_name} but got "
                                    f"{type(value).__name__}")
                value = list(value)
                items = value
            else:
                items = (value,)
            for item in items:
                if isinstance(item, ExecutionBlocker):
                    continue
                problem = spec.socket.check(item)
                if problem is not None:
                    raise TypeError(f"{self.type_name} output '{spec.name}' should be "
                                    f"{spec.socket.type_name}: {problem}")
            out[spec.name] = value
        return out

    def schema(self, settings: Any = None) -> dict:
        """The JSON description the editor and API render; no node-specific code needed."""
        return {
            "type": self.type_name,
            "display_name": self.display_name,
            "category": self.category,
            "description": self.description,
            "version": self.version,
            "pack": self.pack,
            "output_node": self.output_node,
            "always_run": self.always_run,
            "inputs": [spec.schema(settings) for spec in self.inputs.values()],
            **({"families": [f.schema() for f in self.families.values()]}
               if self.families else {}),
            **({"extra_inputs": {"type": self.extra_inputs.socket.type_name}}
               if self.extra_inputs is not None else {}),
            "outputs": [{"name": o.name, "type": o.socket.type_name, "color": o.socket.color,
                         **({"is_list": True} if o.is_list else {})} for o in self.outputs],
            **({"component": True} if self.subgraph is not None else {}),
            **self.extra_schema,
        }


def node(fn: Callable | None = None, *, name: str | None = None, category: str = "utils",
         version: str = "1.0.0", display_name: str | None = None,
         description: str | None = None, output: bool = False, always_run: bool = False,
         fingerprint: Callable[..., Any] | None = None,
         check_lazy: Callable[..., Any] | None = None,
         validate: Callable[..., Any] | None = None) -> Any:
    """Declare a node from a typed function.

    ``output=True`` marks nodes that produce results (the graph runs what they need);
    ``always_run=True`` nodes never come from the cache; ``fingerprint(literal_inputs,
    settings)`` returns a JSON-able value folded into the cache key (e.g. a file's mtime), so a
    node re-runs when something outside the workflow changed.

    ``name`` may be any non-empty string without control characters. ``check_lazy(**inputs)``
    is required when inputs are declared ``Field(lazy=True)``: it gets the inputs evaluated so
    far (a lazy input not yet evaluated is None) and returns the names of the lazy inputs it
    needs; it is asked again after those ran, until it asks for nothing new.
    An ``async def`` node runs on the executor's event loop, other nodes running meanwhile.
    A node may return a :class:`~nodeflow.flow.Expansion` (from a ``GraphBuilder``): a graph
    the executor runs in its place.

    ``validate(**inputs)`` is the node's own check, run with every other validation before
    anything runs: it gets the literal inputs (links are left out) and returns a list of
    problem sentences (or one sentence, or None/[] when all is well).
    """
    def wrap(f: Callable) -> NodeDef:
        return _make_node_def(f, name=f.__name__ if name is None else name,
                              category=category, version=version,
                              display_name=display_name, description=description,
                              output=output, always_run=always_run, fingerprint=fingerprint,
                              check_lazy=check_lazy, validate=validate)
    return wrap(fn) if fn is not None else wrap


def _make_node_def(fn: Callable, *, name: str, category: str, version: str,
                   display_name: str | None, description: str | None, output: bool,
                   always_run: bool, fingerprint: Callable | None,
                   check_lazy: Callable | None = None,
                   validate: Callable | None = None) -> NodeDef:
    where = f"node {name!r} ({fn.__module__}.{fn.__qualname__})"
    problem = type_name_problem(name)
    if problem:
        raise DeclarationError(f"{where}: {problem}")
    if not SEMVER.match(version):
        raise DeclarationError(f"{where}: version {version!r} is not semver (like 1.0.0)")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolvable annotation: a declaration bug in the pack
        raise DeclarationError(f"{where}: cannot read annotations: {exc}") from exc
    inputs, wants_ctx, families = _inputs(fn, hints, where)
    outputs, returns_tuple = _outputs(hints.get("return", None), where)
    if not outputs and not output:
        raise DeclarationError(f"{where}: a node without outputs must be declared output=True")
    lazy = [n for n, spec in inputs.items() if spec.lazy]
    if lazy and check_lazy is None:
        raise DeclarationError(f"{where}: lazy inputs ({', '.join(lazy)}) need "
                               "@node(check_lazy=...) to say which of them to evaluate")
    if check_lazy is not None and not lazy:
        raise DeclarationError(f"{where}: check_lazy is given but no input is Field(lazy=True)")
    doc = inspect.getdoc(fn) or ""
    return NodeDef(
        type_name=name, fn=fn, version=version, category=category,
        display_name=display_name or _spaced(name),
        description=description if description is not None else doc.split("\n\n")[0].strip(),
        inputs=inputs, outputs=outputs, output_node=output, always_run=always_run,
        wants_ctx=wants_ctx, fingerprint=fingerprint, returns_tuple=returns_tuple,
        is_async=inspect.iscoroutinefunction(fn), check_lazy=check_lazy, validate=validate,
        families=families)


def _spaced(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def _inputs(fn: Callable, hints: dict, where: str
            ) -> tuple[dict[str, InputSpec], bool, dict[str, InputFamily]]:
    inputs: dict[str, InputSpec] = {}
    families: dict[str, InputFamily] = {}
    wants_ctx = False
    for param in inspect.signature(fn).parameters.values():
        if param.kind == param.VAR_POSITIONAL:
            raise DeclarationError(f"{where}: *args cannot be node inputs (use **name: Type "
                                   "for a growing family name_1, name_2, ...)")
        if param.kind == param.VAR_KEYWORD:
            family = _family(param.name, hints.get(param.name), where)
            families[family.name] = family
            continue
        if param.name == "ctx":
            wants_ctx = True
            continue
        if param.name not in hints:
            raise DeclarationError(f"{where}: input '{param.name}' needs a type annotation")
        socket, optional, literal_choices, is_list = _input_type(hints[param.name], where,
                                                                 param.name)
        spec = param.default if isinstance(param.default, FieldSpec) else FieldSpec(
            default=REQUIRED if param.default is inspect.Parameter.empty else param.default)
        if literal_choices is not None and spec.choices is None:
            spec = FieldSpec(**{**spec.__dict__, "choices": literal_choices})
        if not socket.is_literal() and spec.has_default and spec.default is not None:
            raise DeclarationError(f"{where}: input '{param.name}' of type {socket.type_name} "
                                   "comes from a link and can only default to None")
        if spec.has_default and spec.default is None:
            optional = True
        inp = InputSpec(param.name, socket, spec, optional, is_list)
        if spec.has_default and spec.default is not None:
            _check_default(inp, where)
        inputs[param.name] = inp
    for family in families.values():
        taken = [name for name in inputs if (m := FAMILY_MEMBER.match(name))
                 and m.group(1) == family.name]
        if taken:
            raise DeclarationError(f"{where}: input '{taken[0]}' clashes with the input "
                                   f"family **{family.name} ({family.name}_1, "
                                   f"{family.name}_2, ...)")
    return inputs, wants_ctx, families


def _family(name: str, annotation: Any, where: str) -> InputFamily:
    """``**image: Image`` or ``**image: Annotated[Image, Field(min_items=.., max_items=..)]``."""
    if annotation is None:
        raise DeclarationError(f"{where}: **{name} needs a socket type annotation "
                               f"(**{name}: Image)")
    spec = FieldSpec()
    if typing.get_origin(annotation) is Annotated:
        spec = next((m for m in typing.get_args(annotation)[1:] if isinstance(m, FieldSpec)),
                    spec)
    socket, optional, _, is_list = _input_type(annotation, where, name)
    if optional or is_list:
        raise DeclarationError(f"{where}: **{name}: each member is one optional {name}_N "
                               "input already; annotate it with the plain socket type")
    low = 1 if spec.min_items is None else spec.min_items
    high = 50 if spec.max_items is None else spec.max_items
    if not 0 <= low <= high or high < 1:
        raise DeclarationError(f"{where}: **{name}: min_items {low} and max_items {high} "
                               "need 0 <= min_items <= max_items and max_items >= 1")
    return InputFamily(name, socket, spec, low, high)


def _input_type(annotation: Any, where: str, name: str):
    """(socket type, optional, choices from Literal[...], whole list) for one annotation."""
    optional = False
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            annotation, optional = rest[0], True
    if typing.get_origin(annotation) is list:
        item = typing.get_args(annotation)
        socket, _, choices, nested = _input_type(item[0] if item else None, where, name)
        if nested:
            raise DeclarationError(f"{where}: input '{name}': a list of lists is not a socket")
        return socket, optional, choices, True
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        socket = as_socket_type(type(values[0]))
        if socket is None or any(type(v) is not type(values[0]) for v in values):
            raise DeclarationError(f"{where}: input '{name}': Literal values must share one "
                                   "primitive type")
        return socket, optional, list(values), False
    socket = as_socket_type(annotation)
    if socket is None:
        raise DeclarationError(f"{where}: input '{name}' has type {annotation!r}; use int, "
                               "float, str, bool or a nodeflow socket type (or a list[...] "
                               "of one)")
    return socket, optional, None, False


def _check_default(inp: InputSpec, where: str) -> None:
    items = inp.field.default if inp.is_list and isinstance(inp.field.default, list) else [
        inp.field.default]
    for item in items:
        _check_default_item(inp, item, where)


def _check_default_item(inp: InputSpec, default: Any, where: str) -> None:
    try:
        inp.adapter.validate_python(default)
    except pydantic.ValidationError as exc:
        raise DeclarationError(f"{where}: default of input '{inp.name}' is invalid: "
                               f"{exc.errors()[0]['msg']}") from None
    choices = inp.field.choices
    if isinstance(choices, (list, tuple)) and default not in choices:
        raise DeclarationError(f"{where}: default of input '{inp.name}' is not one of its "
                               "choices")


def _list_socket(annotation: Any) -> tuple[type[SocketType] | None, bool]:
    """The socket type of an output annotation, and whether it is ``list[T]``."""
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        return (as_socket_type(args[0]) if args else None), True
    return as_socket_type(annotation), False


def _outputs(annotation: Any, where: str) -> tuple[list[OutputSpec], bool]:
    if annotation is None or annotation is type(None):
        return [], False
    socket, is_list = _list_socket(annotation)
    if socket is not None:
        name = "value" if socket.type_name == "*" else socket.type_name.lower()
        return [OutputSpec(name, socket, is_list)], False
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(
            annotation, "_fields"):
        field_hints = typing.get_type_hints(annotation)
        outputs = []
        for field_name in annotation._fields:
            field_socket, is_list = _list_socket(field_hints.get(field_name))
            if field_socket is None:
                raise DeclarationError(f"{where}: output '{field_name}' needs a socket type "
                                       "annotation")
            outputs.append(OutputSpec(field_name, field_socket, is_list))
        return outputs, True
    raise DeclarationError(f"{where}: return annotation {annotation!r} is not a socket type "
                           "or a NamedTuple of socket types")


@dataclass(frozen=True)
class Migration:
    """Upgrades a saved node's inputs from one major version of its type to a later one."""

    node_type: str
    from_major: int
    to_version: str
    fn: Callable[[dict], dict]


def migration(node_type: str, from_version: str, to_version: str) -> Callable[[Callable], Migration]:
    """Register ``fn(inputs) -> inputs`` upgrading ``node_type`` saved at ``from_version``
    (any version with that major number) to ``to_version``. Keep it in the pack module."""
    if not SEMVER.match(to_version):
        raise DeclarationError(f"migration of {node_type!r}: {to_version!r} is not semver")
    from_major = int(str(from_version).split(".", 1)[0])

    def wrap(fn: Callable[[dict], dict]) -> Migration:
        return Migration(node_type, from_major, to_version, fn)
    return wrap
