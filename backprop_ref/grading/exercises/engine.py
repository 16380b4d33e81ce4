"""Exercises of lesson 10: a reverse-mode engine's backward pass.

- backprop(root): the learner's backward pass over a graph of backprop_ref.engine Nodes, built by a small
  random program (inputs, constants, the engine's ops; shared subexpressions, x * x, diamonds where paths of
  different lengths meet, or a deep chain). It returns None and sets every node's .grad; ``adapt`` reads
  them back, in the wire's breadth-first order of the graph (sandbox.wire.graph_nodes), as two outputs:
  ``leaves`` (the nodes without parents: inputs and constants) and ``nodes`` (every node).
  The verdict is float64 central differences of the program re-run in plain floats (``_evaluate``, not the
  engine and not its local gradients): d root / d leaf by moving a leaf's value, d root / d node by adding
  a small delta to that node's output and running the program on from there.
  The graph arrives holding stale grads (random numbers, as an earlier backward pass would leave): the
  contract says backprop sets every grad, starting from 0.
"""
import math

import numpy as np

from ...engine import Node
from ...engine import backprop as _backprop
from ...engine import topological_order as _order
from ...sandbox.wire import graph_nodes
from ..core import Case, Exercise, Gradient, Mistake, Part, WrongReturn, _copy_graph
from ._common import label, told_apart

_MAX_PATHS = 20_000  # a mistake that walks every path of a graph is not fingerprinted on a graph with more

_UNARY = {"tanh": math.tanh, "exp": math.exp, "log": math.log, "relu": lambda a: max(a, 0.0), "neg": lambda a: -a}
_BINARY = {"+": lambda a, b: a + b, "*": lambda a, b: a * b, "-": lambda a, b: a - b, "/": lambda a, b: a / b}


def _apply(op, args, param):
    if op in ("leaf", "const"):
        return param
    if op == "pow":
        return args[0] ** param
    if op in _UNARY:
        return _UNARY[op](args[0])
    return _BINARY[op](*args)


def _build(op, args, param):
    """The same instruction with engine Nodes."""
    if op in ("leaf", "const"):
        return Node(param, op="" if op == "leaf" else "const")
    if op == "pow":
        return args[0] ** param
    if op == "neg":
        return -args[0]
    if op in _UNARY:
        return getattr(args[0], op)()
    return _BINARY[op](*args)  # the operators work on Nodes as on floats


def _evaluate(program, leaf_values, delta, where):
    """The program's output in floats; leaf k's value from leaf_values, delta[where[k]] added to node k's."""
    values = []
    for k, (op, args, param) in enumerate(program):
        value = leaf_values[where[k]] if op in ("leaf", "const") else _apply(op, [values[i] for i in args], param)
        values.append(value + delta[where[k]])
    return values[-1]


def _program(rng, inputs, ops, kind):
    """[(op, operand indices, parameter)]: ``inputs`` leaves, then ``ops`` operations, then their sum."""
    program = [("leaf", (), float(rng.normal())) for _ in range(inputs)]
    if inputs > 1 and kind == "mixed":  # two inputs of one value: a visited set keyed by value merges them
        program[1] = program[0]
    values = [p[2] for p in program]
    used = set()

    def add(op, args, param=None):
        values.append(_apply(op, [values[i] for i in args], param))
        program.append((op, tuple(args), param))
        used.update(args)
        return len(program) - 1

    if kind == "chain":  # a deep chain: tanh(prev * x_j + x_k), over and over
        prev = 0
        for k in range(ops):
            leaf = int(rng.integers(inputs))
            prev = add("tanh", (prev,)) if k % 3 == 2 else add("*+"[k % 3], (prev, leaf))
    elif ops > 0:
        first = add("*", (0, 0))  # a node used twice by one op
        add("*", (0, 0))  # and its twin: another node of the same op, operands and value
        if ops > 1:
            program.append(("const", (), float(rng.choice([0.5, 2.0, -1.5]))))
            values.append(program[-1][2])
            second = add("tanh", (add("*", (first, len(program) - 1)),))  # a longer path from first ...
        if ops > 3:
            add("+", (second, first))  # ... meets a shorter one: a diamond
        while len(program) - inputs - (1 if ops > 1 else 0) < ops:
            n = len(program)
            a, b = (int(i) for i in rng.integers(max(0, n - 5), n, size=2))  # recent nodes, often shared
            op = str(rng.choice(["+", "*", "-", "/", "tanh", "exp", "log", "relu", "pow", "neg"]))
            va, vb = values[a], values[b]
            if op == "/" and abs(vb) < 0.5 or op == "log" and va < 0.2 or op in ("exp", "pow") and abs(va) > 2 \
                    or op == "relu" and abs(va) < 0.05 or op == "*" and abs(va * vb) > 10:
                op = "tanh"
            if op in _BINARY:
                add(op, (a, b))
            else:
                add(op, (a,), int(rng.choice([2, 3])) if op == "pow" else None)
    dangling = [k for k in range(len(program)) if k not in used]  # the last one among them
    root = dangling[0]
    for k in dangling[1:]:  # everything feeds the root
        root = add("+", (root, k))
    return program


