"""What passes the door between the grader and the sandbox: plain data, never code.

A message is a JSON object, sent as its length (8 bytes, big-endian) and its UTF-8 text. Values are
JSON's own (None, bool, int, float, str, list) or tagged objects:

    {"$array": [dtype, shape, base64]}   a NumPy array of booleans or numbers (no objects, no strings)
    {"$tuple": [...]}                    a tuple
    {"$dict": [[key, value], ...]}       a dict with str or int keys
    {"$callable": [handle, name]}        a function that stays on its own side; calls go back through the door
    {"$graph": [rows, root index]}       a graph of backprop_ref.engine.Node: one row per node, each node
                                         once, [value, grad, op, [parent indices], [local grads]]
    {"$object": [type name, repr]}       anything else, described and never rebuilt

Decoding builds only these (and engine Nodes), so whatever the learner's code sends, the grader gets numbers and text,
never an object whose methods could run in the grader.
"""
import base64
import json
import math
import os
import select
import struct
import time

import numpy as np

from ..engine import Node

MAX_MESSAGE = 256 * 2**20  # bytes: the largest message either side accepts
MAX_GRAPH = 100_000  # nodes in one $graph
_DTYPES = {np.dtype(t).str: np.dtype(t) for t in
           ("?", "i1", "<i2", "<i4", "<i8", "u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16")}
_HEADER = struct.Struct(">Q")


class WireError(Exception):
    """A message that is not what the door lets through: malformed, too big, or cut off."""


class ChannelClosed(WireError):
    """The other side closed its end (the sandbox's process ended)."""


# ---------------------------------------------------------------------------------------------
# Values.


def encode(value, export=None, depth=0):
    """``value`` as JSON-ready data; ``export(fn) -> handle`` names a callable for the other side
    (without it a callable is described as an $object)."""
    if depth > 64:
        return {"$object": ["nesting", "nested more than 64 levels deep"]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)) and _wire_dtype(value.dtype) is not None:
        array = np.asarray(value, dtype=_wire_dtype(value.dtype))  # tobytes() writes C order whatever the strides
        return {"$array": [array.dtype.str, list(array.shape), base64.b64encode(array.tobytes()).decode("ascii")]}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, export, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, export, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        return {"$dict": [[k, encode(v, export, depth + 1)] for k, v in value.items()]}
    if isinstance(value, Node):
        return _encode_graph(value)
    if callable(value) and export is not None:
        return {"$callable": [export(value), str(getattr(value, "__name__", "function"))[:100]]}
    return {"$object": [type(value).__name__[:100], _short_repr(value)]}


def _wire_dtype(dtype):
    """The little-endian form of a numeric or boolean dtype; None for anything else (objects, strings, records)."""
    little = dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype
    return little if little.str in _DTYPES else None


def _short_repr(value):
    try:
        return repr(value)[:200]
    except Exception:  # a repr that raises is the object's own business
        return "(no repr)"


def decode(data, remote=None):
    """The value that ``encode`` described; ``remote(handle, name)`` stands in for the other side's callables."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, remote) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError(f"not a value: {_short_repr(data)}")
    (tag, body), = data.items()
    if tag == "$array":
        return _decode_array(body)
    if tag == "$tuple" and isinstance(body, list):
        return tuple(decode(v, remote) for v in body)
    if tag == "$dict" and isinstance(body, list):
        pairs = []
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                raise WireError("a $dict holds [key, value] pairs with str or int keys")
            pairs.append((pair[0], decode(pair[1], remote)))
        return dict(pairs)
    if tag == "$callable" and _is_pair(body, int, str):
        if remote is None:
            raise WireError("a callable where none may be sent")
        return remote(*body)
    if tag == "$graph":
        return _decode_graph(body)
    if tag == "$object" and _is_pair(body, str, str):
        return Described(*body)
    raise WireError(f"unknown tag {tag[:40]!r}")


def _is_pair(body, first, second):
    return isinstance(body, list) and len(body) == 2 and isinstance(body[0], first) and isinstance(body[1], second)


def _decode_array(body):
    if not (isinstance(body, list) and len(body) == 3 and body[0] in _DTYPES and isinstance(body[1], list)
            and all(isinstance(n, int) and n >= 0 for n in body[1]) and isinstance(body[2], str)):
        raise WireError("an $array is [dtype, shape, base64] with a numeric dtype")
    dtype, shape = _DTYPES[body[0]], tuple(body[1])
    raw = base64.b64decode(body[2], validate=True)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError(f"an $array of shape {shape} and dtype {dtype} needs {math.prod(shape) * dtype.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def graph_nodes(root):
    """The nodes of root's graph, each once, root first, breadth-first by the order of each node's parents: the
    order of a $graph's rows, by which both sides match one graph's nodes with another's. Parents that are not
    Nodes are passed over (a row then has fewer parents than the graph it came from had)."""
    nodes, index = [root], {id(root): 0}
    for node in nodes:  # grows as it goes
        for parent in _parents(node):
            if id(parent) not in index:
                if len(nodes) >= MAX_GRAPH:
                    raise WireError(f"a graph of more than {MAX_GRAPH} nodes")
                index[id(parent)] = len(nodes)
                nodes.append(parent)
    return nodes


def _parents(node):
    parents = getattr(node, "parents", ())
    return [p for p in parents if isinstance(p, Node)] if isinstance(parents, (tuple, list)) else []


def _number(x):
    """A node's value, grad or local gradient as a float; None if it is not a number (the other side says so)."""
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)):
        return float(x)
    return None


