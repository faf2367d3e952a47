"""The dialogue map's stages as a graph, drawn server-side as SVG for the script editor.

Nodes are stages (plus «objection» when the map sends objections somewhere), edges are the
transitions by intent; stages the validator finds unreachable are marked. Layered layout: each
stage sits in the column of its distance from the start, so the flow reads left to right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import escape

from dialogs.scriptmap import validate_map

OBJECTION_NODE = "@objection"
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 150, 34, 70, 22, 16


@dataclass
class StageGraph:
    nodes: list[str]
    edges: list[tuple[str, str, str]]  # (from, to, intents joined)
    start: str | None
    unreachable: set[str] = field(default_factory=set)
    ends: set[str] = field(default_factory=set)


def stage_graph(data: Any) -> StageGraph:
    """The graph of a map (any JSON: a broken map gives what can be read of it)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("stages"), Mapping):
        return StageGraph(nodes=[], edges=[], start=None)
    stages = data["stages"]
    names = [str(n) for n in stages]
    labels: dict[tuple[str, str], list[str]] = {}
    ends: set[str] = set()
    for name, stage in stages.items():
        if not isinstance(stage, Mapping):
            continue
        transitions = stage.get("transitions") or {}
        if not isinstance(transitions, Mapping):
            continue
        for intent, target in transitions.items():
            if target in ("@end", "@transfer"):  # the bot's part of the call ends there
                ends.add(str(name))
            if isinstance(target, str) and target in stages and target != name:
                labels.setdefault((str(name), target), []).append(str(intent))
        if "final" in stage:
            ends.add(str(name))
    objections = data.get("objections")
    targets = set()
    if isinstance(objections, Mapping):
        for value in objections.values():
            nxt = value.get("next") if isinstance(value, Mapping) else None
            if isinstance(nxt, str) and nxt in stages:
                targets.add(nxt)
    nodes = list(names)
    if targets:
        nodes.append(OBJECTION_NODE)
        for t in sorted(targets):
            labels.setdefault((OBJECTION_NODE, t), []).append("objection")
    unreachable = {p.path.split("/")[-1] for p in validate_map(data) if p.code == "unreachable_stage"}
    start = data.get("start") if data.get("start") in stages else None
    edges = [(a, b, ", ".join(sorted(set(v)))) for (a, b), v in labels.items()]
    return StageGraph(nodes=nodes, edges=edges, start=start, unreachable=unreachable, ends=ends)


def _layers(graph: StageGraph) -> dict[str, int]:
    """Column of each node: its distance from the start (objection targets from the objection node)."""
    column: dict[str, int] = {}
    roots = [n for n in (graph.start, OBJECTION_NODE) if n in graph.nodes]
    for root in roots:
        if root in column:
            continue
        column[root] = 0
        todo = [root]
        while todo:
            node = todo.pop(0)
            for a, b, _ in graph.edges:
                if a == node and b not in column:
                    column[b] = column[node] + 1
                    todo.append(b)
    last = max(column.values(), default=-1) + 1
    for n in graph.nodes:  # unreachable stages: a column of their own, at the end
        column.setdefault(n, last)
    return column


def stage_graph_svg(data: Any, *, labels: Mapping[str, str] | None = None) -> str:
    """An inline SVG of the map's stages; ``labels`` names the legend (translated by the caller)."""
    labels = labels or {}
    graph = stage_graph(data)
    if not graph.nodes:
        return f'<p class="muted">{escape(labels.get("empty", "No stages."))}</p>'
    column = _layers(graph)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for n in graph.nodes:
        c = column[n]
        r = rows.get(c, 0)
        rows[c] = r + 1
        pos[n] = (PAD + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(column.values()) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values()) * (NODE_H + GAP_Y) - GAP_Y + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stage-graph-svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(labels.get("title", "Stage graph"))}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#98a2b3"/></marker></defs>',
    ]
    for a, b, intents in graph.edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        sx, sy = x1 + NODE_W, y1 + NODE_H / 2
        ex, ey = x2, y2 + NODE_H / 2
        if x2 <= x1:  # a step back: leave from the bottom, arrive at the bottom
            sx, sy, ex, ey = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2 + NODE_H
            d = f"M {sx} {sy} C {sx} {sy + 40}, {ex} {ey + 40}, {ex} {ey}"
        else:
            mid = (sx + ex) / 2
            d = f"M {sx} {sy} C {mid} {sy}, {mid} {ey}, {ex} {ey}"
        parts.append(f'<path class="edge" data-from="{escape(a)}" data-to="{escape(b)}" d="{d}" '
                     f'fill="none" stroke="#98a2b3" stroke-width="1.5" marker-end="url(#arrow)">'
                     f'<title>{escape(a)} → {escape(b)}: {escape(intents)}</title></path>')
    for n in graph.nodes:
        x, y = pos[n]
        classes = ["stage"]
        if n in graph.unreachable:
            classes.append("unreachable")
        if n == graph.start:
            classes.append("start")
        name = labels.get("objection", "objection") if n == OBJECTION_NODE else n
        note = ""
        if n in graph.unreachable:
            note = f' — {labels.get("unreachable", "unreachable")}'
        elif n in graph.ends:
            note = " ■"
        dash = ' stroke-dasharray="4 3"' if n == OBJECTION_NODE else ""
        fill, stroke = ("#fef3f2", "#b42318") if n in graph.unreachable else ("#eef2ff", "#2f6feb")
        parts.append(
            f'<g class="{" ".join(classes)}" data-stage="{escape(n)}"><rect x="{x}" y="{y}" rx="6" width="{NODE_W}" '
            f'height="{NODE_H}" fill="{fill}" stroke="{stroke}"{dash}/>'
            f'<text x="{x + 8}" y="{y + NODE_H / 2 + 4}" font-family="sans-serif" font-size="12" fill="{stroke}">'
            f'{escape(name)}{"" if n != graph.start else " ▶"}</text>'
            f'<title>{escape(name + note)}</title></g>'
        )
    legend_y = height - 8
    parts.append(f'<text x="{PAD}" y="{legend_y}" class="legend" font-family="sans-serif" font-size="12" '
                 f'fill="#667085">▶ {escape(labels.get("start", "start"))} · '
                 f'■ {escape(labels.get("end", "ends the call"))} · '
                 f'{escape(labels.get("red", "red: cannot be reached"))}</text>')
    parts.append("</svg>")
    return "".join(parts)
