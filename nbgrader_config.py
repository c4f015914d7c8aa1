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
# Each section below imports what it configures where it stands (hence the E402 exemptions): a
# section reads, and can be copied or dropped, on its own.

# --- course layout ------------------------------------------------------------------
import os  # noqa: E402
import sys  # noqa: E402

# An absolute root (nbgrader warns "root '.' is not absolute" otherwise): the folder nbgrader runs
# in, as with "." -- not this file's folder, so a scratch course that load_subconfig()s this file
# (the student bundle, the parallel grader's tasks, tests) stays the course.
c.CourseDirectory.root = os.getcwd()
# nbgrader runs `alembic` from PATH when it opens a gradebook: find it beside this interpreter,
# so `.venv/bin/nbgrader ...` works without activating the venv.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignment"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "best_net.npz",
]  # the instructor's trained net is never released

# --- release (generate_assignment) -----------------------------------------------------
from cs231n_grader.release import release_preprocessors  # noqa: E402

# nbgrader's stock list with ClearSolutions replaced by ClearSolutionsNamingTodos: every stub in the
# student version raises NotImplementedError("<function>: implement the TODO above this line").
c.GenerateAssignment.preprocessors = release_preprocessors()
# Solution and hidden-test delimiters are nbgrader's own traits: set them once
# (e.g. c.ClearSolutions.begin_solution_delimeter, c.ClearHiddenTests.begin_test_delimeter) and
# the release, StripHiddenTests at autograde and the feedback plug-ins all follow
# (cs231n_grader.regions).
# ... first a check that warns when points changed after grading (cs231n_grader.course)
from cs231n_grader.course import WarnPointsChanged  # noqa: E402

c.GenerateAssignment.preprocessors.insert(0, WarnPointsChanged)

# --- autograde: sandboxed execution + sealed checks ------------------------------------
# Sealed checks: hidden test blocks are stripped after OverwriteCells restores
# the test cells, so they never reach the student's kernel, the autograded notebook or the feedback;
# after execution SealedChecks calls the student's functions on secret inputs in a fresh sandbox and
# SaveSealedGrades stores those verdicts (never the kernel's output) as the autograded scores.
# CopySubmittedFiles brings best_net.npz along (CourseDirectory.ignore keeps it out of releases).
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    ClearOutput,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
)

from cs231n_grader.cellmeta import SafeCellMetadata  # noqa: E402
from cs231n_grader.execute import SandboxedExecute  # noqa: E402
from cs231n_grader.intake import Intake, SubmissionNotes  # noqa: E402
from cs231n_grader.preprocessors import (  # noqa: E402
    CopySubmittedFiles,
    OverwriteReleasedCells,
    SaveSealedGrades,
    SealedChecks,
    StripHiddenTests,
)

# Intake: before nbgrader copies or reads a submission, links, special files, deep/huge/numerous
# entries and unreadable notebooks move to quarantine/<student>/<assignment>/ with a stated reason
# (shown at the top of that student's graded notebook). SafeCellMetadata replaces DeduplicateIds and
# CheckCellMetadata: a copied cell or broken metadata costs that cell, never the class.
c.Autograde.pre_convert_hook = Intake()
c.GenerateFeedback.pre_convert_hook = Intake(step="feedback")
c.Autograde.sanitize_preprocessors = [
    SubmissionNotes,
    ClearOutput,
    SafeCellMetadata,
    OverwriteKernelspec,
    OverwriteReleasedCells,
    StripHiddenTests,
    CopySubmittedFiles,
    SafeCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SealedChecks,
    SaveSealedGrades,
    AssignLatePenalties,
    SafeCellMetadata,
]
# c.SealedChecks.accuracy_full_at = 0.48   # CIFAR-10 validation accuracy for full points
# c.SealedChecks.accuracy_zero_at = 0.35   # ... and for none (linear in between)
# Sandboxed execution: SandboxedExecute runs the notebook's kernel (kernelspec
# cs231n-sandbox, installed on the fly) inside bubblewrap: a private copy of the submission, no
# course files, no network, an unprivileged uid, limits below. A kernel that dies, hangs or floods
# output gets a stated reason in its cells; the run never aborts. Grading refuses where bubblewrap
# is unavailable, unless CS231N_UNSAFE_NO_SANDBOX=1 or c.SandboxedExecute.allow_unsandboxed = True
# (DANGEROUS, loudly warned on every notebook).
c.Execute.timeout = 60  # seconds per cell; interrupted, then stopped
c.SandboxedExecute.kernel_memory_bytes = 2 * 2**30  # address space of the kernel
c.SandboxedExecute.kernel_cpu_seconds = 1800  # CPU seconds for the whole notebook
c.SandboxedExecute.kernel_wall_seconds = 3600.0  # wall seconds for the whole notebook
c.SandboxedExecute.kernel_max_processes = 64  # processes + threads (bounds a fork storm)
c.SandboxedExecute.max_cell_output_bytes = 2**20  # output kept per cell ...
c.SandboxedExecute.max_notebook_output_bytes = 4 * 2**20  # ... and per notebook

