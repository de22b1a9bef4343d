"""The reports page (static assets, no build step): team figures and their chart, the sales funnel, staffing, and
saved reports (build, run, page, export, save, share). Served at /reports for supervisors, campaign managers and admins; everything on
it comes from the reports API with the viewer's token."""

from pathlib import Path

STATIC = Path(__file__).with_name("static")
