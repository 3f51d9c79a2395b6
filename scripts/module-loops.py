#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a loop.

A module is a file under `app/src` or `server/src` (`foo/mod.rs` is `foo`).
It depends on another when it names it in a path: `crate::a::b`, `super::x`,
`self::y`, or (in `server/src`) `app::a::b` for the other crate. A module's
own ancestors and descendants do not count (children read their parent with
`use super::*`, parents re-export their children); a loop is any other
strongly connected set of two or more modules, printed with one edge each
and the line that makes it. Used by `make lint`.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = {"app": ROOT / "app" / "src", "tessera": ROOT / "server" / "src"}
PATH = re.compile(r"\b(crate|super|self|app)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
TESTS = re.compile(r"^#\[cfg\(test\)\]\s*$", re.M)


def module_of(crate, src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return (crate, *parts)


def load():
    modules = {}
    for crate, src in CRATES.items():
        for path in sorted(src.rglob("*.rs")):
            text = path.read_text()
            # tests at the end of a file may reach anywhere
            m = TESTS.search(text)
            modules[module_of(crate, src, path)] = (path, text[: m.start()] if m else text)
    return modules


def resolve(modules, here, head, rest):
    names = rest.split("::")[1:]
    if head == "crate":
        base = (here[0],)
    elif head == "app":
        base = ("app",)
    else:
        base = here
        if head == "super":
            base = here[:-1]
        while names and names[0] == "super":
            base, names = base[:-1], names[1:]
    # the longest prefix that is a module
    target = None
    for i in range(len(names) + 1):
        candidate = base + tuple(names[:i])
        if candidate in modules:
            target = candidate
    return target


USE = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)


def expand(tree):
    """`a::{b, c::{d}}` -> `a::b`, `a::c::d` (globs and renames dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"//[^\n]*", "", tree)
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    i = tree.index("{")
    prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
    items, depth, cur = [], 0, ""
    for c in inner:
        if c == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += c == "{"
        depth -= c == "}"
        cur += c
    items.append(cur)
    out = []
    for item in filter(None, items):
        for sub in expand(item):
            out.append(prefix + sub if sub != "self" else prefix.rstrip(":"))
    return out


def related(a, b):
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def main():
    modules = load()
    edges = {m: {} for m in modules}
    for here, (path, text) in modules.items():
        for u in USE.finditer(text):
            no = text.count("\n", 0, u.start()) + 1
            for full in expand(u.group(1)):
                m = re.match(r"(crate|super|self|app)((?:::[A-Za-z_][A-Za-z0-9_]*)+)", full)
                if not m or (m.group(1) == "app" and here[0] != "tessera"):
                    continue
                target = resolve(modules, here, m.group(1), m.group(2))
                if target and target != here and not related(here, target):
                    edges[here].setdefault(target, f"{path.relative_to(ROOT)}:{no}: use {full}")
        for no, line in enumerate(text.splitlines(), 1):
            stripped = line.lstrip()
            if stripped.startswith("//"):
                continue
            for m in PATH.finditer(line):
                if m.group(1) == "app" and here[0] != "tessera":
                    continue
                target = resolve(modules, here, m.group(1), m.group(2))
                if target and target != here and not related(here, target):
                    edges[here].setdefault(target, f"{path.relative_to(ROOT)}:{no}: {stripped}")

    # Tarjan's strongly connected components
    index, low, stack, on, loops, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                loops.append(part)

    sys.setrecursionlimit(10000)
    for v in modules:
        if v not in index:
            visit(v)
    if not loops:
        print(f"no import loops among {len(modules)} modules")
        return 0
    for part in loops:
        names = sorted("::".join(p) for p in part)
        print("import loop: " + " <-> ".join(names))
        members = set(part)
        for v in part:
            for w, why in edges[v].items():
                if w in members:
                    print(f"  {'::'.join(v)} -> {'::'.join(w)}  ({why})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
