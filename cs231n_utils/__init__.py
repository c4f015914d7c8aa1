"""CS231n two-layer-net kit: the helpers students use (the grader is the separate, instructor-only
``cs231n_grader`` package and never ships to students).

Modules (one job each; import the one you need):

- ``cs231n_utils.data``            CIFAR-10 download/verify/extract, loaders, ``get_cifar10_data``
                                   (CS231n's API; built on ``cifar10``, ``archive``, ``download``,
                                   ``cache`` and ``atomic``, one job each)
- ``cs231n_utils.gradient_check``  ``rel_error``, numeric gradients, ``eval_numerical_jacobian``,
                                   ``grad_check_sparse``
- ``cs231n_utils.vis``             ``visualize_grid``, ``plot_history``, ``plot_W1``,
                                   ``show_samples``
"""


def __getattr__(name):
    """``__version__``, looked up lazily: importing the package stays cheap (every sandboxed
    kernel imports it, and importlib.metadata costs ~0.1 s)."""
    if name != "__version__":
        raise AttributeError(f"module 'cs231n_utils' has no attribute {name!r}")
    from importlib import metadata

    for dist in ("cs231n-two-layer-net-kit", "cs231n-utils"):  # the kit, or the student wheel alone
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return "0+unknown"  # used from a source tree without `pip install -e .`
