"""Layer 1-3 metric stages of the analysis (DESIGN section 4). Each module states its formulas once, in its
docstrings; ``traceanalyzer.analysis.STAGES`` composes the stages and ``docs/metrics.md`` collects the
definitions."""
