"""Sphinx directives that draw documentation from dicomul's own code.

* ``.. dicomul-app-options:: NAME`` renders the options of ``dicomul NAME``
  from the app's own :mod:`argparse` parser (``build_parser()`` in
  ``dicomul_sync.apps.NAME``), grouped as ``--help`` groups them, so the
  page cannot drift from the command.
* ``.. dicomul-state-table::`` renders PS3.8 Table 9-10 from
  ``dicomul._fsm.TRANSITIONS`` (the table the engine runs on), and the
  actions with their next states from ``NEXT_STATE``; the descriptions are
  the ``#:`` comments of the enums in that module.
* ``.. dicomul-state-diagram::`` draws the same data as a graph (Graphviz,
  through :mod:`sphinx.ext.graphviz`): one node per state, one arrow per
  pair of states an event leads between, labelled with those events.

All build docutils nodes directly (no reStructuredText is parsed from help
strings), so nothing an app's help says can break the build.
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from typing import Any

from docutils import nodes
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective


def _literal_paragraph(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", nodes.literal(text, text))


def _option_label(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    """``-aet, --aetitle AETITLE`` or ``port``, as ``--help`` writes it."""
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    args = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"{option} {args}" for option in action.option_strings)


class AppOptions(SphinxDirective):
    """The options of one ``dicomul`` app, from its argument parser."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        module = importlib.import_module(f"dicomul_sync.apps.{name}")
        self.env.note_dependency(module.__file__ or "")
        parser: argparse.ArgumentParser = module.build_parser()
        formatter = parser._get_formatter()
        result: list[nodes.Node] = [nodes.literal_block(text=parser.format_usage().strip())]
        for group in parser._action_groups:
            actions = [
                a
                for a in group._group_actions
                if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            ]
            if not actions:
                continue
            result.append(nodes.rubric(text=group.title or ""))
            if group.description:
                result.append(nodes.paragraph(text=group.description))
            items = nodes.definition_list()
            for action in actions:
                text = formatter._expand_help(action) if action.help else ""
                items += nodes.definition_list_item(
                    "",
                    nodes.term("", "", nodes.literal(text=_option_label(action, formatter))),
                    nodes.definition("", nodes.paragraph(text=text)),
                )
            result.append(items)
        return result


def _attr_docs() -> dict[tuple[str, str], str]:
    """The ``#:`` comment of each member of State, Event and Action."""
    analyzer = ModuleAnalyzer.for_module("dicomul._fsm")
    return {key: " ".join(lines).strip() for key, lines in analyzer.find_attr_docs().items()}


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row(cells: list[str]) -> nodes.row:
        r = nodes.row()
        for cell in cells:
            r += nodes.entry("", nodes.paragraph(text=cell))
        return r

    thead = nodes.thead()
    thead += row(header)
    group += thead
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += body
    return table


