#!/usr/bin/env python3
"""Fails on a dead relative link or #anchor in the repository's Markdown files (scripts/test.sh).

Checks every `[text](target)`, `![alt](target)`, `[id]: target` and `href=`/`src=` in each *.md
outside target/, .git/ and node_modules/: the file or folder must exist, and an `#anchor` must
name a heading of the target file (GitHub's slugs). Links to other sites are listed, not fetched
(no network here). Code blocks and `inline code` are skipped. Prints every file with what it
checked, then the dead links, and exits 1 if there are any.

    python3 scripts/check-links.py [ROOT]
"""
import os
import re
import sys

SKIP_DIRS = {".git", "target", "node_modules"}
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
ANCHOR_TAG = re.compile(r"""<a\s+(?:name|id)\s*=\s*["']([^"']+)["']""")


def markdown_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for f in sorted(files):
            if f.endswith(".md"):
                yield os.path.join(d, f)


def prose_lines(text):
    """(line number, line) outside fenced code, with `inline code` blanked."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^\s{0,3}(```+|~~~+)", line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, re.sub(r"`+[^`]*`+", "``", line)


def slug(heading):
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links → their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in "_- ")
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen = {}
        found = set()
        text = open(path, encoding="utf-8").read()
        fence = None
        for line in text.split("\n"):
            m = re.match(r"^\s{0,3}(```+|~~~+)", line)
            if m:
                fence = None if fence else m.group(1)[0]
                continue
            if fence:
                continue
            h = HEADING.match(line)
            if h:
                s = slug(h.group(2))
                k = seen.get(s, 0)
                seen[s] = k + 1
                found.add(s if k == 0 else f"{s}-{k}")
            found.update(ANCHOR_TAG.findall(line))
        cache[path] = found
    return cache[path]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    dead, files, local, with_anchor, external = [], 0, 0, 0, set()
    for path in markdown_files(root):
        files += 1
        rel = os.path.relpath(path, root)
        checked = 0
        text = open(path, encoding="utf-8").read()
        for n, line in prose_lines(text):
            targets = INLINE.findall(line) + HTML.findall(line)
            m = REFDEF.match(line)
            if m:
                targets.append(m.group(1))
            for t in targets:
                if re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I):  # https:, mailto:, ...
                    external.add(t)
                    continue
                checked += 1
                local += 1
                file_part, _, anchor = t.partition("#")
                target = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not os.path.exists(target):
                    dead.append(f"{rel}:{n}: {t} — no such file {os.path.relpath(target, root)}")
                    continue
                if anchor:
                    with_anchor += 1
                    if not target.endswith(".md"):
                        continue
                    if anchor.lower() not in anchors(target):
                        dead.append(f"{rel}:{n}: {t} — no heading #{anchor} in {os.path.relpath(target, root)}")
        print(f"  {rel}: {checked} relative link(s)")
    print(
        f"check-links: {files} Markdown files, {local} relative links ({with_anchor} with #anchors) checked; "
        f"{len(external)} links to other sites listed, not fetched"
    )
    if dead:
        print(f"check-links: {len(dead)} dead link(s):", file=sys.stderr)
        for d in dead:
            print(f"  {d}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
