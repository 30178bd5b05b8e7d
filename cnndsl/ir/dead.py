"""Dead layers: those whose result reaches no network output (`(a, b) = split 2`, `add(a, b) -> relu`,
`output a` leaves the add and the relu dead). A pure pass over the IR: it finds them and words the
warnings `IRBuilder.finish` records; the torch back end keeps their modules but does not compute them
(docs/language.md, "Unused layers")."""

from __future__ import annotations

import networkx as nx

from ..errors import Diagnostic
from .network import Layer, Network

NAMED = 4  # dead layers named in one warning before "and N more"


def live_ids(net: Network) -> set[int]:
    """The ids of the layers an output reads, directly or through other layers (the outputs' own included)."""
    ends = {ref.layer.id for ref in net.outputs}
    return ends.union(*(nx.ancestors(net.graph, n) for n in ends))


def dead_ends(net: Network) -> list[tuple[Layer, list[Layer]]]:
    """Each dead chain, as its last layer (a dead layer that no layer reads) with the other dead layers
    that feed it, in creation order; the chains in creation order of their last layers. Every dead layer
    is in at least one chain (one that feeds several dead ends is in each). The network input is never
    dead: it is not computed."""
    live = live_ids(net)
    dead = {layer.id: layer for layer in net.layers() if layer.inputs and layer.id not in live}
    ends = [n for n in sorted(dead) if net.graph.out_degree(n) == 0]
    return [(dead[n], [dead[a] for a in sorted(nx.ancestors(net.graph, n) & dead.keys())]) for n in ends]


def dead_warnings(net: Network) -> list[Diagnostic]:
    """One warning per dead chain, located at its last layer (the value nothing reads, which is where the
    program most likely lacks a use or an `output`), naming the dead layers that feed it."""
    found = []
    for end, before in dead_ends(net):
        message = f"{end.qualname} ({end.label}) reaches no output: no layer or output reads it"
        if before:
            names = [layer.qualname for layer in before]
            more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
            verb, feed = ("does", "feeds") if len(names) == 1 else ("do", "feed")
            message += f"; neither {verb} {', '.join(names[:NAMED])}{more}, which {feed} it"
        kept = " (it keeps their parameters)" if any(layer.params for layer in (end, *before)) else ""
        hint = f"use its result, name it in an `output`, or delete it; the compiled model does not compute it{kept}"
        found.append(Diagnostic(message, end.span, chain=end.chain, severity="warning", hint=hint))
    return found
