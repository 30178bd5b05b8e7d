"""`Built`: what one rule of the parser's Builder (cnndsl.lang.builder) makes, a syntax node with
the tokens its text starts and ends at and the height Lark's tree would have had; and `too_deep`,
which finds the node past MAX_TREE_DEPTH from those heights.
"""

from __future__ import annotations

from lark import Token


class Built:
    """A syntax node (or a tuple of them, or a name) made by one rule, with its extent."""

    __slots__ = ("node", "first", "last", "height", "kids", "wrapped")

    def __init__(self, node: object, kids: list, wrapped: bool = False) -> None:
        self.node = node
        self.kids = kids  # the rule's children: tokens, Builts and Nones (absent optional parts)
        self.wrapped = wrapped  # `( expr )`: kids is [LPAR, the expression's Built, RPAR]
        first = last = None  # tokens; None for a rule that matched no text
        height = 0
        for kid in kids:
            if kid is None:
                continue
            if isinstance(kid, Token):
                if first is None:
                    first = kid
                last = kid
            else:
                if kid.first is not None:
                    if first is None:
                        first = kid.first
                    last = kid.last
                if kid.height > height:
                    height = kid.height
        self.first, self.last = first, last
        # in Lark's tree, a node and its subtree; brackets add no level
        self.height = height if wrapped else height + 1


def too_deep(root: Built, limit: int) -> Built | None:
    """The node Lark's tree had deeper than `limit` (root at depth 1) that a depth-first search
    taking the last child first meets first: in the last child whose subtree is that deep."""
    if root.height <= limit:
        return None
    node, depth = root, 1
    while depth <= limit:
        for kid in reversed(node.kids):
            if isinstance(kid, Built) and depth + kid.height > limit:
                break
        while kid.wrapped:
            kid = kid.kids[1]
        node, depth = kid, depth + 1
    return node
