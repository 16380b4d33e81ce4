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
