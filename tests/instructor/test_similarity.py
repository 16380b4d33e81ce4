"""Near-copy detection: disguises (names, comments, docstrings, layout) do not hide a copy, different
algorithms and short or untouched answers are not flagged, and nothing a learner writes makes it raise."""
import random
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backprop_ref as bp
from backprop_ref.instructor.similarity import near_copies, normalised_tokens, similarity


def code(source):
    return textwrap.dedent(source).strip() + "\n"


# MLP backward pass (exercise 05): the reference, the stub learners get, and answers written like learners write
STUB = code('''
    def mlp_backward(x, weights, dout):
        """The backward pass of a whole network: tanh on every hidden layer, identity on the output layer."""
        # YOUR CODE HERE
        raise NotImplementedError()
''')

REFERENCE = code('''
    def mlp_backward(x, weights, dout):
        """The backward pass of a whole network: tanh on every hidden layer, identity on the output layer."""
        L = len(weights)
        inputs, outputs = [], []  # the cache: each layer's input and output
        a = x
        for l, W in enumerate(weights):
            inputs.append(a)
            z = bp.affine(a, W)
            a = np.tanh(z) if l < L - 1 else z
            outputs.append(a)

        grads = [None] * L
        da = dout
        for l in reversed(range(L)):
            dz = da * (1 - outputs[l] ** 2) if l < L - 1 else da
            grads[l] = np.vstack([inputs[l].T @ dz, dz.sum(axis=0, keepdims=True)])
            da = dz @ weights[l][:-1].T
        return da, grads
''')

# Vectorised, [a, 1] built with ones, caches as (input with ones, output) pairs, grads reversed at the end.
ADA = code('''
    def mlp_backward(x, weights, dout):
        """The backward pass of a whole network: tanh on every hidden layer, identity on the output layer."""
        # forward pass, keeping what the backward pass needs
        caches = []
        a = x
        for i, W in enumerate(weights):
            a1 = np.hstack([a, np.ones((a.shape[0], 1))])
            z = a1 @ W
            last = i == len(weights) - 1
            a = z if last else np.tanh(z)
            caches.append((a1, a))
        # backward pass, last layer first
        grads = []
        da = dout
        for i in range(len(weights) - 1, -1, -1):
            a1, a = caches[i]
            dz = da if i == len(weights) - 1 else da * (1 - a**2)
            grads.append(a1.T @ dz)  # dW = [a, 1].T @ dz
            da = dz @ weights[i][:-1].T
        grads.reverse()
        return da, grads
''')

# ADA's answer disguised: every name changed, other comments and docstring, another layout, a line of its own.
BOB = code("""
    def mlp_backward(x, weights, dout):
        '''Backprop through the MLP.

        Returns (dx, list of dW).
        '''
        n = x.shape[0]
        memory = []
        h = x
        for layer, w in enumerate(weights):   # go forwards
            h_ext = np.hstack([h,
                               np.ones((h.shape[0], 1))])
            pre = (h_ext @ w)
            is_output = (layer == len(weights) - 1)
            h = pre if is_output else np.tanh(pre)
            memory.append((h_ext, h))

        dWs = []
        grad_h = dout
        # and backwards
        for layer in range(len(weights) - 1, -1, -1):
            (h_ext, h) = memory[layer]
            delta = grad_h if layer == len(weights) - 1 else grad_h * (1 - h ** 2)
            dWs.append(h_ext.T @ delta)
            grad_h = delta @ weights[layer][:-1].T
        dWs.reverse()
        return grad_h, dWs
""")

