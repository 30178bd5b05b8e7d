"""The intermediate representation: a `networkx.DiGraph` of layers, its typed views, its
builder and its lint.

Callers read the IR through `Network` and its frozen views (`Layer`, `Ref`, `Block`,
`Step`; network.py) and the elaborator writes it through `IRBuilder` (graph.py, with the
lint); only this package touches the graph's attribute dicts (tests/test_ir.py checks
that). `Network.graph` stays public as the storage for graph algorithms.

Node schema (every node; `lint` checks it):

=========  =====================================================================
key        value
=========  =====================================================================
op         str: a key of the op registry (`input` for the network input)
name       str: the layer's own name (`conv2`, or its `as` name), the path's last step
path       tuple[str, ...]: module path, block instances first (`("residual3", "conv2")`)
attrs      dict: the op's bound attributes (`kernel`, `stride`, `out`, ...)
inputs     tuple[(node, port), ...]: the tensors it reads, in branch order
shapes     tuple[Shape, ...]: its output shapes per sample (one, or several for `split`)
span       Span: the source text that created it
chain      CallChain: the block calls it sits in, outermost first
init       LayerInit (optional, absent for PyTorch's default): its weight's and bias's initialisers
=========  =====================================================================

Edges `u -> v` exist for every `u` in `v`'s inputs (graph algorithms use them; `inputs`
keeps the order and ports). Node ids are ints in creation order, which is a topological
order. Graph attributes:

============  =====================================================================
name          str: the network's name
params        dict: the network's parameter values
outputs       list[(node, port)]: the network's outputs
output_names  list[str]: each output's name in the source (`output c`), "" for the
              end of the body
blocks        dict: block instance path -> {"block": name, "call": the call as text,
              "span": Span of the call, "chain": CallChain ending in this call}, in call
              order; every layer's path minus its last step is () or one of these paths
stages        list[(node, port)]: the output of each layer, block call or merge written
              directly in the network body
warnings      list[Diagnostic]
sources       dict[str, str]: file -> text, to render diagnostics
============  =====================================================================
"""

from .graph import IRBuilder, LintError, lint
from .network import Block, Layer, Network, Ref, Step, set_svg_drawer

__all__ = ["Block", "IRBuilder", "Layer", "LintError", "Network", "Ref", "Step", "lint", "set_svg_drawer"]
