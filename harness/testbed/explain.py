"""Turning pydantic's validation errors into problems a lab engineer can act on.

pydantic says "Input should be a valid integer" at ``('nodes', 0, 'power', 'qemu',
'memory_mb')``.  The lab engineer needs "nodes[0].power.memory_mb: 'lots' is not a whole
number; fix: write a number from 64 to 4096".  This module walks the models along an
error's location (dropping the union tag pydantic inserts), finds the field, its
description, bounds and neighbours, and writes what is wrong and the fix.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from ipaddress import ip_network
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from harness.testbed.problems import Loc, Problem, one_of, show

#: An example value per field name, used in fixes ("add 'mac: 52:54:00:42:00:03'").
#: ``Model.field`` entries win over plain field names.
EXAMPLES: dict[str, str] = {
    "Testbed.name": "emulated",
    "BootServer.name": "server-module",
    "BootServer.hostname": "testserver",
    "Network.name": "cluster",
    "SshAccess.user": "root",
    "SshAccess.port": "22",
    "IpmiPower.port": "623",
    "SerialConsole.port": "/dev/ttyUSB0",
    "Rfc2217Console.port": "4001",
    "UhubctlPower.port": "2",
    "NodeTable.name": "'node{position:02d}'",
    "NodeTable.hostname": "'node{position:02d}'",
    "NodeTable.ip": "'10.42.0.{position}'",
    "name": "node02",
    "hostname": "node02",
    "mac": "52:54:00:42:00:03",
    "ip": "10.42.0.3",
    "position": "3",
    "profile": "x86-bios",
    "network": "cluster",
    "power": "{kind: qemu}",
    "console": "{kind: none}",
    "addresses": "{cluster: 10.42.0.250}",
    "tftp_root": "/pxe/boot",
    "root": "/pxe/root",
    "content": "/pxe/nodes",
    "exports": "[{path: /pxe, clients: [10.42.0.0/24]}]",
    "path": "/pxe",
    "clients": "[10.42.0.0/24]",
    "options": "[rw, sync, no_subtree_check, no_root_squash]",
    "subnet": "10.42.0.0/24",
    "interface": "br0",
    "dhcp_range": "[10.42.0.1, 10.42.0.150]",
    "router": "10.42.0.250",
    "lease_time": "infinite",
    "kernel": "vmlinuz",
    "initrd": "initrd.img",
    "file": "cluster60.mac_nodes",
    "memory_mb": "256",
    "host": "10.0.0.5",
    "user": "admin",
    "password_env": "NBH_BMC_PASSWORD",
    "user_env": "NBH_CCU_USER",
    "url": "http://141.51.123.42:2001",
    "address": "OEQ1234567:1",
    "index": "1",
    "hub": "1-1",
    "baudrate": "115200",
    "on": "'ssh pi@server python powerall.py on 3 3'",
    "off": "'ssh pi@server python powerall.py off 3 3'",
    "model": "gude",
    "key_file": "~/.ssh/id_ed25519",
    "char_delay_ms": "20",
}


#: An example of one item, for errors in an item of a list or mapping field.
ITEM_EXAMPLES: dict[str, str] = {
    "nodes": "{name: node02, mac: 52:54:00:42:00:02, ip: 10.42.0.2, profile: x86-bios, "
    "power: {kind: qemu}}",
    "networks": "{subnet: 10.42.0.0/24, interface: br0}",
    "boot": "{kernel: vmlinuz, initrd: initrd.img}",
    "addresses": "10.42.0.250",
    "exports": "{path: /pxe, clients: [10.42.0.0/24]}",
    "clients": "10.42.0.0/24",
    "options": "no_root_squash",
    "dhcp_range": "10.42.0.1",
}


#: An example key, for errors in the keys of a mapping field.
KEY_EXAMPLES: dict[str, str] = {
    "networks": "cluster",
    "addresses": "cluster",
    "boot": "x86-bios",
}


@dataclass(frozen=True, slots=True)
class _Where:
    """An error location resolved against the models."""

    loc: Loc  # without union tags and "[key]"
    is_key: bool  # the error is about a mapping key, not its value
    owner: type[BaseModel] | None  # the model the last element is a field (or unknown key) of
    field: FieldInfo | None  # that field, if the model has it
    annotation: Any  # the expected type at the location
    label: str  # the field named last in the location
    label_owner: str  # the model that field belongs to
    is_item: bool  # the location is an item of that field (a list or mapping), not the field

    @property
    def example(self) -> str | None:
        if self.is_key:
            return KEY_EXAMPLES.get(self.label)
        if self.is_item:
            return ITEM_EXAMPLES.get(self.label)
        return EXAMPLES.get(f"{self.label_owner}.{self.label}", EXAMPLES.get(self.label))


def explain(
    errors: Iterable[ErrorDetails],
    root: type[BaseModel],
    prefix: Loc = (),
    root_keys: Sequence[str] | None = None,
) -> list[Problem]:
    """One problem per pydantic error, located under ``prefix``.

    ``root_keys`` are the keys a file may use at the top of ``root`` when they differ
    from its fields (the file has ``node_table:``; ``path`` is not written in it).
    """
    problems = []
    for error in errors:
        where = _resolve(root, error["loc"])
        what, fix = _words(error, where, root_keys if where.owner is root else None)
        loc = (*prefix, *where.loc)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")  # the line with kind: on it
        problems.append(Problem(loc, f"key {what}" if where.is_key else what, fix))
    return problems


def _words(error: ErrorDetails, where: _Where, root_keys: Sequence[str] | None) -> tuple[str, str]:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error["input"]
    name = where.label
    example = where.example
    like = f", like {example}" if example else ""

    if kind == "testbed_value":  # our own validators already wrote the words
        return str(ctx["what"]), str(ctx["fix"])
    if kind == "missing":
        return _missing(where, name, example)
    if kind == "extra_forbidden":
        return _unknown_key(where, root_keys)
    if value is None and not kind.startswith("union_tag") and kind not in _CHOICES:
        return "is empty", f"write a value{like}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _tags(where.annotation)
        if kind == "union_tag_not_found":
            return f"no kind given for {name}", f"add 'kind: <one of {one_of(tags)}>'"
        tag = str(ctx.get("tag", ""))
        return f"unknown {name} kind {show(tag)}", _choose(tag, tags)
    if kind in _CHOICES:
        choices = _choices(where.annotation)
        if value is None:
            return "is empty", f"use one of: {one_of(choices)}"
        return f"{show(value)} is not one of {one_of(choices)}", _choose(str(value), choices)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if value is None:
            return "is empty", f"write its settings indented below it{like}"
        return f"{show(value)} is not a mapping", f"write 'key: value' settings{like}"
    if kind in ("tuple_type", "list_type", "iterable_type", "set_type"):
        each = ITEM_EXAMPLES.get(name) if not where.is_item else None
        like = f", each like {each}" if each and not like else like
        return f"{show(value)} is not a list", f"write a list in [ ] or as '- ' items{like}"
    if kind in ("too_short", "too_long"):
        return _length(kind, ctx, where, like)
    if kind in ("string_too_short",):
        return "is empty", f"write a value{like}"
    if kind in ("string_type", "str_type"):
        return (
            f"{show(value)} is not text",
            f"write text{like} (quote it if it looks like a number)",
        )
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"{show(value)} is not a whole number", f"write a whole number{_bounds(where)}{like}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{show(value)} is not true or false", "write true or false"
    if kind in _LIMITS:
        limit = ctx.get(_LIMITS[kind][0])
        return f"{show(value)} is {_LIMITS[kind][1]} {limit}", f"write a number{_bounds(where)}"
    if kind == "ip_v4_address":
        return (
            f"{show(value)} is not an IPv4 address",
            f"write four numbers 0-255 separated by dots{like or ', like 10.42.0.2'}",
        )
    if kind == "ip_v4_network":
        return _network(value)
    if kind in ("path_type", "path_not_directory"):
        return f"{show(value)} is not a path", f"write a path{like}"
    if kind == "recursion_loop":
        return "refers to itself through a YAML alias", "write the value out instead of *alias"
    # Not met in the tests; still one line, and still no pydantic jargon in front.
    message = str(error["msg"]).replace("Input should be", "expected").rstrip(".")
    return f"{show(value)} is not valid ({message[:1].lower()}{message[1:]})", (
        f"write it as docs/testbed.md describes{like}"
    )


_CHOICES = ("literal_error", "enum")
_LIMITS = {
    "greater_than": ("gt", "not more than"),
    "greater_than_equal": ("ge", "less than"),
    "less_than": ("lt", "not less than"),
    "less_than_equal": ("le", "more than"),
}


def _missing(where: _Where, name: str, example: str | None) -> tuple[str, str]:
    if where.is_item:  # an item of a fixed-length list, like dhcp_range
        whole = EXAMPLES.get(name)
        return "has too few items", f"write all of them{', like ' + whole if whole else ''}"
    description = where.field.description if where.field is not None else None
    if example is None and _is_section(where.annotation):
        about = f"{description}; " if description else ""
        return "missing", f"add a '{name}:' section ({about}see docs/testbed.md)"
    about = f" ({description})" if description else ""
    return "missing", f"add '{name}: {example or '...'}'{about}"


def _is_section(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    return get_origin(annotation) in (dict, tuple) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    )


def _unknown_key(where: _Where, root_keys: Sequence[str] | None) -> tuple[str, str]:
    key = where.loc[-1] if where.loc else ""
    known: list[str] = list(root_keys) if root_keys is not None else []
    if root_keys is None and where.owner is not None:
        known = list(where.owner.model_fields)
    what = f"unknown key {show(key)}"
    if not known:
        return what, "remove it"
    close = get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return what, f"did you mean '{close[0]}'?"
    return what, f"remove it, or use one of the keys allowed here: {one_of(known)}"


def _choose(value: str, choices: Sequence[str]) -> str:
    close = get_close_matches(value, list(choices), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}use one of: {one_of(choices)}"


def _length(kind: str, ctx: dict[str, Any], where: _Where, like: str) -> tuple[str, str]:
    actual = ctx.get("actual_length")
    items = "items" if actual is None else f"{actual} item{'' if actual == 1 else 's'}"
    low, high = ctx.get("min_length"), ctx.get("max_length")
    args = get_args(where.annotation)
    if get_origin(where.annotation) is tuple and Ellipsis not in args:
        low = high = len(args)  # a pair, like dhcp_range: pydantic says only "at most 2"
    if low is not None and low == high:
        return f"has {items}, not {low}", f"write exactly {low}{like}"
    if kind == "too_long":
        return f"has {items}, more than {high}", f"write at most {high}{like}"
    return f"has {items}, fewer than {low}", f"write at least {low}{like}"


def _bounds(where: _Where) -> str:
    low = high = ""
    constraints = [
        *(where.field.metadata if where.field is not None else ()),
        *_metadata(where.annotation),
    ]
    for constraint in constraints:
        if isinstance(constraint, annotated_types.Ge):
            low = f"{constraint.ge}"
        elif isinstance(constraint, annotated_types.Gt):
            low = f"above {constraint.gt}"
        elif isinstance(constraint, annotated_types.Le):
            high = f"{constraint.le}"
        elif isinstance(constraint, annotated_types.Lt):
            high = f"below {constraint.lt}"
    if low and high:
        return f" from {low} to {high}"
    if low:
        return f" {low}" if low.startswith("above") else f" of {low} or more"
    if high:
        return f" {high}" if high.startswith("below") else f" up to {high}"
    return ""


def _network(value: object) -> tuple[str, str]:
    if isinstance(value, str):
        try:
            network = ip_network(value, strict=False)
        except ValueError:
            pass
        else:
            if network.version == 4:
                return f"{show(value)} has host bits set", f"write the network address, {network}"
    return (
        f"{show(value)} is not an IPv4 network",
        "write the network address and prefix length, like 10.42.0.0/24",
    )


# --- walking the models along a location ------------------------------------------------


def _resolve(root: type[BaseModel], raw: tuple[int | str, ...]) -> _Where:
    annotation: Any = root
    owner: type[BaseModel] | None = None
    field: FieldInfo | None = None
    label, label_owner, is_item = "", "", False
    loc: list[str | int] = []
    is_key = False
    parts = list(raw)
    while parts:
        part = parts.pop(0)
        if part == "[key]":
            is_key = True
            continue
        members = _union_members(annotation)
        if members:
            member = next((m for m in members if part in _tags_of(m)), None)
            if member is not None:
                annotation = member  # pydantic's tag element: not part of the file's path
                continue
        annotation = _unwrap(annotation)
        loc.append(part)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner, field = annotation, annotation.model_fields.get(str(part))
            label, label_owner, is_item = str(part), annotation.__name__, False
            annotation = None if field is None else field.annotation
        elif get_origin(annotation) is dict:
            owner, is_item = None, True  # keep the dict's field for its description
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is tuple:
            args = get_args(annotation)
            if len(args) == 2 and args[1] is Ellipsis:
                annotation = args[0]
            elif isinstance(part, int) and 0 <= part < len(args):
                annotation = args[part]
            else:
                annotation = None
            owner, field, is_item = None, None, True
        else:
            loc.extend(parts)
            annotation, owner, field = None, None, None
            break
    return _Where(tuple(loc), is_key, owner, field, annotation, label, label_owner, is_item)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _metadata(annotation: Any) -> list[Any]:
    found: list[Any] = []
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation = args[0]
        for meta in args[1:]:
            found.extend(getattr(meta, "metadata", [meta]))
    return found


def _union_members(annotation: Any) -> list[type[BaseModel]]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) not in (Union, types.UnionType):
        return []
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        return members
    return []


def _tags_of(model: type[BaseModel]) -> tuple[str, ...]:
    kind = model.model_fields.get("kind")
    return () if kind is None else tuple(str(tag) for tag in get_args(kind.annotation))


def _tags(annotation: Any) -> list[str]:
    return [tag for member in _union_members(annotation) for tag in _tags_of(member)]


def _choices(annotation: Any) -> list[str]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) is Literal:
        return [str(arg) for arg in get_args(annotation)]
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):
        return [str(member.value) for member in annotation.__members__.values()]
    return []