# Independent: bias added apart from the weights, pre-activations cached, tanh' from them, dW filled in two parts.
CY = code('''
    def mlp_backward(x, weights, dout):
        n_layers = len(weights)
        activations = [x]
        pre = []
        for l in range(n_layers):
            W = weights[l]
            z = activations[-1] @ W[:-1] + W[-1]
            pre.append(z)
            if l < n_layers - 1:
                activations.append(np.tanh(z))
            else:
                activations.append(z)
        grads = [None] * n_layers
        delta = dout
        for l in reversed(range(n_layers)):
            if l < n_layers - 1:
                delta = delta * (1 - np.tanh(pre[l]) ** 2)
            dW = np.zeros_like(weights[l])
            dW[:-1] = activations[l].T @ delta
            dW[-1] = delta.sum(axis=0)
            grads[l] = dW
            delta = delta @ weights[l][:-1].T
        return delta, grads
''')

# Independent: a loop over the samples, sums of outer products.
DEE = code('''
    def mlp_backward(x, weights, dout):
        L = len(weights)
        hs = [x]
        for k, W in enumerate(weights):
            ones = np.ones((hs[-1].shape[0], 1))
            out = np.concatenate([hs[-1], ones], axis=1) @ W
            hs.append(out if k == L - 1 else np.tanh(out))
        grads = [np.zeros_like(W) for W in weights]
        g = dout
        for k in range(L - 1, -1, -1):
            if k != L - 1:
                g = g * (1 - hs[k + 1] ** 2)
            for n in range(g.shape[0]):
                grads[k][:-1] += np.outer(hs[k][n], g[n])
                grads[k][-1] += g[n]
            g = g @ weights[k][:-1].T
        return g, grads
''')

# The reference disguised.
EVE = code('''
    def mlp_backward(x, weights, dout):
        depth = len(weights)
        ins = []; outs = []
        act = x
        for k, Wk in enumerate(weights):
            ins.append(act)
            s = bp.affine(act, Wk)
            act = (np.tanh(s) if k < depth - 1 else s)
            outs.append(act)
        g = [None] * depth
        d = dout
        for k in reversed(range(depth)):
            ds = d * (1 - outs[k] ** 2) if k < depth - 1 else d
            g[k] = np.vstack([ins[k].T @ ds,
                              ds.sum(axis=0, keepdims=True)])
            d = ds @ weights[k][:-1].T
        return d, g
''')


def run_answer(source, x, weights, dout):
    namespace = {"np": np, "bp": bp}
    exec(source, namespace)
    return namespace["mlp_backward"](x, weights, dout)


@pytest.mark.parametrize("answer", [ADA, BOB, CY, DEE, EVE])
def test_the_learner_answers_are_right(answer):
    """The answers below are right: not flagging the independent ones is not a matter of mistakes."""
    rng = np.random.default_rng(5)
    x, weights, dout = rng.normal(size=(6, 3)), bp.init_mlp([3, 5, 4, 2], rng), rng.normal(size=(6, 2))
    dx, grads = run_answer(answer, x, weights, dout)
    want_dx, want_grads = run_answer(REFERENCE, x, weights, dout)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def tokens_alike(a, b):
    return similarity(normalised_tokens(a), normalised_tokens(b))


# ---------------------------------------------------------------------------------------------
# Normalisation: disguises change nothing, what carries meaning stays


def test_renaming_comments_docstrings_and_layout_change_nothing():
    disguised = BOB.replace("    n = x.shape[0]\n", "")  # BOB less its one line of its own
    assert disguised != BOB
    assert normalised_tokens(disguised) == normalised_tokens(ADA)
    assert tokens_alike(disguised, ADA) == 1.0


