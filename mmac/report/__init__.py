"""Report of a cross-validation: Table 1, p-values, slice shares, phantom scores and figures (matplotlib)."""
from mmac.report.report import make_report, markdown_table
from mmac.report.tables import (
                                check_results,
                                format_table1,
                                patient_table,
                                phantom_truth,
                                pvalues,
                                read_results,
                                slice_share_table,
                                table1,
)

__all__ = ["make_report", "markdown_table", "check_results", "format_table1", "patient_table", "phantom_truth",
           "pvalues", "read_results", "slice_share_table", "table1"]
