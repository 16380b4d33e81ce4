"""The door's format: plain data crosses it, nothing else is rebuilt, and bad messages are refused."""
import json
import os
import time

import numpy as np
import pytest

from backprop_ref.sandbox.wire import MAX_MESSAGE, Channel, ChannelClosed, Described, WireError, decode, encode


def through(value, export=None, remote=None):
    return decode(json.loads(json.dumps(encode(value, export))), remote)


def test_arrays_and_containers_come_back_equal():
    value = (np.arange(6.0).reshape(2, 3).T, [1, 2.5, None, "text", True], {"k": np.int64(3), 7: np.float32(2)},
             np.arange(3, dtype=">i4"), np.zeros((0, 4)), np.array(True), np.arange(4, dtype=np.uint8))
    back = through(value)
    assert isinstance(back, tuple) and isinstance(back[1], list) and isinstance(back[2], dict)
    np.testing.assert_array_equal(back[0], value[0])
    assert back[0].flags.writeable and back[0].flags.c_contiguous
    assert back[1] == value[1]
    assert back[2]["k"].shape == () and int(back[2]["k"]) == 3 and back[2][7].dtype == np.float32
    assert back[3].dtype == np.dtype("<i4") and back[3].tolist() == [0, 1, 2]
    assert back[4].shape == (0, 4) and back[5].dtype == bool and back[6].dtype == np.uint8


def test_what_is_not_plain_data_is_described_not_rebuilt():
    class Evil:
        def __repr__(self):
            return "evil"

    for value, name in ((np.array(["a"]), "ndarray"), (np.array([object()]), "ndarray"), (Evil(), "Evil"),
                        ({1.5: 2}, "dict"), (b"bytes", "bytes")):
        back = through(value)
        assert isinstance(back, Described) and back.type_name == name


def test_callables_cross_only_as_handles():
    names = []
    data = encode([len, max], export=lambda fn: names.append(fn) or len(names))
    assert data == [{"$callable": [1, "len"]}, {"$callable": [2, "max"]}]
    assert decode(data, remote=lambda handle, name: (handle, name)) == [(1, "len"), (2, "max")]
    with pytest.raises(WireError, match="callable"):
        decode(data)
    assert isinstance(through(len), Described)  # no export: a callable is only described


@pytest.mark.parametrize("data", [
    {"$array": ["|O", [1], "AA=="]},  # object dtype
    {"$array": ["<f8", [2], "AAAAAAAAAAA="]},  # 8 bytes for 2 float64
    {"$array": ["<f8", [-1], ""]},
    {"$array": ["<f8", [1], "not base64!"]},
    {"$tuple": "x"},
    {"$dict": [[1.5, 2]]},
    {"$pickle": "gASV"},
    {"a": 1, "b": 2},
    {"$object": [1, 2]},
])
def test_malformed_values_are_refused(data):
    with pytest.raises((WireError, ValueError)):
        decode(data)


def test_a_channel_carries_messages_and_honours_deadlines():
    r1, w1 = os.pipe()
    sender, receiver = Channel(None, w1), Channel(r1, None)
    sender.send({"id": 1, "value": encode(np.ones(3))})
    message = receiver.receive()
    assert message["id"] == 1 and decode(message["value"]).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TimeoutError):
        receiver.receive(deadline=time.monotonic() + 0.05)
    os.write(w1, (5).to_bytes(8, "big") + b"[1,2]")
    with pytest.raises(WireError, match="JSON object"):
        receiver.receive(deadline=time.monotonic() + 5)
    os.write(w1, (MAX_MESSAGE + 1).to_bytes(8, "big"))
    with pytest.raises(WireError, match="over the limit"):
        receiver.receive(deadline=time.monotonic() + 5)
    os.close(w1)
    with pytest.raises(ChannelClosed):
        Channel(r1, None).receive(deadline=time.monotonic() + 5)
    os.close(r1)


# engine graphs (lesson 10): data only, sharing kept, grads carried back -----------------------------
from backprop_ref.engine import Node  # noqa: E402
from backprop_ref.grading import grade  # noqa: E402
from backprop_ref.grading.core import learner_code_elsewhere  # noqa: E402
from backprop_ref.sandbox.bubblewrap import _copy_back  # noqa: E402
from backprop_ref.sandbox.wire import graph_nodes  # noqa: E402


def _diamond():
    x, y = Node(1.5), Node(-2.0)
    a = x * x  # x twice in one op
    return ((a + y).tanh() * a) / 3.0, x, y


