"""Near-copies among a class's answers, found by comparing normalised code.

Renaming variables, reformatting, or rewriting comments and docstrings hides nothing: answers are
compared as the tokens of their syntax trees, re-written by ``ast.unparse``, with every name the answer
defines replaced by a placeholder (``v1``, ``v2``, ... in order of first appearance). What carries meaning
stays: attribute names (``.T``, ``.sum``), imported modules and library functions (``np.mean``),
builtins, keyword arguments of library calls, operators, numbers, strings and keywords.
Two answers are as alike as the share of their tokens that line up in order (a longest common subsequence).
"""
import ast
import io
import itertools
import re
import tokenize

import numpy as np

# Layout tokens of the canonical source: they keep the nesting, which is part of the algorithm.
_LAYOUT = {tokenize.NEWLINE: "<newline>", tokenize.INDENT: "<indent>", tokenize.DEDENT: "<dedent>"}
_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER}

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)
_PLACEHOLDER = re.compile(r"v[0-9]+")


def normalised_tokens(code: str) -> list[str]:
    """``code`` as tokens that are the same for answers differing only in names they define, layout,
    comments, docstrings, type annotations, ``pass`` and ``print(...)`` statements, and the order of
    consecutive top-level function and class definitions. Never raises: code that does not parse is
    compared by its raw tokens (comments dropped), or failing that its words."""
    try:
        tree = ast.parse(code)
        _Canonicalise(*_defined_names(tree)).visit(tree)
        return _numbered(_tokens_in_canonical_order(tree.body))
    except Exception:  # a learner's syntax error, or code too deeply nested for the parser
        pass
    try:
        return _tokens(code)
    except Exception:
        return code.split()


def similarity(a: list[str], b: list[str]) -> float:
    """How alike two normalised token sequences are, in [0, 1]: 2 * (longest common subsequence) / (both
    lengths), the share of their tokens that line up in order. Symmetric; 1.0 for equal sequences.
    Placeholders match by where their name was last used, not by number (see _by_last_use)."""
    return _alike(_by_last_use(a), _by_last_use(b))


def near_copies(answers: dict[str, str], reference: str | None = None, threshold: float = 0.9,
                min_tokens: int = 80, stub: str | None = None) -> list[tuple[str, str, float]]:
    """Pairs ``(learner, learner, similarity)`` and ``(learner, "reference", similarity)`` whose normalised
    code is at least ``threshold`` alike, most alike first. Left out: answers shorter than ``min_tokens``
    (short answers look alike because they are right, not because they were copied; 80 tokens is about
    the signature and seven lines: the canonical six-line gradient descent stays out), and answers that are still the ``stub`` the learners were given."""
    stub_tokens = normalised_tokens(stub) if stub is not None else None
    entries = list(answers.items()) + ([("reference", reference)] if reference is not None else [])
    names, sequences = [], []
    for name, code in entries:
        tokens = normalised_tokens(code)
        if len(tokens) >= max(min_tokens, 1) and tokens != stub_tokens:
            names.append(name)
            sequences.append(_by_last_use(tokens))

    # Two answers have no more tokens in common in order than in common at all. That bound, for all pairs
    # at once from each answer's token counts, rules out most pairs before the exact comparison.
    counts = _token_counts(sequences)
    lengths = counts.sum(axis=1)
    pairs = []
    for j, sequence in enumerate(sequences):
        bound = 2 * np.minimum(counts[:j], counts[j]).sum(axis=1) / (lengths[:j] + lengths[j])
        for i in np.flatnonzero(bound >= threshold):
            alike = _alike(sequences[i], sequence)
            if alike >= threshold:
                pairs.append((names[i], names[j], alike))
    return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))


def _by_last_use(tokens):
    """Each placeholder as how many placeholders back its name was last used (``v`` where it is new).
    Numbered placeholders would let one extra variable early on renumber, and so unmatch, every later
    name; this way it changes only the few uses around it."""
    last_use, encoded, uses = {}, [], 0
    for token in tokens:
        if _PLACEHOLDER.fullmatch(token):
            encoded.append(f"v-{uses - last_use[token]}" if token in last_use else "v")
            last_use[token] = uses
            uses += 1
        else:
            encoded.append(token)
    return encoded


def _alike(a, b):
    if a == b:
        return 1.0
    return 2 * _common_subsequence_length(a, b) / (len(a) + len(b))


