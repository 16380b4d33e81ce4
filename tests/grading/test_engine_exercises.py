"""Mutation suite for lesson 10's backprop(root): the backward pass of a reverse-mode engine. Realistic wrong
versions fail, visible and hidden, and the report names their mistake; correct versions written differently
(recursive and iterative depth-first orders, Kahn's algorithm on counts of uses) pass. The slow test runs them all
over many hidden seeds."""
import collections
import re

import numpy as np
import pytest

from backprop_ref.engine import Node
from backprop_ref.grading import grade
from backprop_ref.grading.core import _copy_graph, _judge_case
from backprop_ref.grading.exercises import engine as exercises
from mutants import IN_PLACE, assert_fails, assert_passes, soak


# orders a learner writes ------------------------------------------------------------------------
def post_order(root):
    """Depth-first, parents first, with a visited set (recursive)."""
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    return order


def post_order_without_visited(root):
    order = []

    def visit(node):
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


def breadth_first(root):
    order, seen, queue = [], {id(root)}, collections.deque([root])
    while queue:
        node = queue.popleft()
        order.append(node)
        for parent in node.parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                queue.append(parent)
    return order


# correct versions ---------------------------------------------------------------------------------
def backprop_recursive(root):
    order = post_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def backprop_stack(root):
    """An explicit stack, and the order built root first (a reversed post-order) straight away."""
    order, seen, stack = [], set(), [(root, iter(root.parents))]
    seen.add(id(root))
    while stack:
        node, parents = stack[-1]
        parent = next(parents, None)
        if parent is None:
            stack.pop()
            order.append(node)
        elif id(parent) not in seen:
            seen.add(id(parent))
            stack.append((parent, iter(parent.parents)))
    order.reverse()
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in order:
        grad = node.grad
        for i in range(len(node.parents)):
            node.parents[i].grad = node.parents[i].grad + grad * node.local_grads[i]


def backprop_kahn(root):
    """Kahn's algorithm: a node is ready once every one of its uses has passed its part back."""
    nodes = breadth_first(root)
    uses = collections.Counter(id(p) for node in nodes for p in node.parents)
    grads = {id(node): 0.0 for node in nodes}
    grads[id(root)] = 1.0
    ready = [root]
    while ready:
        node = ready.pop()
        for parent, local in zip(node.parents, node.local_grads):
            grads[id(parent)] += grads[id(node)] * local
            uses[id(parent)] -= 1
            if uses[id(parent)] == 0:
                ready.append(parent)
    for node in nodes:
        node.grad = grads[id(node)]


def backprop_numpy_grads(root):
    """Grads kept in an array while the order runs, written into the nodes at the end (as numbers NumPy gives)."""
    order = post_order(root)[::-1]
    index = {id(n): i for i, n in enumerate(order)}
    g = np.zeros(len(order))
    g[0] = 1
    for i, node in enumerate(order):
        for parent, local in zip(node.parents, node.local_grads):
            g[index[id(parent)]] += g[i] * local
    for node, grad in zip(order, g):
        node.grad = grad


CORRECT = [backprop_recursive, backprop_stack, backprop_kahn, backprop_numpy_grads]


# wrong versions --------------------------------------------------------------------------------
def _zeroed(root, order):
    for node in order:
        node.grad = 0.0
    root.grad = 1.0


def assigns(root):
    order = post_order(root)
    _zeroed(root, order)
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad = node.grad * local


def unseeded(root):
    order = post_order(root)
    for node in order:
        node.grad = 0.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def forward_order(root):
    order = post_order(root)
    _zeroed(root, order)
    for node in order:
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def breadth_first_order(root):
    order = breadth_first(root)
    _zeroed(root, order)
    for node in order:
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def no_visited_set(root):
    order = post_order_without_visited(root)
    _zeroed(root, order)
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def visited_by_value(root):
    """A visited set keyed by each node's value (or anything but the node): two nodes of one value are one."""
    order, seen = [], set()

    def visit(node):
        if node.value not in seen:
            seen.add(node.value)
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    _zeroed(root, order)
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def pushed_at_once(root):
    _zeroed(root, post_order(root))

    def push(node):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local
            push(parent)

    push(root)


def no_local_gradient(root):
    order = post_order(root)
    _zeroed(root, order)
    for node in reversed(order):
        for parent in node.parents:
            parent.grad += node.grad


def stale(root):
    order = post_order(root)
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local


def changes_a_value(root):
    backprop_recursive(root)
    root.parents[0].value += 1.0


