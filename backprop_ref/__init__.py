"""backprop_ref: a reference backpropagation in NumPy that runs unchanged on CuPy.

Every layer is a forward/backward pair: ``forward(...) -> (out, cache)`` beside
``backward(dout, cache) -> gradients``. Weight matrices carry the bias as their last row
(the weight from a constant-1 unit). See the README for the whole public API.
"""
from ._checks import ConvergenceError, NotFiniteError, ShapeError
from .activations import (
    ACTIVATIONS,
    get_activation,
    identity_backward,
    identity_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from . import data
from . import engine  # bp.engine.Node: the reverse-mode engine of lesson 10
from .backend import array_namespace, asarray, cupy_available, get_backend, to_host, use
from .bias import affine, affine_backward, bias_part, init_weights, join_bias, weights_part, with_ones
from .fixed_point import fixed_point_backward, fixed_point_forward, fixed_point_loss, init_fixed_point
from .gradcheck import assert_gradients_match, check_gradients, numerical_gradient, relative_error
from .jacobian import jacobian, mlp_jacobian
from .layers import dense_backward, dense_forward
from .losses import accuracy, mse_loss, sigmoid_binary_cross_entropy, softmax_cross_entropy
from .mlp import init_mlp, mlp_backward, mlp_forward, mlp_loss
from .optim import (
    SGD,
    Adam,
    Momentum,
    Nesterov,
    adam_step,
    clip_grad_norm,
    constant,
    cosine_decay,
    exponential_decay,
    momentum_step,
    nesterov_step,
    sgd_step,
    step_decay,
)
from .rnn import (
    init_rnn,
    rnn_backward,
    rnn_forward,
    rnn_loss,
    rnn_step_backward,
    rnn_step_forward,
    temporal_dense_backward,
    temporal_dense_forward,
)
from .train import History, minibatches, train

__version__ = "0.1.0"
