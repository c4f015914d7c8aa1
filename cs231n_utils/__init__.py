"""CS231n two-layer-net kit: helpers for students and the instructor's autograder.

Modules (one job each; import the one you need):

- ``cs231n_utils.data``            CIFAR-10 download/verify/extract, loaders, ``get_cifar10_data``
- ``cs231n_utils.gradient_check``  ``rel_error``, numeric gradients, ``grad_check_sparse``
- ``cs231n_utils.vis``             ``visualize_grid``, ``plot_history``, ``plot_W1``, ``show_samples``
- ``cs231n_utils.grading``         the nbgrader plug-ins (instructor side)
"""
def __getattr__(name):
    """``__version__``, looked up lazily: importing the package stays cheap (every sandboxed
    kernel imports it, and importlib.metadata costs ~0.1 s)."""
    if name != "__version__":
        raise AttributeError(f"module 'cs231n_utils' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("cs231n-two-layer-net-kit")
    except metadata.PackageNotFoundError:  # used from a source tree without `pip install -e .`
        return "0+unknown"