def _common_subsequence_length(a, b):
    """Length of the longest common subsequence of a and b, bit-parallel (Hyyrö 2004, "Bit-parallel LCS-length
    computation revisited"): one step of big-integer arithmetic per token of a instead of a row of len(b) cells."""
    positions = {}  # token -> bit i set where b[i] is that token
    for i, token in enumerate(b):
        positions[token] = positions.get(token, 0) | 1 << i
    all_of_b = (1 << len(b)) - 1
    v = all_of_b  # its zero bits count the longest common subsequence of b and the tokens of a seen so far
    for token in a:
        matched = v & positions.get(token, 0)
        v = ((v + matched) | (v - matched)) & all_of_b
    return len(b) - v.bit_count()


def _token_counts(token_lists):
    """A row per token list: how often each token of all of them occurs in it."""
    vocabulary = {}
    ids = [[vocabulary.setdefault(token, len(vocabulary)) for token in tokens] for tokens in token_lists]
    counts = np.zeros((len(ids), len(vocabulary)), dtype=np.int32)
    for row, row_ids in enumerate(ids):
        counts[row] = np.bincount(row_ids, minlength=len(vocabulary))
    return counts


def _tokens_in_canonical_order(statements):
    """The tokens of each top-level statement, runs of function and class definitions sorted by their
    shape: the order they are defined in changes nothing they do."""
    tokens = []
    for are_definitions, run in itertools.groupby(statements, key=lambda node: isinstance(node, _DEFINITIONS)):
        pieces = [_tokens(ast.unparse(statement)) for statement in run]
        for piece in sorted(pieces, key=_by_last_use) if are_definitions else pieces:
            tokens += piece
    return tokens


def _numbered(tokens):
    """Placeholders renumbered ``v1``, ``v2``, ... in order of first appearance."""
    numbers = {}
    return [f"v{numbers.setdefault(token, len(numbers) + 1)}" if _PLACEHOLDER.fullmatch(token) else token
            for token in tokens]


def _tokens(source):
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _LAYOUT:
            tokens.append(_LAYOUT[token.type])
        elif token.type not in _DROPPED:
            tokens.append(token.string)
    return tokens


def _defined_names(tree):
    """Names the code binds itself (assigned, looped over, parameters, functions, classes), not imports;
    and the parameters among them (a keyword argument with such a name is renamed too)."""
    defined, parameters, imported = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            defined.add(node.id)
        elif isinstance(node, ast.arg):
            parameters.add(node.arg)
        elif isinstance(node, _DEFINITIONS):
            defined.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return (defined | parameters) - imported, parameters


class _Canonicalise(ast.NodeTransformer):
    """Renames the defined names to placeholders and drops what does not change what the code does."""

    def __init__(self, defined, parameters):
        self.defined, self.parameters, self.placeholders = defined, parameters, {}

    def _placeholder(self, name):
        if name not in self.defined:
            return name
        return self.placeholders.setdefault(name, f"v{len(self.placeholders) + 1}")

    def generic_visit(self, node):
        super().generic_visit(node)
        if getattr(node, "body", None) == [] and not isinstance(node, ast.Module):  # keep it valid Python
            node.body = [ast.Pass()]
        return node

    def visit_Name(self, node):
        node.id = self._placeholder(node.id)
        return node

    def visit_arg(self, node):
        node.arg, node.annotation = self._placeholder(node.arg), None
        return node

    def visit_keyword(self, node):
        if node.arg in self.parameters:
            node.arg = self._placeholder(node.arg)
        return self.generic_visit(node)

    def _visit_definition(self, node):
        node.name = self._placeholder(node.name)
        if isinstance(node, _FUNCTIONS):
            node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_definition

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self._placeholder(node.name)
        return self.generic_visit(node)

    def visit_Global(self, node):
        node.names = [self._placeholder(name) for name in node.names]
        return node

    visit_Nonlocal = visit_Global

    def visit_Expr(self, node):
        """Docstrings and other constants used as statements, and print calls, do nothing to the result."""
        value = node.value
        if isinstance(value, ast.Constant):
            return None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print" \
                and "print" not in self.defined:
            return None
        return self.generic_visit(node)

    def visit_Pass(self, node):
        return None

    def visit_AnnAssign(self, node):
        if node.value is None:  # a bare annotation binds nothing
            return None
        return self.generic_visit(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno))