def cuts_the_graph(root):
    """Kahn's algorithm that pops the parents it has used: the graph is gone afterwards."""
    backprop_recursive(root)
    for node in post_order(root):
        node.parents, node.local_grads = (), ()


MUTANTS = {
    "= instead of +=": (assigns, "not ="),
    "root not seeded": (unseeded, "seed the root"),
    "forward order": (forward_order, "visited in the forward order"),
    "breadth-first": (breadth_first_order, "breadth-first from the root"),
    "no visited set": (no_visited_set, "a set of visited nodes"),
    "pushed at once": (pushed_at_once, "as soon as it got some"),
    "visited set keyed by value": (visited_by_value, None),
    "no local gradient": (no_local_gradient, "the local gradient is missing"),
    "stale grads": (stale, "set every node's grad to 0 first"),
    "changes a value": (changes_a_value, IN_PLACE),
    "cuts the graph": (cuts_the_graph, IN_PLACE),
}


@pytest.mark.parametrize("impl", CORRECT, ids=lambda f: f.__name__)
def test_correct_versions_pass(impl):
    assert_passes("backprop", impl, seeds=(1, 2))


@pytest.mark.parametrize("name", MUTANTS)
def test_wrong_versions_fail_and_are_named(name):
    impl, mistake = MUTANTS[name]
    assert_fails("backprop", impl, mistake, seeds=(1,))


def test_the_reference_passes_its_own_targets():
    """The engine's backprop agrees with the central differences of the program, on every case of a few seeds."""
    exercise = exercises.BACKPROP
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
            case = exercise.make_case(rng, dims)
            verdicts = _judge_case(exercise, case, dict(case.reference), rng)
            assert all(v.passed for v in verdicts.values()), (case.label, verdicts)


def test_the_graphs_hold_the_awkward_structures():
    """x * x (a node twice in one op), a node with several uses, a deep chain, and a graph that is its root alone."""
    exercise = exercises.BACKPROP
    rng = np.random.default_rng(0)
    seen = collections.Counter()
    for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
        root = exercise.make_case(rng, dims).args[0]
        nodes = post_order(root)
        seen["twice in one op"] += any(len(set(map(id, n.parents))) < len(n.parents) for n in nodes)
        uses = collections.Counter(id(p) for n in nodes for p in n.parents)
        seen["shared"] += any(count > 1 for count in uses.values())
        seen["deep"] += len(nodes) > 30
        seen["root alone"] += len(nodes) == 1
        seen["two nodes of one value"] += len({n.value for n in nodes}) < len(nodes)
    assert all(seen[k] for k in ("twice in one op", "shared", "deep", "root alone", "two nodes of one value")), seen


@pytest.mark.parametrize("hidden, seed", [(False, None)] + [(True, s) for s in range(5)])
def test_every_check_holds_distinct_nodes_of_one_value(hidden, seed):
    """A visited set keyed by anything but the node itself merges them: every check must meet such a graph."""
    exercise = exercises.BACKPROP
    rng = np.random.default_rng(seed)
    dims = exercise.hidden_dims(rng) if hidden else list(exercise.visible_dims)
    roots = [exercise.make_case(rng, d).args[0] for d in dims]
    assert any(len({n.value for n in post_order(r)}) < len(post_order(r)) for r in roots)


def test_the_graph_copy_keeps_sharing_and_grads():
    x = Node(2.0)
    y = x * x + x
    y.grad = 3.0
    copy = _copy_graph(y)
    left, right = copy.parents
    assert left.parents[0] is left.parents[1] is right and right is not x
    assert copy.grad == 3.0 and copy.value == y.value and left.local_grads == (2.0, 2.0)


def test_the_suite_is_complete():
    named = [m for _, m in MUTANTS.values() if m != IN_PLACE]
    assert len(CORRECT) >= 3 and len(named) >= 6 and len(set(named)) == len(named)


@pytest.mark.slow
def test_many_seeds():
    soak("backprop", MUTANTS, CORRECT, seeds=range(100), exclusive=False)


def test_a_wrong_grad_is_located_at_a_node_not_at_an_index_of_the_wire():
    report = str(grade("backprop", assigns))
    # by where it is in the graph, with its value: two nodes may share a value
    assert re.search(r"at (input \d+|node \d+ of the graph, \S+|the constant \S+ \(node \d+\)) ?(\(= -?[\d.]+(e[-+]\d+)?\) )?yours is",
                     report), report
    assert not re.search(r"at \(\d+,\)", report), report
