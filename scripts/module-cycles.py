#!/usr/bin/env python3
"""Import cycles between a crate's modules, by a plain scan of `crate::` and `super::` paths.

    python3 scripts/module-cycles.py core/src [src-tauri/src ...]

For every .rs file it takes the module path (proxy/http.rs -> proxy::http), collects the modules its
code names through `crate::a::b` or `super::x` (in `use` lines and in expressions), maps each to the
deepest module that exists, and prints every pair of modules that name each other (directly, or
through a longer loop: the strongly connected components). A parent naming its own child (mod.rs
re-exports) or a child naming its ancestor's items is counted like any other edge, except for the
`mod x;` declarations themselves. Standard library only.
"""
import os
import re
import sys
from collections import defaultdict

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def modules(root):
    mods = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if rel and rel[0] == "bin":
                continue
            mods["::".join(rel)] = os.path.join(dirpath, f)
    return mods


def expand(text):
    """`crate::{a, b::{c, d}}` -> ["crate::a", "crate::b::c", "crate::b::d"] for every group."""
    out = []
    for m in re.finditer(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{", text):
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.extend(flatten(m.group(1) + m.group(2), text[m.end() : j - 1]))
    return out


def flatten(prefix, body):
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    out = []
    for it in (i.strip() for i in items):
        if not it or it == "self":
            out.append(prefix)
        elif "{" in it:
            head, _, rest = it.partition("::{")
            out.extend(flatten(prefix + "::" + head.strip(), rest.rsplit("}", 1)[0]))
        else:
            out.append(prefix + "::" + it.split(" as ")[0].strip())
    return out


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # Test modules are not part of the data path.
    cut = text.find("#[cfg(test)]\nmod tests")
    return text if cut < 0 else text[:cut]


def edges(mods):
    out = defaultdict(set)
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            text = strip(fh.read())
        here = mod.split("::") if mod else []
        # A file's own `super` is its parent module (for mod.rs files: the parent of the dir).
        is_dir_mod = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
        found = PATH.findall(text) + [tuple(p.split("::", 1)) for p in expand(text) if "::" in p]
        found = [(k, "::" + r if not r.startswith("::") else r) for k, r in found]
        for kind, rest in found:
            parts = rest.strip(":").split("::")
            if kind == "crate":
                target = parts
            else:
                base = here[:-1] if not is_dir_mod else here[:-1]
                target = base + parts
            # Deepest existing module.
            while target and "::".join(target) not in mods:
                target = target[:-1]
            t = "::".join(target)
            if t and t != mod and not mod.startswith(t + "::") and not t.startswith(mod + "::" if mod else "\0"):
                out[mod].add(t)
    return out


def sccs(nodes, graph):
    index, low, stack, on, res, i = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = i[0]
        i[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                res.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return res


def main():
    total = 0
    for root in sys.argv[1:] or ["core/src"]:
        mods = modules(root)
        graph = edges(mods)
        # Also at the level where two modules part: netcheck::server -> status reads netcheck -> status.
        collapsed = defaultdict(set)
        for a in graph:
            for b in graph[a]:
                pa, pb = a.split("::"), b.split("::")
                k = 0
                while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
                    k += 1
                collapsed["::".join(pa[: k + 1])].add("::".join(pb[: k + 1]))
        for a, bs in collapsed.items():
            graph_c = graph.setdefault(a, set()) if a in mods else None
            if graph_c is not None:
                graph_c |= {b for b in bs if b in mods}
        mutual = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph.get(b, ())})
        comps = sccs(mods.keys(), graph)
        print(f"{root}: {len(mods)} modules, {sum(len(v) for v in graph.values())} edges")
        for a, b in mutual:
            print(f"  cycle: {a} <-> {b}")
        for c in comps:
            if len(c) > 2 or tuple(c) not in mutual:
                print(f"  loop: {' -> '.join(c)}")
        total += len(mutual) + sum(1 for c in comps if len(c) > 2)
    print(f"cycles: {total}")


if __name__ == "__main__":
    main()