class StateTable(SphinxDirective):
    """PS3.8 Table 9-10 and Tables 9-6 to 9-9 from ``dicomul._fsm``."""

    def run(self) -> list[nodes.Node]:
        fsm = importlib.import_module("dicomul._fsm")
        self.env.note_dependency(fsm.__file__ or "")
        docs = _attr_docs()
        states, events, actions = list(fsm.State), list(fsm.Event), list(fsm.Action)
        result: list[nodes.Node] = []

        result.append(nodes.rubric(text="States (PS3.8 Tables 9-1 to 9-5)"))
        result.append(
            _table(
                ["State", "Meaning"],
                [[s.value, docs.get(("State", s.name), "")] for s in states],
                [8, 60],
            )
        )

        result.append(nodes.rubric(text="Events and the action in each state (Table 9-10)"))
        result.append(
            nodes.paragraph(
                text=(
                    "One row per event, one column per state; an empty cell is an event that "
                    "cannot happen in that state (a local one raises LocalProtocolError; a "
                    "peer's PDU has no empty cell once a transport connection exists)."
                )
            )
        )
        header = ["Event", *[s.value for s in states]]
        rows = []
        for event in events:
            origin = "local" if event in fsm.LOCAL_EVENTS else "peer"
            label = f"{event.value}: {docs.get(('Event', event.name), '')} ({origin})"
            cells = [
                action.value if (action := fsm.TRANSITIONS.get((s, event))) else "" for s in states
            ]
            rows.append([label, *cells])
        result.append(_table(header, rows, [24] + [5] * len(states)))

        result.append(nodes.rubric(text="Actions and their next state (Tables 9-6 to 9-9)"))
        action_rows = []
        for action in actions:
            following = fsm.NEXT_STATE[action]
            if following is not None:
                next_state = following.value
            elif action is fsm.Action.AE_6:
                next_state = "Sta3 if acceptable, else Sta13"
            else:
                next_state = "Sta9 (requestor) or Sta10 (acceptor)"
            action_rows.append([action.value, docs.get(("Action", action.name), ""), next_state])
        result.append(_table(["Action", "What it does", "Next state"], action_rows, [7, 50, 14]))
        return result


def _next_states(fsm: Any, action: Any) -> list[Any]:
    """Where ``action`` leads: AE-6 and AR-8 lead to one of two states
    (``dicomul._fsm``'s docstring says which when)."""
    following = fsm.NEXT_STATE[action]
    if following is not None:
        return [following]
    if action is fsm.Action.AE_6:
        return [fsm.State.STA3, fsm.State.STA13]
    return [fsm.State.STA9, fsm.State.STA10]


def state_diagram_dot() -> str:
    """The DUL state machine as Graphviz source, from ``TRANSITIONS`` and
    ``NEXT_STATE``: an arrow from each state to each state an event there
    leads to, labelled with the events (``Evt3``); local events dashed when
    every event of the arrow is local."""
    fsm = importlib.import_module("dicomul._fsm")
    docs = _attr_docs()
    arrows: dict[tuple[Any, Any], list[Any]] = {}
    for (state, event), action in fsm.TRANSITIONS.items():
        for following in _next_states(fsm, action):
            arrows.setdefault((state, following), []).append(event)
    lines = [
        "digraph dul {",
        '  graph [rankdir=LR, fontname="sans-serif", fontsize=10];',
        '  node [shape=box, style=rounded, fontname="sans-serif", fontsize=10];',
        '  edge [fontname="sans-serif", fontsize=8];',
    ]
    for state in fsm.State:
        meaning = docs.get(("State", state.name), "").split(";")[0].split(" (")[0]
        wrapped = textwrap.wrap(meaning.rstrip("."), 26)
        label = "\\n".join([state.value, *wrapped]).replace('"', "'")
        lines.append(f'  "{state.value}" [label="{label}"];')
    for (source, target), events in arrows.items():
        names = sorted({e.value for e in events}, key=lambda v: int(v[3:]))
        style = ", style=dashed" if all(e in fsm.LOCAL_EVENTS for e in events) else ""
        lines.append(f'  "{source.value}" -> "{target.value}" [label="{" ".join(names)}"{style}];')
    lines.append("}")
    return "\n".join(lines)


class StateDiagram(SphinxDirective):
    """The state machine as a graph, drawn by Graphviz at build time."""

    def run(self) -> list[nodes.Node]:
        from sphinx.ext.graphviz import graphviz  # noqa: PLC0415 - only this directive

        fsm = importlib.import_module("dicomul._fsm")
        self.env.note_dependency(fsm.__file__ or "")
        node = graphviz()
        node["code"] = state_diagram_dot()
        node["options"] = {}
        node["alt"] = "The DICOM Upper Layer state machine (PS3.8 section 9.2)"
        return [node]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("dicomul-app-options", AppOptions)
    app.add_directive("dicomul-state-table", StateTable)
    app.add_directive("dicomul-state-diagram", StateDiagram)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
