"""A tiny scalar reverse-mode engine: every number remembers where it came from.

    x, y = Node(2.0), Node(-3.0)
    f = (x * y + x).tanh()          # builds the graph as it computes
    backprop(f)                     # x.grad, y.grad: df/dx, df/dy

A Node holds its ``value``, its ``grad`` (d root / d node, set by a backward pass), its ``parents`` (the
nodes it was computed from; x * x lists x twice) and ``local_grads``, one number per parent: d node /
d parent, computed in the forward pass. Local gradients are numbers, not closures, so a graph is plain
data: it can be copied, drawn, and sent through the grader's door. The backward pass then needs only
the chain rule, in an order where every node comes after all the nodes it feeds (a topological order,
reversed), and += where a node feeds more than one place.
"""
import math

from ._guard import answer_key


class Node:
    """A number in a graph: value, grad, parents, local_grads (d self / d parent, one per parent), op."""

    def __init__(self, value, parents=(), local_grads=(), op=""):
        parents, local_grads = tuple(parents), tuple(float(g) for g in local_grads)
        if len(parents) != len(local_grads) or not all(isinstance(p, Node) for p in parents):
            raise ValueError(f"a Node needs one local gradient per parent Node; got {len(parents)} parents "
                             f"and {len(local_grads)} local gradients")
        self.value, self.grad = float(value), 0.0
        self.parents, self.local_grads, self.op = parents, local_grads, str(op)

    def __repr__(self):
        return f"Node({_short(self.value)}, grad={_short(self.grad)}" + (f", op={self.op!r})" if self.op else ")")

    # d(a + b) = 1, 1;  d(a * b) = b, a;  the rest follow from these and the unary functions below
    def __add__(self, other):
        other = _node(other)
        return Node(self.value + other.value, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = _node(other)
        return Node(self.value * other.value, (self, other), (other.value, self.value), "*")

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"a Node's power must be a number, got {type(exponent).__name__}")
        return Node(self.value ** exponent, (self,), (exponent * self.value ** (exponent - 1),), f"**{exponent:g}")

    def __neg__(self):
        return Node(-self.value, (self,), (-1.0,), "neg")

    def __sub__(self, other):
        other = _node(other)
        return Node(self.value - other.value, (self, other), (1.0, -1.0), "-")

    def __truediv__(self, other):
        other = _node(other)
        return Node(self.value / other.value, (self, other),
                    (1.0 / other.value, -self.value / other.value ** 2), "/")

    def __radd__(self, other):
        return _node(other) + self

    def __rmul__(self, other):
        return _node(other) * self

    def __rsub__(self, other):
        return _node(other) - self

    def __rtruediv__(self, other):
        return _node(other) / self

    def tanh(self):
        t = math.tanh(self.value)
        return Node(t, (self,), (1.0 - t * t,), "tanh")

    def exp(self):
        e = math.exp(self.value)
        return Node(e, (self,), (e,), "exp")

    def log(self):
        return Node(math.log(self.value), (self,), (1.0 / self.value,), "log")

    def relu(self):
        return Node(max(self.value, 0.0), (self,), (1.0 if self.value > 0 else 0.0,), "relu")


def _short(x):
    return f"{x:.4g}" if isinstance(x, (int, float)) else repr(x)


def _node(x):
    """A number as a constant leaf; a Node as itself."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return Node(x, op="const")
    raise TypeError(f"a Node combines with Nodes and numbers, got {type(x).__name__}")


def tanh(x):
    return _node(x).tanh()


def exp(x):
    return _node(x).exp()


def log(x):
    return _node(x).log()


def relu(x):
    return _node(x).relu()


@answer_key
def topological_order(root):
    """Every node of root's graph once, each after all of its parents (a depth-first post-order); root last."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:  # iterative, so a deep chain does not meet Python's recursion limit
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node.parents) if id(p) not in visited)
    return order


@answer_key
def backprop(root):
    """Set every node's grad to d root / d node: zero them all, seed root.grad = 1, then, root first, add each
    node's grad times each local gradient into its parent's grad. Returns None."""
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local