# --- late work -------------------------------------------------------------------------------
# Due date: `nbgrader db assignment add two_layer_net --duedate="2026-11-20 23:59:00 UTC"`.
# Penalty (nbgrader's default: none), applied by AssignLatePenalties during autograde and shown
# by the export and the feedback. Either a late submission scores 0:
# c.LateSubmissionPlugin.penalty_method = "zero"
# or it loses a percentage of its score per started day late:
# c.AssignLatePenalties.plugin_class = "cs231n_grader.course.PercentPerDayPenalty"
# c.PercentPerDayPenalty.percent_per_day = 10.0

# --- logging: only what an instructor must act on ---------------------------------------------
# nbgrader 0.9's gradebook code trips SQLAlchemy 2's autoflush warnings on every new submission
# (harmless: the objects are added right after); keep them out of the log.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=r"Object of type <Submitted", module="nbgrader")

# --- feedback and export ---------------------------------------------------------------
# generate_feedback: hidden-test code/values never shown, tracebacks trimmed to the student's own
# frames, a per-part summary table (checked, points, diagnosis) at the top.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from cs231n_grader.feedback import FeedbackSummary, HideHiddenTests, TrimTracebacks  # noqa: E402

c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTests,
    TrimTracebacks,
    FeedbackSummary,
    CSSHTMLHeaderPreprocessor,
]
# ... rendered by nbgrader's feedback template with pending manual grades shown as pending, not 0
# (cs231n_grader/templates/cs231n_feedback; formgrader keeps its own template)
c.GenerateFeedback.exporter_class = "cs231n_grader.feedback.FeedbackExporter"
c.FeedbackExporter.template_name = "cs231n_feedback"
# export: one column per part (`nbgrader export` uses it; --exporter overrides it)
c.ExportApp.plugin_class = "cs231n_grader.exporter.PartsExporter"
# zip_collect: LMS archives named two_layer_net--<student_id>--<YYYYmmddTHHMMSSZ>.zip (UTC) holding
# two_layer_net.ipynb and best_net.npz (docs/INSTRUCTORS.md; change the pattern to your LMS's
# names). The name is defined once, in cs231n_utils.handin (students' hand-in tool writes it).
from cs231n_utils.handin import ZIP_NAME_REGEXP  # noqa: E402

c.FileNameCollectorPlugin.named_regexp = ZIP_NAME_REGEXP
# ... and warn about archives of students who are not on the roster
c.ZipCollectApp.collector_plugin = "cs231n_grader.course.RosterCollector"
c.FileNameCollectorPlugin.valid_ext = [".ipynb", ".npz"]

# --- rendering student work: formgrader and feedback -------------------------------------
# Both render notebooks with nbconvert's HTMLExporter, configured here. Everything a submission
# wrote (markdown, raw cells, attachments, outputs, metadata) renders inert: sanitised by an
# allow-list (cs231n_grader.safehtml), no script or widget output ever runs. MathJax is inlined
# from a packaged copy (cs231n_grader.mathjax): LaTeX renders offline, and feedback files work
# from disk with a CSP that allows no network at all.
import os  # noqa: E402

import nbgrader  # noqa: E402

from cs231n_grader import mathjax, safehtml  # noqa: E402
from cs231n_grader.formatting import format_score  # noqa: E402

c.HTMLExporter.preprocessors = [safehtml.InertNotebook]
c.HTMLExporter.filters = {
    **safehtml.FILTERS,
    "local_mathjax": mathjax.LocalMathJax,
    "score": format_score,
}
c.HTMLExporter.sanitize_html = True
# nbgrader's formgrade/feedback templates, then the kit's
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(
        os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"
    ),
    str(mathjax.TEMPLATES),
]
