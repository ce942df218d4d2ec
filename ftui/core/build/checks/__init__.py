"""Pre-flight checks on a dataset: format errors, quality, token lengths, duplicates, leakage, cost.

Everything here is found before training, where it is cheap to fix. Each finding names one example
(`file:line` or an id). Errors would break or invalidate training and make `ftui check` exit 1;
warnings are worth reading but do not block.

One module per job: `report` (findings and the report), `examples` (the parts of an example the
checks read), `rules` (structure and quality), `lengths` (token counts), `similarity` (shingles and
LSH), `overlap` (duplicates and leakage), `hosted_estimate` (a hosted job's cost) and `runner`
(all of them in order). The names below are what the rest of ftui uses.
"""

from ftui.core.build.checks.examples import DEFAULT_PATTERN, prompt_text, question_of, template_pattern
from ftui.core.build.checks.hosted_estimate import DEFAULT_CONTEXT_LIMIT, hosted_estimate
from ftui.core.build.checks.overlap import Reference, benchmark_references, references_from_rows
from ftui.core.build.checks.report import ERROR, WARNING, CheckReport, Finding, FindingGroup, group_findings
from ftui.core.build.checks.rules import QualityLimits
from ftui.core.build.checks.runner import check_build, run_checks

__all__ = [
    "DEFAULT_CONTEXT_LIMIT",
    "DEFAULT_PATTERN",
    "ERROR",
    "WARNING",
    "CheckReport",
    "Finding",
    "FindingGroup",
    "QualityLimits",
    "Reference",
    "benchmark_references",
    "check_build",
    "group_findings",
    "hosted_estimate",
    "prompt_text",
    "question_of",
    "references_from_rows",
    "run_checks",
    "template_pattern",
]