def test_a_graph_comes_back_as_nodes_with_sharing_kept():
    root, x, y = _diamond()
    root.grad, x.grad = 1.0, 0.25
    back = through(root)
    mine, theirs = graph_nodes(root), graph_nodes(back)
    assert len(theirs) == len(mine) == 8 and all(type(n) is Node for n in theirs)
    for a, b in zip(mine, theirs):
        assert (a.value, a.grad, a.op, a.local_grads) == (b.value, b.grad, b.op, b.local_grads)
        assert [mine.index(p) for p in a.parents] == [theirs.index(p) for p in b.parents]
    square = back.parents[0].parents[1]  # a = x * x, used by tanh's sum and by the product
    assert square.parents[0] is square.parents[1] and back.parents[0].parents[0].parents[0].parents[0] is square


def test_a_graph_inside_containers_and_a_deep_chain_cross():
    node = Node(0.5)
    for _ in range(5000):  # far deeper than any recursion could go
        node = node.tanh()
    back = through((node, [node]))  # each $graph is its own (as each $array is): two equal graphs
    assert len(graph_nodes(back[0])) == len(graph_nodes(back[1][0])) == 5001 and back[1][0].value == node.value


def test_grads_set_on_the_other_side_are_copied_back_into_the_graph_sent():
    root, x, y = _diamond()
    other = through(root)
    for n in graph_nodes(other):
        n.grad = 2.0
    _copy_back([root], [through(other)])
    assert x.grad == y.grad == root.grad == 2.0
    cut = through(root)
    cut.parents = cut.parents[:1]  # the learner cut the graph: nothing can be matched
    cut.local_grads = cut.local_grads[:1]
    _copy_back([root], [through(cut)])
    assert all(np.isnan(n.value) and np.isnan(n.grad) for n in graph_nodes(root))


@pytest.mark.parametrize("body", [
    [[], 0],  # no rows
    [[[1.0, 0.0, "", [], []]], 1],  # root out of range
    [[[1.0, 0.0, "", [1], [1.0]]], 0],  # a parent index out of range
    [[[1.0, 0.0, "", [-1], [1.0]]], 0],
    [[[1.0, 0.0, "", [True], [1.0]]], 0],
    [[["1", 0.0, "", [], []]], 0],  # a value that is not a number
    [[[1.0, 0.0, 3, [], []]], 0],  # an op that is not text
    [[[1.0, 0.0, "", [], ["x"]]], 0],
    [[[1.0, 0.0, ""]], 0],  # a short row
    [[{"$object": ["Evil", "x"]}], 0],
    [[[{"$array": ["<f8", [], "AAAAAAAA8D8="]}, 0.0, "", [], []]], 0],  # no tagged values inside a row
    "rows",
])
def test_malformed_graphs_are_refused(body):
    with pytest.raises(WireError):
        decode({"$graph": body})


def test_decoding_builds_nodes_and_nothing_else():
    rows = [[1.0, None, "+", [1, 1], [1.0, 1.0]], [2.0, 0.0, "", [], []]]
    root = decode({"$graph": [rows, 0]})
    assert type(root) is Node and root.grad is None and root.parents[0] is root.parents[1]
    assert set(vars(root)) == {"value", "grad", "parents", "local_grads", "op"}
    cyclic = decode({"$graph": [[[1.0, 0.0, "", [1], [1.0]], [1.0, 0.0, "", [0], [1.0]]], 0]})
    assert len(graph_nodes(cyclic)) == 2  # a cycle is only data: every walk over it keeps a visited set


def test_the_backprop_exercise_grades_the_same_in_the_sandbox(sandbox, cell):
    """backprop(root) sets grads in place: through the door, the grader's graph gets them back, and the verdict
    (and its words) are the ones of the same function run in the grader's process (one sandbox for them all)."""
    source = '''
def order(root):
    out, seen = [], set()
    def visit(n):
        if id(n) not in seen:
            seen.add(id(n))
            for p in n.parents:
                visit(p)
            out.append(n)
    visit(root)
    return out

def right(root, assign=False, zero=True):
    nodes = order(root)
    for n in nodes:
        n.grad = 0.0 if zero else n.grad
    root.grad = 1.0
    for n in reversed(nodes):
        for p, g in zip(n.parents, n.local_grads):
            p.grad = n.grad * g if assign else p.grad + n.grad * g

def assigns(root):
    right(root, assign=True)

def stale(root):
    right(root, zero=False)

def cuts(root):
    right(root)
    root.parents = ()

def moves_a_value(root):
    right(root)
    order(root)[0].value += 1.0

def no_number(root):
    right(root)
    order(root)[0].grad = "one"
'''
    cell(source)
    namespace = {}
    exec(source, namespace)
    for name in ("right", "assigns", "stale", "cuts", "moves_a_value", "no_number"):
        for hidden, seed in ((False, None), (True, 5)):
            with learner_code_elsewhere():
                there = grade("backprop", sandbox.lookup(name), hidden=hidden, seed=seed)
            here = grade("backprop", namespace[name], hidden=hidden, seed=seed)
            assert here.score == there.score and str(here) == str(there), f"{name}:\n{here}\n---\n{there}"
            assert here.passed == (name == "right"), f"{name}:\n{here}"