def test_every_kind_of_disguise_is_undone():
    original = code('''
        import numpy as np

        def fit(data, targets, rate=0.1, steps=100):
            """Gradient descent on the mean squared error."""
            w = np.zeros(data.shape[1])
            history = []
            for step in range(steps):
                # residuals, then the gradient
                r = data @ w - targets
                w = w - rate * data.T @ r / len(targets)
                history.append(float(r @ r))
            try:
                best = min(history)
            except ValueError as error:
                raise RuntimeError("no steps") from error
            scale = lambda v: v / best
            return w, [scale(h) for h in history], fit(data, targets, rate=rate, steps=0)
    ''')
    disguised = code("""
        import numpy as np
        def train(X: np.ndarray, y: np.ndarray, lr: float = 0.1, n_iter: int = 100) -> tuple:
            '''My own training loop.'''
            weights: np.ndarray = np.zeros(X.shape[1]); losses = []
            for it in range(n_iter):
                print(it)
                err = (X @ weights) - y  # error
                weights = (weights
                           - lr * X.T @ err / len(y))
                losses.append(float(err @ err))
                pass
            try:
                lowest = min(losses)
            except ValueError as e:
                raise RuntimeError('no steps') from e
            norm = lambda u: (u / lowest)
            return (weights, [norm(l) for l in losses], train(X, y, lr=lr, n_iter=0))
    """)
    assert normalised_tokens(disguised) == normalised_tokens(original)


def test_defined_names_become_placeholders_in_order_of_first_appearance():
    tokens = normalised_tokens("def f(x, weights):\n    total = x.sum()\n    return total * len(weights)\n")
    assert tokens[:8] == ["def", "v1", "(", "v2", ",", "v3", ")", ":"]
    assert not {"f", "x", "weights", "total"} & set(tokens)
    assert {"sum", "len", "return"} <= set(tokens)


@pytest.mark.parametrize("one, other", [
    ("x.sum(axis=0)", "x.mean(axis=0)"),                 # attributes
    ("np.tanh(z)", "np.sinh(z)"),                       # library functions
    ("np.sum(x, axis=0)", "np.sum(x, axis=1)"),          # numbers
    ("z.sum(axis=0, keepdims=True)", "z.sum(axis=0)"),  # keyword arguments of library calls
    ("len(x)", "abs(x)"),                               # builtins
    ("tanh(x)", "relu(x)"),                             # names the answer uses but does not define
    ("bp.affine(x, z)", "bp.dense(x, z)"),
    ("x - z", "z - x"),                                 # which defined name goes where
    ("x.T @ z", "x @ z.T"),
    ("x ** 2", "x * 2"),                                # operators
    ("'nd,nm->dm'", "'nd,md->nm'"),                     # strings
])
def test_what_carries_meaning_is_kept(one, other):
    def answer(expression):
        return f"import numpy as np\n\ndef f(x, z):\n    # a comment\n    return {expression}\n"

    assert normalised_tokens(answer(one)) != normalised_tokens(answer(other))
    assert tokens_alike(answer(one), answer(other)) < 1.0


def test_nesting_is_kept():
    inside = "def f(xs):\n    total = count = 0\n    for x in xs:\n        total += x\n        count += 1\n    return total / count\n"
    outside = inside.replace("        count += 1\n", "    count += 1\n")
    assert normalised_tokens(inside) != normalised_tokens(outside)


def test_module_names_are_kept():
    tokens = normalised_tokens("import numpy as np\nfrom backprop_ref import affine\ny = np.ones(3) + affine(1, 2)\n")
    assert {"numpy", "np", "affine", "ones"} <= set(tokens)
    assert normalised_tokens("import numpy as np\ny = np.ones(3)\n") != normalised_tokens("import cupy as np\ny = np.ones(3)\n")


def test_a_different_algorithm_is_not_alike():
    vectorised = code('''
        def dense_backward(dout, cache):
            x, W = cache
            dx = dout @ W[:-1].T
            dW = np.vstack([x.T @ dout, dout.sum(axis=0, keepdims=True)])
            return dx, dW
    ''')
    loops = code('''
        def dense_backward(dout, cache):
            x, W = cache
            dx, dW = np.zeros_like(x), np.zeros_like(W)
            for n in range(x.shape[0]):
                dW[:-1] += np.outer(x[n], dout[n])
                dW[-1] += dout[n]
                dx[n] = W[:-1] @ dout[n]
            return dx, dW
    ''')
    assert tokens_alike(vectorised, loops) < 0.9
    assert tokens_alike(CY, DEE) < 0.9  # cached pre-activations vs a loop over the samples