def _graph(program):
    nodes = []
    for op, args, param in program:
        nodes.append(_build(op, [nodes[i] for i in args], param))
    return nodes


def read_grads(root):
    """(grads of the leaves, grads of every node), in the wire's order of root's graph; a WrongReturn for both if a
    grad is not a number."""
    nodes = graph_nodes(root)
    grads = []
    for i, node in enumerate(nodes):
        g = getattr(node, "grad", None)
        if not isinstance(g, (int, float, np.integer, np.floating)) or isinstance(g, bool):
            op = getattr(node, "op", "")
            why = WrongReturn(f"after backprop, the grad of a node ({'op ' + repr(op) if op else 'an input'}) is not a "
                              f"number: every node's .grad must be a float, d root / d node")
            return why, why
        grads.append(float(g))
    grads = np.array(grads)
    leaves = [i for i, node in enumerate(nodes) if not node.parents]
    return grads[leaves], grads


def _adapt(implementation):
    def backprop(root):
        implementation(root)  # returns None: the answer is in the grads it set
        return read_grads(root)

    return backprop


def _backprop_case(rng, dims):
    program = _program(rng, dims["inputs"], dims["ops"], dims["kind"])
    nodes = _graph(program)
    root = nodes[-1]
    order = graph_nodes(root)
    where = {id(n): i for i, n in enumerate(order)}
    where = [where[id(n)] for n in nodes]
    for node in order:
        node.grad = float(rng.normal())  # stale grads, as an earlier backward pass would leave them
    leaf_values = np.array([n.value if not n.parents else 0.0 for n in order])
    delta = np.zeros(len(order))
    is_leaf = np.array([not n.parents for n in order])
    leaves = leaf_values[is_leaf]  # perturbed by the verdict: written back into leaf_values before each run

    def f_leaves():
        values = leaf_values.copy()
        values[is_leaf] = leaves
        return _evaluate(program, values, delta, where)

    def f_nodes():
        return _evaluate(program, leaf_values, delta, where)

    reference = _copy_graph(root)
    _backprop(reference)
    leaf_grads, node_grads = read_grads(reference)
    return Case(
        args=(root,),
        targets={"leaves": Gradient(f_leaves, leaves), "nodes": Gradient(f_nodes, delta)},
        reference={"leaves": leaf_grads, "nodes": node_grads},
        label=label(dims),
        data={"program": program, "nodes": _describe(order, nodes), "leaves": np.flatnonzero(is_leaf)},
    )


def _describe(order, made):
    """Each node of ``order`` as the case made it ("input 2 (= 0.4967)", "node 7 of the graph, tanh (= 0.31)"),
    not by its value alone: two nodes may share one."""
    inputs = [n for n in made if not n.parents and n.op != "const"]
    place = {id(n): k + 1 for k, n in enumerate(made)}
    number = {id(n): k + 1 for k, n in enumerate(inputs)}
    return [f"node {place[id(n)]} of the graph, {n.op} (= {n.value:.4g})" if n.parents
            else f"the constant {n.value:.4g} (node {place[id(n)]})" if n.op == "const"
            else f"input {number[id(n)]} (= {n.value:.4g})" for n in order]


def _locate(output, index, case):
    """An entry of leaves or nodes as the node it belongs to: the learner's code never sees the wire's order."""
    i = index[0] if output == "nodes" else case.data["leaves"][index[0]]
    return case.data["nodes"][i]


def _hidden_dims(rng):
    """General graphs first (where the mistakes differ), then a deep chain, one input used everywhere, and a
    graph that is one input, the root itself."""
    return [{"inputs": int(rng.integers(3, 6)), "ops": int(rng.integers(12, 16)), "kind": "mixed"},
            {"inputs": 2, "ops": int(rng.integers(8, 12)), "kind": "mixed"},
            {"inputs": 2, "ops": int(rng.integers(30, 40)), "kind": "chain"},
            {"inputs": 1, "ops": int(rng.integers(4, 7)), "kind": "mixed"},
            {"inputs": 1, "ops": 0, "kind": "mixed"}]


