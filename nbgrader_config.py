"""nbgrader configuration for the CS231n two-layer-net kit.

Run every nbgrader command from the repository root (nbgrader reads this file from the
current directory only). The course root is this folder:

    solutions/<assignment>/   instructor source (nbgrader's "source" step)
    assignment/<assignment>/  generated student version (nbgrader's "release" step)
    submitted/, autograded/, feedback/, gradebook.db   course state, never committed

The kit plugs into stock nbgrader here, through its own extension points
(preprocessor lists, the kernel, exporter plug-ins); the commands stay the usual ones.
"""
c = get_config()  # noqa: F821  (provided by nbgrader/traitlets when this file is loaded)

# --- course layout ------------------------------------------------------------------
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignment"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "best_net.npz"]  # the instructor's trained net is never released

# --- release (generate_assignment) -- owned by the notebook work ---------------------

# --- autograde: sandboxed execution + sealed checks -- owned by the grading work -----

# --- feedback and export -- owned by the grading work -------------------------------