def test_an_extra_variable_or_reordered_functions_do_not_hide_a_copy():
    """Numbered placeholders would renumber every later name; they are matched by their last use instead."""
    assert tokens_alike(ADA, BOB) >= 0.95
    helpers = [code('''
        def relu(x):
            return np.maximum(x, 0)
    '''), code('''
        def loss(pred, target):
            diff = pred - target
            return 0.5 * np.mean(np.sum(diff ** 2, axis=1))
    '''), DEE]
    assert tokens_alike("\n".join(helpers), "\n".join(helpers[::-1])) >= 0.9


@pytest.mark.parametrize("broken", [
    "def f(x:\n    return x\n",
    "def f(x)  # the colon is missing\n    return x.sum()\n",
    'x = """never closed\n',
    "    return x\n  y = 1\n",
    "for i in range(3):\nprint(i)\n",
    "a\x00b",
    "(" * 1000,
    "x = " + "+".join(["1"] * 50000),
    "",
    "%matplotlib inline\nimport numpy as np\n",
])
def test_code_that_does_not_parse_never_raises(broken):
    tokens = normalised_tokens(broken)
    assert isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)
    assert similarity(tokens, tokens) == 1.0


def test_code_that_does_not_parse_is_compared_by_its_tokens_without_comments():
    tokens = normalised_tokens("def f(x)  # the colon is missing\n    return x.sum()\n")
    assert tokens[:5] == ["def", "f", "(", "x", ")"]
    assert "sum" in tokens and not any("#" in t or "missing" in t for t in tokens)


# ---------------------------------------------------------------------------------------------
# similarity


def lcs_length(a, b):
    previous = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
        previous = row
    return previous[-1]


plain = st.lists(st.sampled_from(["a", "b", "c", "(", ")", "<newline>"]), max_size=40)


@given(plain, plain)
def test_similarity_is_the_share_of_tokens_in_common_in_order(a, b):
    expected = 1.0 if a == b else 2 * lcs_length(a, b) / (len(a) + len(b))
    assert similarity(a, b) == pytest.approx(expected)
    assert similarity(b, a) == similarity(a, b)
    assert 0.0 <= similarity(a, b) <= 1.0


@given(st.lists(st.sampled_from(["v1", "v2", "v3", "v4", "+", "="]), min_size=1, max_size=40), st.permutations([1, 2, 3, 4]))
def test_similarity_does_not_care_how_placeholders_are_numbered(tokens, permutation):
    renamed = [f"v{permutation[int(t[1]) - 1]}" if t.startswith("v") else t for t in tokens]
    assert similarity(tokens, renamed) == 1.0


def test_similarity_values():
    assert similarity(list("abc"), list("abd")) == pytest.approx(2 / 3)
    assert similarity(list("aba"), list("bca")) == pytest.approx(2 / 3)  # "ba": a longest-block match (difflib) finds one
    assert similarity([], []) == 1.0
    assert similarity(["a"], []) == 0.0


# ---------------------------------------------------------------------------------------------
# near_copies


def test_near_copies_flags_a_copied_pair_and_a_copy_of_the_reference_most_alike_first():
    answers = {"ada": ADA, "bob": BOB, "cy": CY, "eve": EVE, "fay": CY.replace("delta", "g")}
    found = near_copies(answers, reference=REFERENCE, stub=STUB)
    assert [(a, b) for a, b, _ in found] == [("cy", "fay"), ("eve", "reference"), ("ada", "bob")]
    assert [alike for *_, alike in found] == sorted((alike for *_, alike in found), reverse=True)
    assert found[0][2] == 1.0
    for a, b, alike in found:
        source = {**answers, "reference": REFERENCE}
        assert alike == pytest.approx(tokens_alike(source[a], source[b]))
    assert ("eve", "reference") not in [(a, b) for a, b, _ in near_copies(answers, stub=STUB)]