# ---------------------------------------------------------------------------------------------
# The known wrong backward passes, run on a copy of the case's graph.


def _fresh(root):
    for node in _order(root):
        node.grad = 0.0
    root.grad = 1.0


def _propagate(order, add=True, local=True):
    for node in order:
        for parent, g in zip(node.parents, node.local_grads):
            step = node.grad * (g if local else 1.0)
            parent.grad = parent.grad + step if add else step


def _paths_checked(root):
    """Raise if the graph has too many root-to-node paths for a mistake that walks each of them."""
    paths = {id(root): 1}
    for node in reversed(_order(root)):
        for parent in node.parents:
            paths[id(parent)] = paths.get(id(parent), 0) + paths[id(node)]
    if sum(paths.values()) > _MAX_PATHS:
        raise ValueError("too many paths to walk")


def _with_every_path(root):
    """The depth-first post-order with no visited set: a node once per path from the root to it."""
    _paths_checked(root)
    order = []

    def visit(node):
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


def _recursive_push(root):
    _paths_checked(root)

    def push(node):
        for parent, g in zip(node.parents, node.local_grads):
            parent.grad += node.grad * g
            push(parent)

    push(root)


def _assign(root):
    _fresh(root)
    _propagate(reversed(_order(root)), add=False)


def _unseeded(root):
    _fresh(root)
    root.grad = 0.0
    _propagate(reversed(_order(root)))


def _forward_order(root):
    _fresh(root)
    _propagate(_order(root))


def _breadth_first(root):
    _fresh(root)
    _propagate(graph_nodes(root))


def _no_visited_set(root):
    _fresh(root)
    _propagate(reversed(_with_every_path(root)))


def _pushed_at_once(root):
    _fresh(root)
    _recursive_push(root)


def _no_local_gradient(root):
    _fresh(root)
    _propagate(reversed(_order(root)), local=False)


def _stale(root):
    root.grad = 1.0
    _propagate(reversed(_order(root)))


def _fingerprint(backward):
    def wrong(case):
        root = _copy_graph(case.args[0])
        backward(root)
        leaves, nodes = read_grads(root)
        return {"leaves": leaves, "nodes": nodes}

    return wrong


_MISTAKES = (
    Mistake("a node that feeds more than one place (or one op twice, as in x * x) must add up what each use passes "
            "back: parent.grad += node.grad * local, not =", _fingerprint(_assign)),
    Mistake("nothing flows back: seed the root, root.grad = 1 (d root / d root), after zeroing the grads and before "
            "the backward loop", _fingerprint(_unseeded)),
    Mistake("the nodes were visited in the forward order, inputs first: go root first (the topological order "
            "reversed), so that a node's grad is complete before it is passed on", _fingerprint(_forward_order)),
    Mistake("breadth-first from the root is not a reversed topological order: where a long path and a short one meet, "
            "a node is passed on before all of its uses have added into its grad; order the nodes by a depth-first "
            "post-order (parents before the node), then go through it reversed", _fingerprint(_breadth_first)),
    Mistake("a shared node was processed more than once: the depth-first search needs a set of visited nodes, so "
            "that each node appears once in the order", _fingerprint(_no_visited_set)),
    Mistake("each node passed its grad on as soon as it got some, recursively from the root: a node used in two "
            "places passes on a partial grad, then its grad again; wait until every use has added in (a reversed "
            "topological order)", _fingerprint(_pushed_at_once)),
    Mistake("the local gradient is missing: each parent gets node.grad times d node / d parent (node.local_grads[i]), "
            "not node.grad alone", _fingerprint(_no_local_gradient)),
    Mistake("the grads left by an earlier backward pass were added to: set every node's grad to 0 first, then seed "
            "the root", _fingerprint(_stale)),
)


BACKPROP = Exercise(
    id="backprop",
    signature="backprop(root) -> None   # sets node.grad = d root / d node on every node of root's graph "
              "(backprop_ref.engine.Node), starting from 0",
    lesson="10_jacobians",
    outputs=("leaves", "nodes"),
    parts=(Part("leaves", 2, ("leaves",)), Part("nodes", 1, ("nodes",))),
    make_case=_backprop_case,
    visible_dims=({"inputs": 3, "ops": 8, "kind": "mixed"},),
    hidden_dims=_hidden_dims,
    adapt=_adapt,
    locate=_locate,
    mistakes=told_apart(*_MISTAKES),
)

EXERCISES = [BACKPROP]