def _encode_graph(root):
    nodes = graph_nodes(root)
    index = {id(n): i for i, n in enumerate(nodes)}
    rows = []
    for n in nodes:
        local = getattr(n, "local_grads", ())
        local = list(local) if isinstance(local, (tuple, list)) else []
        op = getattr(n, "op", "")
        rows.append([_number(getattr(n, "value", None)), _number(getattr(n, "grad", None)),
                     op[:40] if isinstance(op, str) else "", [index[id(p)] for p in _parents(n)],
                     [_number(g) for g in local]])
    return {"$graph": [rows, 0]}


def _decode_graph(body):
    """engine Nodes, nothing else: every field checked, parents only by index into the rows."""
    if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], list) and isinstance(body[1], int)
            and not isinstance(body[1], bool) and 0 <= body[1] < len(body[0]) <= MAX_GRAPH):
        raise WireError(f"a $graph is [rows, root index] with 1 to {MAX_GRAPH} rows and the root among them")
    rows = body[0]

    def number(x):
        return x is None or isinstance(x, (int, float)) and not isinstance(x, bool)

    def index(i):
        return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(rows)

    for row in rows:
        if not (isinstance(row, list) and len(row) == 5 and number(row[0]) and number(row[1])
                and isinstance(row[2], str) and isinstance(row[3], list) and all(map(index, row[3]))
                and isinstance(row[4], list) and all(map(number, row[4]))):
            raise WireError("a $graph row is [value, grad, op, [parent indices into the rows], [local grads]]")
    nodes = []
    for value, grad, op, _, _ in rows:
        node = Node(0.0, op=op[:40])
        node.value, node.grad = _float_or_none(value), _float_or_none(grad)
        nodes.append(node)
    for node, (_, _, _, parents, local) in zip(nodes, rows):  # after all are made: a row may name a later one
        node.parents = tuple(nodes[i] for i in parents)
        node.local_grads = tuple(map(_float_or_none, local))
    return nodes[body[1]]


def _float_or_none(x):
    return None if x is None else float(x)


class Described:
    """Something the other side returned that is not plain data: only its type's name and its repr."""

    def __init__(self, type_name, text):
        self.type_name, self.text = type_name, text

    def __repr__(self):
        return f"<{self.type_name}: {self.text}>"


# ---------------------------------------------------------------------------------------------
# Messages over a pair of pipes.


class Channel:
    """Length-prefixed JSON messages over two file descriptors; ``receive`` can wait with a deadline."""

    def __init__(self, read_fd, write_fd):
        self.read_fd, self.write_fd = read_fd, write_fd
        self._buffer = bytearray()

    def send(self, message):
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        if len(body) > MAX_MESSAGE:
            raise WireError(f"a message of {len(body)} bytes is over the limit of {MAX_MESSAGE}")
        data = memoryview(_HEADER.pack(len(body)) + body)
        while data:
            try:
                written = os.write(self.write_fd, data)
            except (BrokenPipeError, OSError) as e:
                raise ChannelClosed(str(e)) from None
            data = data[written:]

    def receive(self, deadline=None):
        """The next message (a dict); TimeoutError if it has not come by ``deadline`` (time.monotonic())."""
        size = _HEADER.unpack(self._read(_HEADER.size, deadline))[0]
        if size > MAX_MESSAGE:
            raise WireError(f"a message of {size} bytes is over the limit of {MAX_MESSAGE}")
        try:
            message = json.loads(self._read(size, deadline))
        except (UnicodeDecodeError, ValueError) as e:
            raise WireError(f"a message that is not JSON: {e}") from None
        if not isinstance(message, dict):
            raise WireError("a message must be a JSON object")
        return message

    def _read(self, n, deadline):
        while len(self._buffer) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                    raise TimeoutError()
            chunk = os.read(self.read_fd, max(n - len(self._buffer), 1 << 16))
            if not chunk:
                raise ChannelClosed("the other side closed the channel")
            self._buffer += chunk
        data, self._buffer = bytes(self._buffer[:n]), self._buffer[n:]
        return data