def test_short_answers_are_never_flagged():
    nesterov = code('''
        def nesterov_step(w, dw, v, lr, mu):
            v = mu * v + dw
            return w - lr * (dw + mu * v), v
    ''')
    same = nesterov.replace("v", "velocity").replace("velocity = mu", "velocity = (mu")
    same = same.replace("+ dw\n", "+ dw)\n")
    answers = {"ada": nesterov, "bob": same, "cy": nesterov}
    assert near_copies(answers, reference=nesterov) == []
    assert len(near_copies(answers, reference=nesterov, min_tokens=0)) == 6  # what keeps them out


def test_untouched_stubs_are_never_flagged():
    stub = code('''
        def mlp_backward(x, weights, dout):
            """Forward pass given; write the backward pass."""
            L = len(weights)
            inputs, outputs = [], []
            a = x
            for l, W in enumerate(weights):
                inputs.append(a)
                z = bp.affine(a, W)
                a = np.tanh(z) if l < L - 1 else z
                outputs.append(a)
            # YOUR CODE HERE
            raise NotImplementedError()
    ''')
    untouched = stub.replace("# YOUR CODE HERE", "# todo").replace("[], []", "([], [])")
    answers = {"ada": stub, "bob": untouched, "cy": ADA}
    assert near_copies(answers, stub=stub) == []
    assert [(a, b) for a, b, _ in near_copies(answers)] == [("ada", "bob")]  # long enough, so only the stub rule keeps them out


def test_answers_with_syntax_errors_are_compared_too():
    broken = ADA.replace("for i, W in enumerate(weights):", "for i, W in enumerate(weights)")
    answers = {"ada": broken, "bob": broken.replace("# forward", "# Forward"), "cy": CY, "dee": "def (", "eve": ""}
    assert [(a, b) for a, b, _ in near_copies(answers, reference=REFERENCE, stub=STUB)] == [("ada", "bob")]


def test_no_answers_no_pairs():
    assert near_copies({}) == []
    assert near_copies({}, reference=REFERENCE) == []
    assert near_copies({"ada": ADA}) == []


def test_the_prefilter_misses_nothing():
    """Against every pair compared in full: the cheap bound must never rule out a pair that is alike enough."""
    rng = random.Random(3)
    answers = {}
    for k in range(40):
        lines = rng.choice([ADA, BOB, CY, DEE, EVE, REFERENCE]).splitlines()
        for _ in range(rng.randrange(4)):  # delete, duplicate or swap a line: some no longer parse
            i = rng.randrange(1, len(lines))
            j = rng.randrange(1, len(lines))
            lines[i], lines[j] = rng.choice([(lines[j], lines[i]), (lines[i], lines[i]), ("", lines[j])])
        answers[f"s{k:02d}"] = "\n".join(lines)
    tokens = {name: normalised_tokens(answer) for name, answer in answers.items()}
    names = list(answers)
    every_pair = [(a, b, similarity(tokens[a], tokens[b])) for i, b in enumerate(names) for a in names[:i]]
    for threshold in (0.6, 0.8, 0.9):
        expected = sorted((pair for pair in every_pair if pair[2] >= threshold), key=lambda p: (-p[2], p[0], p[1]))
        assert near_copies(answers, threshold=threshold) == expected
        assert len(expected) > 0


# ---------------------------------------------------------------------------------------------
# A class of MLP backward passes


def test_in_a_class_only_the_copy_is_flagged():
    answers = {"ada": ADA, "bob": BOB, "cy": CY, "dee": DEE}
    found = near_copies(answers, reference=REFERENCE, stub=STUB)
    assert [(a, b) for a, b, _ in found] == [("ada", "bob")]
    assert 0.9 <= found[0][2] < 1.0  # BOB added a line of its own


def test_in_a_class_a_disguised_copy_of_the_reference_is_flagged():
    answers = {"ada": ADA, "cy": CY, "dee": DEE, "eve": EVE, "stub": STUB}
    assert [(a, b) for a, b, _ in near_copies(answers, reference=REFERENCE, stub=STUB)] == [("eve", "reference")]
