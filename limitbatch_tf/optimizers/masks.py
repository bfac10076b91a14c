"""Which variables skip weight decay and which skip layer-wise adaptation.

MLPerf ResNet-50 practice (docs/references.md, R4): biases and
BatchNorm gamma/beta - the variables of rank <= 1 - are excluded from both
the L2 weight decay and the trust ratio. On top of that rank rule, explicit
regular expressions (``re.search`` on the variable path, e.g.
``"sequential/dense_1/kernel"``) exclude more variables from each.

Masks are resolved once, in ``build()``, into per-index Python booleans:
inside ``update_step`` the distributed TF variable has no ``.path``, only its
index (``optimizer._get_variable_index``). A pattern that matches no variable
warns, since it is nearly always a typo.
"""
import re
import warnings

RANK_RULE = "rank<=1"
KINDS = ("weight_decay", "adaptation")


def variable_path(variable):
    """The Keras path of a variable (``layer/kernel``), else its TF name."""
    path = getattr(variable, "path", None)
    return path if path else variable.name


def validate_patterns(name, patterns):
    """Returns ``patterns`` as a list of compiled-checked strings.

    Raises:
        ValueError: if ``patterns`` is not None / a list of strings, or a
            pattern is not a valid regular expression.
    """
    if patterns is None:
        return []
    if isinstance(patterns, str):
        raise ValueError(
            f"`{name}` must be a list of regular expressions, not a string; "
            f"received {patterns!r} (wrap it in a list)")
    patterns = list(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(
                f"`{name}` must hold strings; received {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(
                f"`{name}` holds an invalid regular expression {pattern!r}: "
                f"{err}") from None
    return patterns


class ExclusionMasks:
    """Per-variable exclusion decisions for weight decay and adaptation.

    Args:
        variables: the optimizer's trainable variables, in build order.
        exclude_vectors: bool; exclude variables of rank <= 1 from every
            kind in ``kinds``.
        patterns: dict ``kind -> list of regex``; a variable whose path a
            pattern ``re.search``-matches is excluded from that kind.
        kinds: the kinds this optimizer has (e.g. only ``("weight_decay",)``
            for an optimizer without adaptation).
        owner: name used in warnings. Defaults to "optimizer".
    """

    def __init__(self, variables, *, exclude_vectors, patterns, kinds,
                 owner="optimizer"):
        self.paths = [variable_path(v) for v in variables]
        self.shapes = [tuple(v.shape) for v in variables]
        # reasons[kind][i]: None when included, else the rule that excluded it.
        self.reasons = {kind: [None] * len(self.paths) for kind in kinds}
        for kind in kinds:
            kind_patterns = patterns.get(kind, [])
            hits = {pattern: 0 for pattern in kind_patterns}
            for i, (path, shape) in enumerate(zip(self.paths, self.shapes)):
                if exclude_vectors and len(shape) <= 1:
                    self.reasons[kind][i] = RANK_RULE
                for pattern in kind_patterns:
                    if re.search(pattern, path):
                        hits[pattern] += 1
                        if self.reasons[kind][i] is None:
                            self.reasons[kind][i] = pattern
            for pattern, count in hits.items():
                if count == 0:
                    warnings.warn(
                        f"{owner}: exclude_from_{kind} pattern {pattern!r} "
                        f"matches no variable (paths look like "
                        f"{self.paths[:2]!r})", stacklevel=3)

    def included(self, kind):
        """List of bools per variable index: True where ``kind`` applies."""
        return [reason is None for reason in self.reasons[kind]]

    def report(self):
        """One dict per variable: path, shape and each kind's exclusion rule.

        ``excluded_from_<kind>`` is None when the variable gets it, else the
        rule (``"rank<=1"`` or the first matching regex) that excluded it.
        """
        rows = []
        for i, (path, shape) in enumerate(zip(self.paths, self.shapes)):
            row = {"path": path, "shape": shape}
            for kind, reasons in self.reasons.items():
                row[f"excluded_from_{kind}"] = reasons[i]
            rows.append(row)
        return rows


def format_report(rows):
    """Renders ``ExclusionMasks.report()`` rows as an aligned text table."""
    if not rows:
        return "(no variables)"
    keys = [k for k in rows[0] if k.startswith("excluded_from_")]
    header = ["path", "shape"] + [k[len("excluded_from_"):] for k in keys]
    table = [header] + [
        [row["path"], str(row["shape"])]
        + ["yes" if row[k] is None else f"no ({row[k]})" for k in keys]
        for row in rows
    ]
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
        for line in table)
