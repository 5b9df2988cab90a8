"""Dashboards declared in YAML: widget data (Chart.js v4 shapes), self-contained HTML pages, one asset each."""
