"""CS231n two-layer-net kit: helpers for students and the instructor's autograder.

Modules (one job each; import the one you need):

- ``cs231n_utils.data``            CIFAR-10 download/verify/extract, loaders, ``get_cifar10_data``
- ``cs231n_utils.gradient_check``  ``rel_error``, numeric gradients, ``grad_check_sparse``
- ``cs231n_utils.vis``             ``visualize_grid``, ``plot_history``, ``plot_W1``, ``show_samples``
- ``cs231n_utils.grading``         the nbgrader plug-ins (instructor side)
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("cs231n-two-layer-net-kit")
except _metadata.PackageNotFoundError:  # used from a source tree without `pip install -e .`
    __version__ = "0+unknown"
