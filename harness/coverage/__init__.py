"""Line coverage of the modules folder's Lua files, on every target (`run --coverage`).

One job per file: lua/ the Prosody module that counts lines (and the script that loads it
first); recorder.py gathers the counts from the targets; executable.py tells which lines
are executable (from luac's listing); model.py keeps counts per target and version;
summary.py works out the figures and the lines only some targets ran; terminal.py,
html.py and cobertura.py are the reports; report.py writes them.
"""

from harness.coverage.recorder import CoverageRecorder
from harness.coverage.report import DEFAULT_DIRECTORY, Ran, report_run, write_reports

__all__ = ["DEFAULT_DIRECTORY", "CoverageRecorder", "Ran", "report_run", "write_reports"]
