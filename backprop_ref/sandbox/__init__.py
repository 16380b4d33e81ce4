"""The untrusted room: where a learner's notebook runs when it is graded, and the door to it.

- ``bubblewrap``: the grader's side. ``Sandbox`` starts a bubblewrap sandbox, runs cells in it and calls
  the learner's functions there (``RemoteFunction``); only plain data comes back.
- ``inside``: the program in the sandbox (an IPython shell and a loop that answers the grader).
- ``wire``: the door's format: JSON messages with arrays, never pickles or code.
- ``edition``: the learner edition of backprop_ref, the only copy the sandbox can read (no answer keys).
"""
